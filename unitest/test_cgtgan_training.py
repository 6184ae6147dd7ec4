"""CgT-GAN end to end on a tiny shapes set: corpus embeddings, text-only init, GAN, resume."""

import json
import os
import re

import keras
import numpy as np
import pytest

from tfcaption.backbones.clip_loader import load_clip
from tfcaption.data import shapes
from tfcaption.hparams import apply_overrides, load_hparams
from tfcaption.models.clipcap.cgtgan import corpus_embedding as ce
from tfcaption.models.clipcap.clipcap_model_dir import load_clipcap
from tfcaption.training.split_features import cache_split_features, eval_features
from tfcaption.train import resolve, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HPARAMS = os.path.join(ROOT, "hparams")
CLIP_SHAPES = os.path.join(ROOT, "pretrained_models", "clip_shapes")


@pytest.fixture(scope="module")
def corpus_dir(shapes_dir, tmp_path_factory):
    """Captions of 30 other shapes images, embedded and aggregated for the train images."""
    out = str(tmp_path_factory.mktemp("corpus"))
    texts = [c for r in shapes.generate(30, 0, 0, image_size=48, seed=9) for c in r.captions]
    clip = load_clip(CLIP_SHAPES)
    embeddings = ce.embed_texts(clip, texts, verbose=0)
    ce.write_corpus(out, texts, embeddings)
    data = {"dir": shapes_dir, "train_split": "train", "val_split": "val", "test_split": "test"}
    cache_split_features(clip, data, os.path.join(out, ce.FEATURES_DIR), verbose=0)
    features, ids, _ = eval_features(data, "train", os.path.join(out, ce.FEATURES_DIR))
    ce.write_targets(out, "train", ids, ce.aggregate_embeddings(features, embeddings, 100.0))
    return out


def _init_hparams(shapes_dir, corpus_dir):
    return apply_overrides(load_hparams(os.path.join(HPARAMS, "cgtgan_init_shapes.json")), [
        f"data.dir={shapes_dir}", f"data.corpus_embeddings={corpus_dir}", "train.epochs=1",
        "train.batch_size=16", "train.warmup_steps=2", "train.verbose=0",
        f"model.clip={CLIP_SHAPES}", f"eval.clip={CLIP_SHAPES}", "model.prefix_length=3",
        "model.gpt2.num_layers=1", "model.gpt2.hidden_dim=32", "model.gpt2.intermediate_dim=64",
        "tokenizer.vocab_size=300", "data.max_length=24"])


def _gan_hparams(shapes_dir, corpus_dir, generator, epochs):
    return apply_overrides(load_hparams(os.path.join(HPARAMS, "cgtgan_shapes.json")), [
        f"data.dir={shapes_dir}", f"data.corpus_embeddings={corpus_dir}",
        f"model.generator={generator}", f"model.clip={CLIP_SHAPES}", f"eval.clip={CLIP_SHAPES}",
        f"train.epochs={epochs}", "train.batch_size=8", "train.verbose=0",
        "train.gan_training_steps=2", "train.gan_warm_steps=4", "model.num_samples=2",
        "model.max_gen_length=8", "model.discriminator.num_layers=1",
        "model.discriminator.hidden_dim=32", "model.discriminator.intermediate_dim=64",
        'eval.decoding={"method": "greedy", "max_length": 8}'])


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
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


@pytest.fixture(scope="module")
def init_run(shapes_dir, corpus_dir, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("init"))
    return workdir, train(_init_hparams(shapes_dir, corpus_dir), workdir)


def test_text_only_init_trains_on_the_corpus_and_captions_images(init_run, shapes_dir):
    workdir, metrics = init_run
    assert metrics["num_images"] == 8 and metrics["final_loss"] > 0
    assert set(metrics["shapes"]) >= {"all_correct", "object_recall"}
    captioner = load_clipcap(os.path.join(workdir, "model"))
    assert captioner.image_encoder is not None and captioner.model.prefix_dim == 64
    vocab = json.load(open(os.path.join(workdir, "tokenizer", "vocab.json")))
    assert "Ġcircle" in vocab  # the BPE was trained on the corpus


