import json
import os

import keras
import numpy as np
import pytest

from tfcaption.backbones.clip_loader import load_clip
from tfcaption.hparams import apply_overrides, load_hparams
from tfcaption.train import train

HPARAMS = os.path.join(os.path.dirname(__file__), "..", "hparams", "clip_shapes.json")


def _tiny(data_dir, epochs=2):
    hparams = load_hparams(HPARAMS)
    return apply_overrides(hparams, [
        f"data.dir={data_dir}", f"train.epochs={epochs}", "train.batch_size=8",
        "train.warmup_steps=2", "train.learning_rate=0.002", "train.verbose=0",
        "model.image_size=32", "model.vision_hidden_dim=32", "model.vision_num_layers=1",
        "model.vision_intermediate_dim=64", "model.text_hidden_dim=32",
        "model.text_num_layers=1", "model.text_intermediate_dim=64", "model.projection_dim=16",
        "model.max_sequence_length=24", "tokenizer.vocab_size=600"])


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise RuntimeError("simulated crash after the first epoch")


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def test_trains_saves_a_loadable_clip_and_resumes(shapes_dir, tmp_path):
    from tfcaption.models.clip import clip_training

    hparams = _tiny(shapes_dir, epochs=3)
    workdir = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated crash"):
        clip_training.run(hparams, workdir, extra_callbacks=[_Interrupt()])
    assert os.listdir(os.path.join(workdir, "backup"))
    epochs = _Epochs()
    metrics = clip_training.run(hparams, workdir, extra_callbacks=[epochs])
    assert epochs.seen == [1, 2]  # resumed after the completed first epoch

    assert metrics["num_candidates"] == 8 and 0.0 <= metrics["R@1"] <= metrics["R@5"] <= 1.0
    assert json.load(open(os.path.join(workdir, "metrics.json"))) == metrics
    assert os.path.isfile(os.path.join(workdir, "checkpoints", "last.weights.h5"))
    assert os.listdir(os.path.join(workdir, "logs"))

    loaded = load_clip(os.path.join(workdir, "model"))
    assert loaded.model_type == "clip"
    assert loaded.preprocessor.get_config()["size"] == 32
    ids = loaded.tokenizer.pack(np.array(["a small red circle"]), 24)
    assert ids.shape == (1, 24)
    text = loaded.model.encode_text(ids).numpy()
    image = loaded.model.encode_image(np.zeros((1, 32, 32, 3), np.float32)).numpy()
    assert text.shape == image.shape == (1, 16)


def test_train_entry_point_writes_resolved_hparams(shapes_dir, tmp_path):
    hparams = _tiny(shapes_dir, epochs=1)
    workdir = str(tmp_path / "run")
    train(hparams, workdir)
    assert json.load(open(os.path.join(workdir, "hparams.json"))) == hparams
    with pytest.raises(ValueError, match="unknown model.type 'nope'"):
        train(apply_overrides(hparams, ["model.type=nope"]), workdir)


def test_overrides_are_checked():
    hparams = load_hparams(HPARAMS, ["train.epochs=7", "train.learning_rate=1e-3",
                                     "data.dir=elsewhere"])
    assert hparams["train"]["epochs"] == 7 and hparams["train"]["learning_rate"] == 1e-3
    assert hparams["data"]["dir"] == "elsewhere"
    with pytest.raises(KeyError, match="'train.epoch' is not a key"):
        load_hparams(HPARAMS, ["train.epoch=3"])
    with pytest.raises(ValueError, match="not of the form key=value"):
        load_hparams(HPARAMS, ["train.epochs"])
