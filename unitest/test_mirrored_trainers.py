"""Every trainer under ``train.distribute="mirrored"`` (a MirroredStrategy over 2 logical
CPU devices) against the same tiny run on one device, through ``tfcaption.train.train``:
the mirrored run really has 2 replicas, and the first epoch's training losses (of every
phase) agree, so the replicas split each global batch and the update is the one-device
update of it.

Two subprocesses (the logical CPU devices must be configured before TensorFlow
initialises) run half the trainers each, every trainer twice on 8 shapes images (40
captions: 2 steps of a global batch of 16, or 4 images a step where a step takes images)
with 1 epoch per phase. Both runs of a trainer share its feature cache (encoded once),
run without XLA (several CPU replicas cannot use it, so the one-device run must not
either) and without dropout (each replica would draw its own masks). CLIP trains its ViT
tower: the ResNet tower's BatchNorm normalises each replica's half batch by its own
statistics, which one device cannot reproduce. The test split's scores are no part of
the comparison: the Java scorers (PTB tokenizer, METEOR; seconds a run) are replaced in
the subprocess.

The GAN phases that sample (``NOISY_PHASES``) draw independent noise on each replica, so
they agree with one device within the noise only.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

from tfcaption.models.families import trainer_types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 900

# phase folder of the workdir ("" the workdir itself) -> the training losses compared
LOSSES = {"wgan": {"pretrain": ["mle_loss"], "": ["d_loss", "g_loss"]},
          "attend_gan": {"pretrain": ["l2_loss"], "pretrain_d": ["d_loss"],
                         "": ["g_loss", "d_loss"]},
          "cgtgan": {"": ["d_loss", "g_loss"]}}
TRAINERS = ["clip", "clipcap", "clipcap_text", "cgtgan", "wgan", "show_tell", "vit_gpt2",
            "pix2struct", "attend_gan"]  # cgtgan starts from clipcap_text's model
# The two subprocesses' trainers (cgtgan starts from clipcap_text's model: same group).
GROUPS = (("clip", "clipcap_text", "cgtgan", "show_tell", "vit_gpt2"),
          ("clipcap", "wgan", "pix2struct", "attend_gan"))
# Float rounding only: the replicas sum their gradients in another order than one
# device sums a batch's (measured: 0 for most, 2.5e-6 for vit_gpt2).
RTOL = 1e-5

# The phases whose losses depend on sampling noise: each replica draws its own
# (GanModel.noise_seed folds the replica's id into the seed), which cannot be one
# device's draw over the global batch; they agree within the noise (measured: relative
# 8e-3 for WGAN's critic loss, 1e-3 and less for ATTEND-GAN, 6e-2 on CgT-GAN's generator
# loss of 1e-5, hence the absolute term). Their deterministic phases (pre-training)
# compare at RTOL.
NOISY_PHASES = {"wgan": [""], "attend_gan": ["pretrain_d", ""], "cgtgan": [""]}
NOISE_RTOL, NOISE_ATOL = 2e-2, 1e-4

SCRIPT = textwrap.dedent("""
    import json, os, re, sys, time, traceback
    import tensorflow as tf
    # No graph optimisation passes (both runs alike): they cost more than the tiny
    # steps they would speed up (the test takes a sixth less).
    tf.config.optimizer.set_experimental_options({{"disable_meta_optimizer": True}})
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {unitest!r})
    import keras
    from tfcaption.data import shapes
    from tfcaption.data.dataset_writer import DatasetWriter
    from tfcaption.evaluation import cider, coco_metrics, evaluate_model
    from tfcaption.hparams import apply_overrides, load_hparams
    from tfcaption.train import train

    ROOT, OUT, LOSSES = {root!r}, {out!r}, {losses!r}
    CLIP_SHAPES = os.path.join(ROOT, "pretrained_models", "clip_shapes")
    print("DEVICES", json.dumps(len(tf.config.list_logical_devices("CPU"))), flush=True)

    # The test split's scores are no part of this test: no Java (PTB tokenizer, METEOR).
    def ptb_tokenize(captions):
        return {{i: [" ".join(re.findall(r"[a-z0-9]+", c.lower())) for c in texts]
                for i, texts in captions.items()}}
    cider.ptb_tokenize = coco_metrics.ptb_tokenize = ptb_tokenize
    coco_metrics.meteor_score = lambda gts, res: (0.0, [0.0] * len(res))
    coco_metrics.check_java = evaluate_model.check_java = lambda: None

    replicas = []  # the replica count of every fit
    fit = keras.Model.fit
    def counting_fit(self, *args, **kwargs):
        replicas.append(self.distribute_strategy.num_replicas_in_sync)
        return fit(self, *args, **kwargs)
    keras.Model.fit = counting_fit

    data = os.path.join(OUT, "shapes")  # 8 train images (40 captions), 2 val, 2 test
    DatasetWriter(data, "shapes").write(shapes.generate(8, 2, 2, image_size=48, seed=3),
                                       verbose=False)
    COMMON = ["train.jit_compile=false", "train.verbose=0"]
    EVAL = ["eval.max_images=2"]

    def clip():
        from test_clip_training import TINY_VIT, _tiny
        return apply_overrides(_tiny(data, epochs=1, model=TINY_VIT),
                               COMMON + ["train.batch_size=4"])

    def clipcap():
        from test_clipcap_training import _tiny
        return apply_overrides(_tiny(data, epochs=1), COMMON + EVAL + [
            "train.batch_size=16", "train.sample_every=0", "model.gpt2.dropout=0.0",
            "eval.clip=null", f"data.features_dir={{OUT}}/clipcap_features"])

    def corpus():  # as test_cgtgan_training's corpus_dir fixture, for 8 other images
        from tfcaption.backbones.clip_loader import load_clip
        from tfcaption.models.clipcap.cgtgan import corpus_embedding as ce
        from tfcaption.training.split_features import cache_split_features, eval_features
        out = os.path.join(OUT, "corpus")
        texts = [c for r in shapes.generate(8, 0, 0, image_size=48, seed=9)
                 for c in r.captions]
        model = load_clip(CLIP_SHAPES)
        embeddings = ce.embed_texts(model, texts, verbose=0)
        ce.write_corpus(out, texts, embeddings)
        splits = {{"dir": data, "train_split": "train", "val_split": "val",
                   "test_split": "test"}}
        features_dir = os.path.join(out, ce.FEATURES_DIR)
        cache_split_features(model, splits, features_dir, verbose=0)
        features, ids, _ = eval_features(splits, "train", features_dir)
        ce.write_targets(out, "train", ids,
                         ce.aggregate_embeddings(features, embeddings, 100.0))
        return out

    def clipcap_text():
        from test_cgtgan_training import _init_hparams
        return apply_overrides(_init_hparams(data, corpus()), COMMON + EVAL + [
            "train.batch_size=16", "model.gpt2.dropout=0.0", "eval.clip=null"])

    def cgtgan():  # the GAN starts from the one-device clipcap_text run's model
        from test_cgtgan_training import _gan_hparams
        generator = os.path.join(OUT, "clipcap_text", "none", "model")
        return apply_overrides(
            _gan_hparams(data, os.path.join(OUT, "corpus"), generator, 1),
            COMMON + EVAL + ["train.batch_size=4", "model.discriminator.dropout=0.0",
                             "eval.clip=null"])

    def wgan():
        from test_wgan_training import _glove, _hparams
        glove = os.path.join(OUT, "glove.6d.txt")
        _glove(glove, ["a", "red", "circle", "zebra"], 6)
        return apply_overrides(_hparams(data, glove, epochs=1), COMMON + EVAL + [
            "model.dropout=0.0", "model.critic_dropout=0.0",
            f"data.features_dir={{OUT}}/wgan_features"])

    def show_tell():
        from test_show_tell_training import _hparams
        return apply_overrides(_hparams(data, epochs=1), COMMON + EVAL + [
            "model.dropout=0.0", f"data.features_dir={{OUT}}/show_tell_features"])

    def vit_gpt2():
        from test_vit_gpt2_training import _hparams
        hparams = _hparams(data)  # no dropout
        hparams["train"]["epochs"] = 1
        return apply_overrides(hparams, COMMON + EVAL)

    def pix2struct():  # the README's charts recipe, smaller, on the shapes images
        hparams = load_hparams(os.path.join(ROOT, "hparams", "pix2struct_charts.json"))
        return apply_overrides(hparams, COMMON + EVAL + [  # no dropout in the recipe
            f"data.dir={{data}}", "train.epochs=1", "train.batch_size=16",
            "train.warmup_steps=2", "train.sample_every=0", "model.max_patches=16",
            "model.encoder_layers=1", "model.decoder_layers=1", "model.num_heads=2",
            "model.hidden_dim=32", "model.intermediate_dim=64", "model.key_value_dim=16",
            "model.max_length=12", "data.max_length=24", "tokenizer.vocab_size=60"])

    def attend_gan():  # the README's smoke-sized shapes recipe, smaller networks
        hparams = load_hparams(os.path.join(ROOT, "hparams", "attend_gan_shapes.json"))
        return apply_overrides(hparams, COMMON + EVAL + [
            f"data.dir={{data}}", f"model.image_encoder.path={{CLIP_SHAPES}}",
            "train.pretrain_epochs=1", "train.d_pretrain_epochs=1", "train.epochs=1",
            "train.batch_size=16", "train.curve_images=2", "eval.batch_size=16",
            "train.sample_every=0", "train.mc_num=2", "model.max_length=8",
            "model.embedding_dim=16", "model.hidden_dim=16", "model.attention_dim=16",
            "model.d_embedding_dim=16", "model.d_hidden_dim=16", "model.d_num_layers=1",
            "model.d_dropout=0.0", f"data.features_dir={{OUT}}/attend_gan_features"])

    for recipe in (clip, clipcap, clipcap_text, cgtgan, wgan, show_tell, vit_gpt2,
                   pix2struct, attend_gan):
        if recipe.__name__ not in {only!r}:
            continue
        name, started, result = recipe.__name__, time.perf_counter(), {{}}
        try:
            hparams = recipe()
            assert hparams["model"]["type"] == name, hparams["model"]["type"]
            for mode in ("none", "mirrored"):
                replicas.clear()
                workdir = os.path.join(OUT, name, mode)
                train(apply_overrides(hparams, [f"train.distribute={{mode}}"]), workdir)
                first = {{}}
                for phase in LOSSES.get(name, {{"": ["loss"]}}):
                    with open(os.path.join(workdir, phase, "epochs.json")) as f:
                        first[phase] = json.load(f)["0"]
                result[mode] = {{"replicas": list(replicas), "first_epoch": first}}
        except Exception:
            result["error"] = traceback.format_exc()[-4000:]
        result["seconds"] = round(time.perf_counter() - started, 1)
        print("RESULT", name, json.dumps(result), flush=True)