def test_gan_trains_resumes_keeps_the_best_generator_and_evaluates(init_run, shapes_dir,
                                                                   corpus_dir, tmp_path):
    from tfcaption.models.clipcap.cgtgan import cgtgan_training

    hparams = _gan_hparams(shapes_dir, corpus_dir, os.path.join(init_run[0], "model"), 3)
    workdir = str(tmp_path / "gan")
    with pytest.raises(RuntimeError, match="simulated crash"):
        cgtgan_training.run(hparams, workdir, extra_callbacks=[_Interrupt()])
    resumed = _Resumed()
    metrics = cgtgan_training.run(hparams, workdir, extra_callbacks=[resumed])
    assert resumed.epochs == [1, 2]
    assert resumed.iterations == (5, 5)  # 40 images / batch 8, restored with the weights

    history = metrics["val_history"]
    assert [h["epoch"] for h in history] == [0, 1, 2, 3]
    assert all({"CIDEr", "all_correct", "sample"} <= set(h) for h in history)
    assert all({"d_loss", "g_loss", "reward", "rw"} <= set(h) for h in history[1:])
    assert history[0]["best"]
    best = max(history, key=lambda h: h["CIDEr"])
    assert best["best"]
    assert json.load(open(os.path.join(workdir, "val_history.json"))) == history
    assert json.load(open(os.path.join(workdir, "metrics.json"))) == metrics
    assert metrics["num_images"] == 8 and metrics["coco"]["CIDEr"] >= 0

    captioner = load_clipcap(os.path.join(workdir, "model"))
    reference = load_clipcap(os.path.join(workdir, "model"))
    reference.model.load_weights(os.path.join(workdir, "checkpoints", "best.weights.h5"))
    for a, b in zip(captioner.model.weights, reference.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_gan_hparams_errors_through_the_entry_point(init_run, shapes_dir, corpus_dir,
                                                    tmp_path):
    hparams = _gan_hparams(shapes_dir, corpus_dir, os.path.join(init_run[0], "model"), 1)
    bad = json.loads(json.dumps(hparams))
    del bad["model"]["discriminator"]["num_heads"]
    with pytest.raises(ValueError, match=r"needs a RoBERTa config; missing \['num_heads'\]"):
        train(bad, str(tmp_path / "bad"))
    bad = json.loads(json.dumps(hparams))
    bad["data"]["corpus_embeddings"] = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="embed_corpus"):
        train(bad, str(tmp_path / "bad2"))


@pytest.mark.parametrize("name,section,key,known", [
    ("cgtgan_shapes", "model", "num_sample", "num_samples"),
    ("cgtgan_shapes", "train", "g_lr", "g_learning_rate"),
    ("cgtgan_shapes", "model.discriminator", "layers", "num_layers"),
    ("cgtgan_init_shapes", "model.gpt2", "layers", "num_layers"),
    ("cgtgan_init_shapes", "train", "g_learning_rate", "learning_rate")])
def test_unknown_gan_settings_are_named(name, section, key, known, tmp_path):
    path = os.path.join(HPARAMS, f"{name}.json")
    hparams = load_hparams(path)
    node = hparams
    for part in section.split("."):
        node = node[part]
    node[key] = 1
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match=rf"^{re.escape(path)}: unknown setting\(s\) "
                                         rf"\['{section}.{key}'\]; known in {section}: "
                                         rf"\[.*'{known}'.*\]$"):
        train(hparams, str(workdir), source=path)
    assert not workdir.exists()  # reported before any work


