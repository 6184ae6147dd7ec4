import json
import os

import keras
import numpy as np
import pytest

from tfcaption.backbones.clip_loader import load_clip
from tfcaption.hparams import apply_overrides, load_hparams
from tfcaption.train import resolve, train

HPARAMS = os.path.join(os.path.dirname(__file__), "..", "hparams", "clip_shapes.json")


TINY_RESNET = {"type": "clip", "vision_type": "resnet", "image_size": 32,
               "vision_stage_blocks": [1, 1, 1, 1], "vision_width": 8, "vision_heads": 2,
               "text_hidden_dim": 32, "text_num_layers": 1, "text_num_heads": 4,
               "text_intermediate_dim": 64, "projection_dim": 16, "max_sequence_length": 24}
TINY_VIT = {"type": "clip", "image_size": 32, "patch_size": 8, "vision_hidden_dim": 32,
            "vision_num_layers": 1, "vision_num_heads": 4, "vision_intermediate_dim": 64,
            "text_hidden_dim": 32, "text_num_layers": 1, "text_num_heads": 4,
            "text_intermediate_dim": 64, "projection_dim": 16, "max_sequence_length": 24}


def _tiny(data_dir, epochs=2, model=TINY_RESNET):
    hparams = load_hparams(HPARAMS)
    hparams["model"] = dict(model)
    return apply_overrides(hparams, [
        f"data.dir={data_dir}", f"train.epochs={epochs}", "train.batch_size=8",
        "train.warmup_steps=2", "train.learning_rate=0.002", "train.verbose=0",
        "tokenizer.vocab_size=600"])


class _Interrupt(keras.callbacks.Callback):
    loss = None

    def on_epoch_end(self, epoch, logs=None):
        self.loss = float(logs["loss"])
        if epoch == 0:
            raise RuntimeError("simulated crash after the first epoch")


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen, self.losses = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(float(logs["loss"]))


def test_trains_saves_a_loadable_clip_and_resumes(shapes_dir, tmp_path):
    from tfcaption.models.clip import clip_training

    hparams = _tiny(shapes_dir, epochs=3)
    workdir = str(tmp_path / "run")
    interrupt = _Interrupt()
    with pytest.raises(RuntimeError, match="simulated crash"):
        clip_training.run(hparams, workdir, extra_callbacks=[interrupt])
    assert os.listdir(os.path.join(workdir, "backup"))
    epochs = _Epochs()
    metrics = clip_training.run(hparams, workdir, extra_callbacks=[epochs])
    assert epochs.seen == [1, 2]  # resumed after the completed first epoch
    # the towers align: the last epoch's loss is well below the first's
    assert epochs.losses[-1] < 0.9 * interrupt.loss, (interrupt.loss, epochs.losses)

    assert metrics["num_candidates"] == 8 and 0.0 <= metrics["R@1"] <= metrics["R@5"] <= 1.0
    assert json.load(open(os.path.join(workdir, "metrics.json"))) == metrics
    assert os.path.isfile(os.path.join(workdir, "checkpoints", "last.weights.h5"))
    assert not [f for f in os.listdir(os.path.join(workdir, "checkpoints")) if ".tmp" in f]
    assert os.listdir(os.path.join(workdir, "logs"))

    loaded = load_clip(os.path.join(workdir, "model"))
    assert loaded.model_type == "clip"
    assert loaded.preprocessor.get_config()["size"] == 32
    assert loaded.config == clip_training.clip_model_arguments(hparams["model"],
                                                               loaded.tokenizer)
    assert loaded.config["text_max_sequence_length"] == 24
    # the saved weights are the trained ones: retrieval from the reloaded model agrees
    again = clip_training.evaluate_retrieval(loaded.model, loaded.tokenizer,
                                             loaded.preprocessor, shapes_dir, "test", 24)
    assert {k: again[k] for k in ("R@1", "R@5")} == {k: metrics[k] for k in ("R@1", "R@5")}


def test_train_entry_point_writes_resolved_hparams(shapes_dir, tmp_path):
    hparams = _tiny(shapes_dir, epochs=1, model=TINY_VIT)  # the ViT image tower trains too
    workdir = str(tmp_path / "run")
    metrics = train(hparams, workdir)
    resolved = json.load(open(os.path.join(workdir, "hparams.json")))
    assert resolved == resolve(hparams)[1]  # every default written out
    assert resolved["model"]["vision_type"] == "vit" and resolved["model"]["vision_width"] is None
    for section in ("model", "data", "tokenizer", "train"):
        assert {k: resolved[section][k] for k in hparams[section]} == hparams[section]
    stamp = os.path.getmtime(os.path.join(workdir, "model", "model.weights.h5"))
    assert train(hparams, workdir) == metrics  # a finished run is not trained again
    assert os.path.getmtime(os.path.join(workdir, "model", "model.weights.h5")) == stamp
    with pytest.raises(ValueError, match=r"other hparams \(differences: \['train.epochs'\]"):
        train(apply_overrides(hparams, ["train.epochs=2"]), workdir)
    with pytest.raises(ValueError, match="unknown model.type 'nope'"):
        train(apply_overrides(hparams, ["model.type=nope"]), str(tmp_path / "other"))