""")


def _losses(name):
    return LOSSES.get(name, {"": ["loss"]})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{trainer: {"none" / "mirrored": {"replicas", "first_epoch"}, "seconds"}}``.

    Two subprocesses, each with half the trainers, run side by side (most of the time is
    Python tracing tf.functions, on one core each)."""
    procs = []
    for i, group in enumerate(GROUPS):
        script = SCRIPT.format(unitest=os.path.join(ROOT, "unitest"), root=ROOT,
                               out=str(tmp_path_factory.mktemp(f"mirrored_trainers_{i}")),
                               losses=LOSSES, only=list(group))
        procs.append(subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")))
    lines = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, stderr[-4000:]
        found = [line.split(" ", 2) for line in stdout.splitlines()
                 if line.startswith(("RESULT ", "DEVICES "))]
        assert [line[1] for line in found if line[0] == "DEVICES"] == ["2"], stdout[-2000:]
        lines += found
    results = {line[1]: json.loads(line[2]) for line in lines if line[0] == "RESULT"}
    for name, result in results.items():  # shown with -s, and in a failure's report
        print(f"{name}: both runs {result['seconds']} s")
        for phase, keys in _losses(name).items():
            for key in keys:
                try:
                    one, two = (result[m]["first_epoch"][phase][key]
                                for m in ("none", "mirrored"))
                    print(f"{name:12} {phase or '-':10} {key:8} one device {one:.7g}  "
                          f"mirrored {two:.7g}  rel. diff {abs(one - two) / abs(one):.2e}")
                except (KeyError, TypeError, ZeroDivisionError):
                    print(f"{name:12} {phase or '-':10} {key:8} {result.get('error', '?')}")
    return results


def test_every_trainer_type_is_run():
    assert sorted(TRAINERS) == trainer_types()


@pytest.mark.parametrize("name", TRAINERS)
def test_mirrored_run_has_two_replicas(runs, name):
    result = runs[name]
    assert "error" not in result, result["error"]
    phases = len(_losses(name))  # one fit per phase
    assert result["none"]["replicas"] == [1] * phases
    assert result["mirrored"]["replicas"] == [2] * phases
    for mode in ("none", "mirrored"):
        for phase, keys in _losses(name).items():
            for key in keys:
                assert math.isfinite(result[mode]["first_epoch"][phase][key]), (mode, key)


@pytest.mark.parametrize("name", TRAINERS)
def test_first_epoch_losses_match_one_device(runs, name):
    result = runs[name]
    assert "error" not in result, result["error"]
    for phase, keys in _losses(name).items():
        for key in keys:
            one, two = (result[mode]["first_epoch"][phase][key]
                        for mode in ("none", "mirrored"))
            if phase in NOISY_PHASES.get(name, ()):
                assert two == pytest.approx(one, rel=NOISE_RTOL, abs=NOISE_ATOL), (phase, key)
            else:
                assert two == pytest.approx(one, rel=RTOL), (phase, key)


def test_the_groups_hold_every_trainer_once():
    assert sorted(sum(GROUPS, ())) == sorted(TRAINERS)
