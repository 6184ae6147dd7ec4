"""Show-and-Tell trainer end to end on a tiny shapes set: train, crash, resume, model dir,
evaluation; the recipes and the settings checks."""

import json
import os

import h5py
import keras
import numpy as np
import pytest

from tfcaption.hparams import apply_overrides, check_hparams, load_hparams
from tfcaption.models.load_captioner import load_captioner
from tfcaption.models.show_tell import show_tell_training
from tfcaption.models.show_tell.show_tell_captioner import ShowTellCaptioner
from tfcaption.models.show_tell.show_tell_settings import SETTINGS, validate
from tfcaption.train import train
from tfcaption.training.caption_lm_trainer import CaptionLmTrainer
from tfcaption.training.training_vocabulary import training_vocabulary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HPARAMS = os.path.join(ROOT, "hparams")
CLIP_SHAPES = os.path.join(ROOT, "pretrained_models", "clip_shapes")


def _hparams(shapes_dir, epochs=3):
    return apply_overrides(load_hparams(os.path.join(HPARAMS, "show_tell_shapes.json")), [
        f"data.dir={shapes_dir}", "model.embedding_dim=16", "model.hidden_dim=16",
        "model.dense_dim=8", "model.max_length=10", f"train.epochs={epochs}",
        "train.batch_size=16", "train.jit_compile=false", "train.verbose=0",
        "train.sample_every=0", "train.early_stopping_patience=5",
        f'model.image_encoder={{"type": "clip", "path": "{CLIP_SHAPES}"}}'])


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.iterations = int(self.model.optimizer.iterations)
            raise RuntimeError("simulated crash after the first epoch")


