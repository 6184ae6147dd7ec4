"""WGAN-GP captioner end to end on a tiny shapes set: vocabulary, GloVe, pre-training, GAN,
resume, model dir, evaluation; and the hparams checks."""

import json
import os
import re

import keras
import numpy as np
import pytest

from tfcaption.hparams import apply_overrides, check_hparams, load_hparams
from tfcaption.models.load_captioner import load_captioner
from tfcaption.models.wgan import wgan_training
from tfcaption.models.wgan.gru_captioner import GruCaptioner
from tfcaption.models.wgan.wgan_settings import SETTINGS, validate
from tfcaption.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HPARAMS = os.path.join(ROOT, "hparams")
CLIP_SHAPES = os.path.join(ROOT, "pretrained_models", "clip_shapes")


def _glove(path, words, dim):
    rng = np.random.default_rng(0)
    vectors = {w: rng.normal(size=dim) for w in words}
    with open(path, "w", encoding="utf-8") as f:
        for word, vector in vectors.items():
            f.write(word + " " + " ".join(f"{x:.5f}" for x in vector) + "\n")
    return vectors


def _hparams(shapes_dir, glove, epochs=2):
    return apply_overrides(load_hparams(os.path.join(HPARAMS, "wgan_shapes.json")), [
        f"data.dir={shapes_dir}", f"model.glove={glove}", "model.embedding_dim=6",
        "model.hidden_dim=8", "model.max_length=8", f"train.epochs={epochs}",
        "train.pretrain_epochs=1", "train.batch_size=16", "train.n_critic=2",
        "train.jit_compile=false", "train.verbose=0", "train.sample_every=0",
        f'model.image_encoder={{"type": "clip", "path": "{CLIP_SHAPES}"}}'])


class _Interrupt(keras.callbacks.Callback):
    iterations = None

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.iterations = (int(self.model.g_optimizer.iterations),
                               int(self.model.d_optimizer.iterations))
            raise RuntimeError("simulated crash after the first epoch")