def test_overrides_are_checked():
    hparams = load_hparams(HPARAMS, ["train.epochs=7", "train.learning_rate=1e-3",
                                     "data.dir=elsewhere"])
    assert hparams["train"]["epochs"] == 7 and hparams["train"]["learning_rate"] == 1e-3
    assert hparams["data"]["dir"] == "elsewhere"
    with pytest.raises(ValueError, match="'nowhere' is not a key"):
        load_hparams(HPARAMS, ["nowhere.epochs=3"])
    # a new last key may set what the file leaves at its default; a misspelt one is named
    # by the settings check, before any work
    typo = load_hparams(HPARAMS, ["train.epoch=3"])
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['train.epoch'\]"):
        resolve(typo, HPARAMS)
    with pytest.raises(ValueError, match="not of the form key=value"):
        load_hparams(HPARAMS, ["train.epochs"])


def test_atomic_checkpoint_replaces_the_file_whole(tmp_path):
    from tfcaption.training.atomic_checkpoint import AtomicCheckpoint

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "ckpt" / "last.weights.h5"
    callback = AtomicCheckpoint(str(path))
    callback.set_model(model)
    callback.on_epoch_end(0)
    before = [w.copy() for w in model.get_weights()]
    model.layers[0].kernel.assign(np.ones((3, 2)))
    callback.on_epoch_end(1)
    assert os.listdir(path.parent) == ["last.weights.h5"]
    restored = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    restored.load_weights(str(path))
    np.testing.assert_array_equal(restored.layers[0].kernel.numpy(), np.ones((3, 2)))
    assert not np.array_equal(before[0], np.ones((3, 2)))
    with pytest.raises(ValueError, match="must end with .weights.h5"):
        AtomicCheckpoint(str(tmp_path / "x.h5"))


def test_model_settings_are_checked_per_image_tower():
    from tfcaption.models.clip.clip_training import clip_model_arguments

    class _Tok:
        end_token_id = 9

        def vocabulary_size(self):
            return 10

    resnet = clip_model_arguments(TINY_RESNET, _Tok())
    assert resnet["vision_type"] == "resnet" and resnet["vision_stage_blocks"] == [1, 1, 1, 1]
    assert resnet["vision_heads"] == 2 and "vision_patch_size" not in resnet
    vit = clip_model_arguments(TINY_VIT, _Tok())
    assert vit["vision_patch_size"] == 8 and "vision_type" not in vit
    with pytest.raises(ValueError, match=r"unknown \['patch_size'\], missing \[\]; a resnet"):
        clip_model_arguments(dict(TINY_RESNET, patch_size=8), _Tok())
    with pytest.raises(ValueError, match=r"missing \['vision_width'\]"):
        clip_model_arguments({k: v for k, v in TINY_RESNET.items() if k != "vision_width"},
                             _Tok())
    with pytest.raises(ValueError, match="model.vision_type 'cnn'"):
        clip_model_arguments(dict(TINY_RESNET, vision_type="cnn"), _Tok())


def test_model_settings_are_checked_per_image_tower_after_defaults(tmp_path):
    """Resolved hparams hold every tower's keys (null when not given): the check of the
    tower's keys runs before any work, naming the file."""
    from tfcaption.models.clip import clip_training

    hparams = load_hparams(HPARAMS)
    trainer, filled = resolve(hparams, HPARAMS)
    assert trainer is clip_training
    assert filled["model"]["patch_size"] is None
    trainer.validate(filled, HPARAMS)
    bad = apply_overrides(hparams, ["model.vision_width=null"])
    with pytest.raises(ValueError, match=r"missing \['vision_width'\]; a resnet CLIP takes"):
        train(bad, str(tmp_path / "run"))
    bad["model"]["vision_width"] = 16
    bad["model"]["patch_size"] = 8
    with pytest.raises(ValueError, match=r"unknown \['patch_size'\], missing \[\]; a resnet"):
        trainer.validate(resolve(bad, HPARAMS)[1], HPARAMS)
    with pytest.raises(ValueError, match=r"clip_shapes.json: model.vision_type 'cnn'"):
        trainer.validate(resolve(apply_overrides(hparams, ["model.vision_type=cnn"]),
                                 HPARAMS)[1], HPARAMS)