class _Resumed(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_train_begin(self, logs=None):
        self.iterations = int(self.model.optimizer.iterations)

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.fixture(scope="module")
def trained(shapes_dir, tmp_path_factory):
    """One tiny run, crashed after its first epoch and resumed."""
    workdir = str(tmp_path_factory.mktemp("show_tell") / "run")
    hparams = _hparams(shapes_dir)
    crash = _Crash()
    with pytest.raises(RuntimeError, match="simulated crash"):
        show_tell_training.run(json.loads(json.dumps(hparams)), workdir,
                               extra_callbacks=[crash])
    resumed = _Resumed()
    metrics = show_tell_training.run(json.loads(json.dumps(hparams)), workdir,
                                     extra_callbacks=[resumed])
    return workdir, metrics, crash, resumed


def test_resumes_after_a_crash(trained):
    workdir, metrics, crash, resumed = trained
    assert resumed.epochs == [1, 2]
    assert resumed.iterations == crash.iterations > 0
    with open(os.path.join(workdir, "epochs.json")) as f:
        logged = json.load(f)
    assert sorted(logged) == ["0", "1", "2"]
    assert all("val_loss" in e and "learning_rate" in e for e in logged.values())
    assert metrics["epochs_trained"] == 3
    assert os.path.isfile(os.path.join(workdir, "checkpoints", "best.weights.h5"))


def _h5_arrays(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                     if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_the_run_ends_with_the_best_weights(trained):
    workdir = trained[0]
    best = _h5_arrays(os.path.join(workdir, "checkpoints", "best.weights.h5"))
    final = _h5_arrays(os.path.join(workdir, "checkpoints", "final.weights.h5"))
    assert best and sorted(best) == sorted(final)
    assert all(np.array_equal(best[k], final[k]) for k in best)


def _run_parts(shapes_dir, workdir):
    """The trained run's hparams, vocabulary and a fresh model with its trainer."""
    hparams = check_hparams(_hparams(shapes_dir), SETTINGS)
    vocabulary = training_vocabulary(hparams["data"], workdir, None)  # read back
    model = show_tell_training.build_model(hparams, vocabulary, 64)  # shapes CLIP: 64-d
    trainer = show_tell_training.compile_model(model, hparams["train"],
                                               hparams["model"]["max_length"])
    return hparams, vocabulary, model, trainer


def test_trainer_loss_is_the_token_mean_of_the_next_words(trained, shapes_dir):
    workdir = trained[0]
    hparams, vocabulary, model, trainer = _run_parts(shapes_dir, workdir)
    assert isinstance(trainer, CaptionLmTrainer) and trainer.captioner is model
    assert trainer.optimizer.built and trainer.built
    batch = next(iter(show_tell_training.teacher_forcing_dataset(
        hparams, vocabulary, os.path.join(workdir, "features"), "train", train=False)))
    ids, targets, mask = (batch[k].numpy() for k in ("token_ids", "target_ids",
                                                     "padding_mask"))
    assert ids.shape == targets.shape == mask.shape == (16, 10)
    assert (ids[:, 0] == vocabulary.start_id).all()
    np.testing.assert_array_equal(ids[:, 1:], targets[:, :-1])
    assert (targets[mask] != vocabulary.pad_id).all()
    assert (targets[~mask] == vocabulary.pad_id).all()
    lengths = mask.sum(axis=1)
    assert (targets[np.arange(len(targets)), lengths - 1] == vocabulary.end_id).all()
    logits = model(batch, training=False)
    expected = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight")(
            targets, logits, sample_weight=mask.astype("float32"))
    logs = trainer.test_on_batch(batch, return_dict=True)
    assert logs["loss"] == pytest.approx(float(expected), rel=1e-5)
    hits = (np.argmax(logits, -1) == targets) & mask
    assert logs["token_accuracy"] == pytest.approx(hits.sum() / mask.sum(), rel=1e-5)


def test_reduce_lr_sets_the_trainer_learning_rate(trained, shapes_dir, tmp_path):
    hparams, _, _, trainer = _run_parts(shapes_dir, trained[0])
    train_settings = dict(hparams["train"], reduce_lr_patience=1, verbose=0)
    reduce_lr, _ = show_tell_training.plateau_callbacks(train_settings, str(tmp_path))
    reduce_lr.set_model(trainer)
    reduce_lr.on_train_begin()
    reduce_lr.on_epoch_begin(0)
    rate = train_settings["learning_rate"]
    assert float(trainer.optimizer.learning_rate) == pytest.approx(rate)
    reduce_lr.on_epoch_end(0, {"val_loss": 1.0})
    reduce_lr.on_epoch_end(1, {"val_loss": 2.0})
    assert float(trainer.optimizer.learning_rate) == pytest.approx(
        rate * train_settings["reduce_lr_factor"])


def test_model_dir_captions_as_the_evaluation_did(trained, shapes_dir):
    workdir, metrics, _, _ = trained
    with open(os.path.join(workdir, "metrics.json")) as f:
        assert json.load(f)["num_images"] == metrics["num_images"] == 8
    captioner = load_captioner(os.path.join(workdir, "model"), jit_compile=False)
    assert isinstance(captioner, ShowTellCaptioner)
    assert captioner.max_length == 10 and captioner.model.embedding_dim == 16
    with open(os.path.join(workdir, "predictions.jsonl")) as f:
        predictions = [json.loads(line) for line in f]
    first = predictions[0]
    records = [json.loads(line) for line in open(os.path.join(shapes_dir, "captions.jsonl"))]
    image, = [r["image"] for r in records if r["image_id"] == first["image_id"]]
    assert captioner.generate([os.path.join(shapes_dir, image)]) == [first["caption"]]


def test_a_finished_run_is_not_trained_again(trained, shapes_dir):
    workdir = trained[0]
    resumed = _Resumed()
    metrics = show_tell_training.run(_hparams(shapes_dir), workdir, extra_callbacks=[resumed])
    assert resumed.epochs == []
    assert metrics["num_images"] == 8


@pytest.mark.parametrize("name", ["show_tell_shapes", "show_tell_flickr8k"])
def test_recipes_are_complete(name):
    hparams = load_hparams(os.path.join(HPARAMS, f"{name}.json"))
    checked = check_hparams(hparams, SETTINGS)
    validate(checked)
    assert checked == {k: hparams[k] for k in checked}  # every setting written out
    assert "python -m tfcaption.train" in hparams["description"]


def test_flickr8k_recipe_follows_the_reference():
    hparams = load_hparams(os.path.join(HPARAMS, "show_tell_flickr8k.json"))
    model, train_settings = hparams["model"], hparams["train"]
    assert model["image_encoder"]["name"] == "densenet201_pooled"
    assert model["image_encoder"]["preprocessing"] == "unit"
    assert (model["embedding_dim"], model["hidden_dim"], model["dense_dim"],
            model["dropout"], model["merge"]) == (256, 256, 128, 0.5, "add")
    assert (train_settings["batch_size"], train_settings["epochs"],
            train_settings["early_stopping_patience"], train_settings["reduce_lr_factor"],
            train_settings["reduce_lr_patience"]) == (64, 50, 5, 0.2, 3)


@pytest.mark.parametrize("override, message", [
    ("model.merge=concat", "model.merge 'concat'"),
    ("model.hidden_dim=32", "model.embedding_dim .16. == model.hidden_dim .32."),
    ("train.reduce_lr_factor=1.5", "train.reduce_lr_factor must be in"),
    ("train.early_stopping_patience=0", "train.early_stopping_patience must be a positive"),
    ("model.vocabulary_size=3", "model.vocabulary_size must be >= 5"),
])
def test_bad_values_are_named(shapes_dir, tmp_path, override, message):
    hparams = apply_overrides(_hparams(shapes_dir), [override])
    with pytest.raises(ValueError, match=message):
        train(hparams, str(tmp_path / "run"))
    assert not os.path.exists(tmp_path / "run" / "model")


def test_an_epoch_without_a_step_is_refused(shapes_dir, tmp_path):
    hparams = apply_overrides(_hparams(shapes_dir), ["train.batch_size=100000"])
    with pytest.raises(ValueError, match="train.batch_size=100000 is larger"):
        train(hparams, str(tmp_path / "run"))