class _Resumed(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.iterations = [], None

    def on_train_begin(self, logs=None):
        self.iterations = (int(self.model.g_optimizer.iterations),
                           int(self.model.d_optimizer.iterations))

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_trains_resumes_saves_and_evaluates(shapes_dir, tmp_path):
    _glove(str(tmp_path / "glove.6d.txt"), ["a", "red", "circle", "zebra"], 6)
    hparams = _hparams(shapes_dir, str(tmp_path / "glove.6d.txt"))
    workdir = str(tmp_path / "run")
    interrupt = _Interrupt()
    with pytest.raises(RuntimeError, match="simulated crash"):
        wgan_training.run(json.loads(json.dumps(hparams)), workdir,
                          extra_callbacks=[interrupt])
    assert os.path.isfile(os.path.join(workdir, "pretrain", "generator.weights.h5"))
    resumed = _Resumed()
    metrics = wgan_training.run(json.loads(json.dumps(hparams)), workdir,
                                extra_callbacks=[resumed])
    assert resumed.epochs == [1]
    steps, critic_steps = resumed.iterations  # restored with the weights
    assert resumed.iterations == interrupt.iterations and steps >= 10
    assert critic_steps == 2 * steps  # n_critic 2

    history = metrics["history"]
    assert len(history["d_loss"]) == 2  # every epoch, the one before the crash too
    for key in ("g_loss", "gp", "wasserstein", "mle_loss", "val_most_common_fraction",
                "val_distinct_2", "val_bleu_4"):
        assert np.all(np.isfinite(history[key])), key
    assert metrics["num_images"] == 8
    assert {"Bleu_4", "CIDEr"} <= set(metrics["coco"])
    assert {"most_common_fraction", "reference_distinct_2"} <= set(metrics["diversity"])
    assert "shapes" in metrics
    assert json.load(open(os.path.join(workdir, "metrics.json"))) == metrics

    captioner = load_captioner(os.path.join(workdir, "model"))
    assert isinstance(captioner, GruCaptioner)
    vocabulary = captioner.vocabulary
    assert vocabulary.tokens[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert "circle" in vocabulary.tokens and "zebra" not in vocabulary.tokens
    record = json.loads(open(os.path.join(shapes_dir, "captions.jsonl")).readline())
    image = os.path.join(shapes_dir, record["image"])
    caption = captioner.generate([image])[0]
    assert isinstance(caption, str) and all(w in vocabulary.tokens for w in caption.split())
    predictions = [json.loads(line) for line in open(os.path.join(workdir,
                                                                  "predictions.jsonl"))]
    assert len(predictions) == 8


def test_glove_initialises_both_embeddings(shapes_dir, tmp_path):
    vectors = _glove(str(tmp_path / "g.txt"), ["red", "circle"], 6)
    hparams = check_hparams(_hparams(shapes_dir, str(tmp_path / "g.txt")), SETTINGS)
    vocabulary = wgan_training.build_vocabulary(hparams, str(tmp_path))
    generator, critic = wgan_training.build_networks(hparams, vocabulary, 64)
    for word in ("red", "circle"):
        row = vocabulary.token_to_id(word)
        for network in (generator, critic):
            np.testing.assert_allclose(network.embeddings.numpy()[row], vectors[word],
                                       atol=1e-5)
    assert not np.allclose(generator.embeddings.numpy()[vocabulary.token_to_id("a")], 0.0)


@pytest.mark.parametrize("section,key,known", [("model", "hidden", "hidden_dim"),
                                               ("train", "ncritic", "n_critic"),
                                               ("data", "max_captions", "max_train_captions"),
                                               ("eval", "beam", "decoding")])
def test_unknown_settings_are_named(section, key, known, tmp_path):
    path = os.path.join(HPARAMS, "wgan_shapes.json")
    hparams = load_hparams(path)
    hparams[section][key] = 1
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match=rf"^{re.escape(path)}: unknown setting\(s\) "
                                         rf"\['{section}.{key}'\]; known in {section}: "
                                         rf"\[.*'{known}'.*\]$"):
        train(hparams, str(workdir), source=path)
    assert not workdir.exists()  # reported before any work


def test_bad_values_are_named(tmp_path):
    path = os.path.join(HPARAMS, "wgan_shapes.json")
    hparams = load_hparams(path)
    hparams["train"]["n_critic"] = 0
    with pytest.raises(ValueError, match="train.n_critic must be a positive int, got 0"):
        train(hparams, str(tmp_path / "run"))
    filled = check_hparams(hparams, SETTINGS, path)
    with pytest.raises(ValueError, match=rf"^{re.escape(path)}: train.n_critic must be a "
                                         rf"positive int, got 0$"):
        validate(filled, path)
    good = check_hparams(load_hparams(path), SETTINGS, path)
    validate(good, path)
    for changes, message in (
            ({"model": {"vocabulary_size": 4}}, r"model.vocabulary_size must be >= 5"),
            ({"model": {"max_length": 0}}, r"model.max_length must be a positive int, got 0"),
            ({"train": {"epochs": -1}}, r"train.epochs must be an int >= 0, got -1"),
            ({"train": {"epochs": 0, "pretrain_epochs": 0}},
             "train.epochs and train.pretrain_epochs are both 0: nothing to train"),
            ({"data": {"dir": ""}}, r"data.dir is required")):
        bad = json.loads(json.dumps(good))
        for section, values in changes.items():
            bad[section].update(values)
        with pytest.raises(ValueError, match=rf"^{re.escape(path)}: {message}"):
            validate(bad, path)
    with pytest.raises(ValueError, match=rf"^{re.escape(path)}: train.n_critic must be an "
                                         rf"integer \(default 9\), got 'two'$"):
        check_hparams(apply_overrides(hparams, ["train.n_critic=two"]), SETTINGS, path)
    missing = json.loads(json.dumps(hparams))
    del missing["data"]["dir"]
    with pytest.raises(ValueError, match=rf"^{re.escape(path)}: missing setting 'data.dir'$"):
        train(missing, str(tmp_path / "run"), source=path)


def test_limit_captions_keeps_the_first_captions():
    records = [{"image_id": str(i), "captions": [f"c{i}{k}" for k in range(5)]}
               for i in range(4)]
    kept = wgan_training.limit_captions(records, 12)
    assert [len(r["captions"]) for r in kept] == [5, 5, 2]
    assert kept[2]["captions"] == ["c20", "c21"]


@pytest.mark.parametrize("name", ["wgan_shapes", "wgan_shapes_faithful", "wgan_coco"])
def test_hparams_files_are_complete(name):
    hparams = load_hparams(os.path.join(HPARAMS, f"{name}.json"))
    assert "python -m tfcaption.train" in hparams["description"]
    before = json.loads(json.dumps(hparams))
    path = os.path.join(HPARAMS, f"{name}.json")
    filled = check_hparams(hparams, SETTINGS, path)
    assert filled == before  # every setting written out, none unknown
    validate(filled, path)


def test_coco_recipe_follows_the_reference_settings():
    hparams = load_hparams(os.path.join(HPARAMS, "wgan_coco.json"))
    model, train_settings = hparams["model"], hparams["train"]
    assert model["image_encoder"]["name"] == "resnet50_pooled"
    assert (model["vocabulary_size"], model["max_length"], model["embedding_dim"],
            model["hidden_dim"], model["dropout"]) == (4000, 20, 300, 256, 0.5)
    assert (train_settings["batch_size"], train_settings["n_critic"],
            train_settings["gp_weight"], train_settings["learning_rate"],
            train_settings["beta_1"], train_settings["beta_2"],
            train_settings["clipnorm"]) == (512, 9, 10.0, 1e-3, 0.5, 0.999, 1.0)
    assert train_settings["fake_input"] == "softmax"
    assert train_settings["supervised_weight"] == 0.0 and train_settings["pretrain_epochs"] == 0
    faithful = load_hparams(os.path.join(HPARAMS, "wgan_shapes_faithful.json"))["train"]
    assert (faithful["supervised_weight"], faithful["pretrain_epochs"],
            faithful["fake_input"]) == (0.0, 0, "softmax")