def test_gan_optimizer_settings_fall_back_to_the_shared_ones():
    from tfcaption.models.clipcap.cgtgan import cgtgan_training

    path = os.path.join(HPARAMS, "cgtgan_shapes.json")
    trainer, filled = resolve(load_hparams(path), path)
    assert trainer is cgtgan_training
    train_settings = filled["train"]
    assert train_settings["g_clipnorm"] is None and train_settings["clipnorm"] == 1.0
    optimizers = cgtgan_training.optimizer_settings(train_settings)
    assert "g_clipnorm" not in optimizers and optimizers["clipnorm"] == 1.0
    assert (optimizers["g_learning_rate"], optimizers["d_learning_rate"]) == (1e-5, 1e-4)
    bad = json.loads(json.dumps(filled))
    bad["train"]["d_learning_rate"] = None
    with pytest.raises(ValueError, match=rf"^{re.escape(path)}: train.d_learning_rate \(or "
                                         rf"train.learning_rate\) is required$"):
        cgtgan_training.validate(bad, path)
    bad["train"]["learning_rate"] = 1e-4  # the shared rate serves both
    cgtgan_training.validate(bad, path)
    bad["train"]["distribute"] = "ring"  # every trainer's settings: checked by train.resolve
    with pytest.raises(ValueError, match=rf"^{re.escape(path)}: train.distribute 'ring' is "
                                         rf"not one of \['none', 'mirrored', "):
        resolve(bad, path)
    bad = json.loads(json.dumps(filled))
    bad["model"]["discriminator"]["num_heads"] = None
    with pytest.raises(ValueError, match=r"needs a RoBERTa config; missing \['num_heads'\]"):
        cgtgan_training.validate(bad, path)


@pytest.mark.parametrize("name", ["cgtgan_init_shapes", "cgtgan_init_coco", "cgtgan_shapes",
                                  "cgtgan_coco_inuic", "cgtgan_coco_gcc"])
def test_hparams_files_are_complete(name):
    path = os.path.join(HPARAMS, f"{name}.json")
    hparams = load_hparams(path)
    assert "python -m tfcaption.train" in hparams["description"]
    assert hparams["model"]["type"] == ("clipcap_text" if "init" in name else "cgtgan")
    trainer, filled = resolve(hparams, path)  # no unknown key, none missing, types right
    trainer.validate(filled, path)


def test_coco_recipes_follow_the_reference_settings():
    init = load_hparams(os.path.join(HPARAMS, "cgtgan_init_coco.json"))
    t = init["train"]
    assert (t["batch_size"], t["epochs"], t["learning_rate"], t["warmup_steps"], t["schedule"],
            t["weight_decay"], t["adam_epsilon"], t["clipnorm"]) == \
        (16, 1, 2e-5, 5000, "constant", 0.05, 1e-6, None)
    for name, epochs in (("cgtgan_coco_inuic", 50), ("cgtgan_coco_gcc", 80)):
        h = load_hparams(os.path.join(HPARAMS, f"{name}.json"))
        m, t = h["model"], h["train"]
        assert (m["num_samples"], m["max_gen_length"], m["baseline"], m["cos_weight"],
                m["clip_weight"], m["discriminator"]["mlp_dim"]) == (5, 20, "greedy", 0.5, 0.0, 384)
        assert (t["g_learning_rate"], t["d_learning_rate"], t["adam_epsilon"], t["weight_decay"],
                t["clipnorm"], t["g_warmup_steps"], t["gan_training_steps"], t["gan_warm_steps"],
                t["reward_weight"], t["schedule"], t["epochs"]) == \
            (1e-5, 1e-5, 1e-8, 0.05, 1.0, 150, 150, 2350, 0.5, "constant", epochs)
    assert "--temperature=175" in load_hparams(
        os.path.join(HPARAMS, "cgtgan_coco_gcc.json"))["description"]
    assert "--temperature=100" in load_hparams(
        os.path.join(HPARAMS, "cgtgan_init_coco.json"))["description"]
