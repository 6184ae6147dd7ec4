"""Every trainer under ``train.distribute="mirrored"`` (a MirroredStrategy over 2 logical
CPU devices) against the same tiny run on one device: the first epoch's training losses
(of every phase) agree, so the replicas split each global batch and the update is the
one-device update of it.

One subprocess: the logical CPU devices must be configured before TensorFlow
initialises. Both runs of a trainer share its feature cache (encoded once) and run
without XLA (several CPU replicas cannot use it) and without dropout (each replica
would draw its own masks).
"""

import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, {unitest!r})
    import keras
    from tfcaption.data import shapes
    from tfcaption.data.dataset_writer import DatasetWriter
    from tfcaption.hparams import apply_overrides, load_hparams
    from tfcaption.train import train

    ROOT, OUT = {root!r}, {out!r}
    ONLY = {only!r}
    EXTRA = {extra!r}
    CLIP_SHAPES = os.path.join(ROOT, "pretrained_models", "clip_shapes")
    data = os.path.join(OUT, "shapes")  # 8 train images (40 captions), 2 val, 2 test
    DatasetWriter(data, "shapes").write(shapes.generate(8, 2, 2, image_size=48, seed=3),
                                       verbose=False)

    # The test split's scores are no part of this test: the Java scorers (PTB tokenizer,
    # METEOR; seconds per run) are replaced by a whitespace tokenizer and a zero METEOR.
    import re
    from tfcaption.evaluation import cider, coco_metrics, evaluate_model
    def ptb_tokenize(captions):
        return {{i: [" ".join(re.findall(r"[a-z0-9]+", c.lower())) for c in texts]
                for i, texts in captions.items()}}
    cider.ptb_tokenize = coco_metrics.ptb_tokenize = ptb_tokenize
    coco_metrics.meteor_score = lambda gts, res: (0.0, [0.0] * len(res))
    coco_metrics.check_java = evaluate_model.check_java = lambda: None

    replicas = []  # every fit's replica count
    fit = keras.Model.fit
    def counting_fit(self, *args, **kwargs):
        replicas.append(self.distribute_strategy.num_replicas_in_sync)
        if os.environ.get("DEBUG_BATCHES"):
            kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [
                keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: print(
                    "BATCH", b, {{k: round(float(v), 6) for k, v in logs.items()}}),
                    on_epoch_end=lambda b, logs: print("EPOCH", b, logs))]
        return fit(self, *args, **kwargs)
    keras.Model.fit = counting_fit

    COMMON = ["train.jit_compile=false", "train.verbose=0"]
    EVAL = ["eval.max_images=2"]

    def clip():
        from test_clip_training import TINY_RESNET, _tiny
        return apply_overrides(_tiny(data, epochs=1, model=TINY_RESNET),
                               COMMON + ["train.batch_size=4"])

    def clipcap():
        from test_clipcap_training import _tiny
        return apply_overrides(_tiny(data, epochs=1), COMMON + EVAL + [
            "train.batch_size=16", "train.sample_every=0", "model.gpt2.dropout=0.0",
            "eval.clip=null", f"data.features_dir={{OUT}}/clipcap_features"])

    def corpus():
        from tfcaption.backbones.clip_loader import load_clip
        from tfcaption.models.clipcap.cgtgan import corpus_embedding as ce
        from tfcaption.training.split_features import cache_split_features, eval_features
        out = os.path.join(OUT, "corpus")
        texts = [c for r in shapes.generate(8, 0, 0, image_size=48, seed=9)
                 for c in r.captions]
        model = load_clip(CLIP_SHAPES)
        ce.write_corpus(out, texts, ce.embed_texts(model, texts, verbose=0))
        splits = {{"dir": data, "train_split": "train", "val_split": "val",
                   "test_split": "test"}}
        cache_split_features(model, splits, os.path.join(out, ce.FEATURES_DIR), verbose=0)
        features, ids, _ = eval_features(splits, "train", os.path.join(out, ce.FEATURES_DIR))
        embeddings = ce.read_corpus(out)[1]
        ce.write_targets(out, "train", ids, ce.aggregate_embeddings(features, embeddings,
                                                                      100.0))
        return out

    def clipcap_text():
        from test_cgtgan_training import _init_hparams
        return apply_overrides(_init_hparams(data, corpus()), COMMON + EVAL + [
            "train.batch_size=16", "model.gpt2.dropout=0.0", "eval.clip=null"])

    def cgtgan():
        from test_cgtgan_training import _gan_hparams
        generator = os.path.join(OUT, "clipcap_text", "none", "model")
        return apply_overrides(_gan_hparams(data, os.path.join(OUT, "corpus"), generator, 1),
                               COMMON + EVAL + ["train.batch_size=4",
                                                "model.discriminator.dropout=0.0",
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
        hparams = _hparams(data)
        hparams["train"].update(epochs=1)
        return apply_overrides(hparams, COMMON + EVAL)

    def pix2struct():
        hparams = load_hparams(os.path.join(ROOT, "hparams", "pix2struct_charts.json"))
        return apply_overrides(hparams, COMMON + EVAL + [
            f"data.dir={{data}}", "train.epochs=1", "train.batch_size=16",
            "train.warmup_steps=2", "train.sample_every=0", "model.max_patches=16",
            "model.encoder_layers=1", "model.decoder_layers=1", "model.num_heads=2",
            "model.hidden_dim=32", "model.intermediate_dim=64", "model.key_value_dim=16",
            "model.max_length=12", "data.max_length=24", "tokenizer.vocab_size=60"])

    def attend_gan():
        hparams = load_hparams(os.path.join(ROOT, "hparams", "attend_gan_shapes.json"))
        return apply_overrides(hparams, COMMON + EVAL + [
            f"data.dir={{data}}", f"model.image_encoder.path={{CLIP_SHAPES}}",
            "train.pretrain_epochs=1", "train.d_pretrain_epochs=1", "train.epochs=1",
            "train.batch_size=16", "train.curve_images=2", "eval.batch_size=16",
            "train.sample_every=0", "train.mc_num=2", "model.max_length=8",
            "model.embedding_dim=16", "model.hidden_dim=16", "model.attention_dim=16",
            "model.d_embedding_dim=16", "model.d_hidden_dim=16", "model.d_num_layers=1",
            "model.d_dropout=0.0", f"data.features_dir={{OUT}}/attend_gan_features"])

    # phase folder -> the losses compared (every numeric log of the first epoch is printed)
    PHASES = {{"wgan": {{"pretrain": ["mle_loss"], "": ["d_loss", "g_loss"]}},
               "attend_gan": {{"pretrain": ["l2_loss"], "pretrain_d": ["d_loss"],
                              "": ["g_loss", "d_loss"]}},
               "cgtgan": {{"": ["d_loss", "g_loss"]}}}}
    TRAINERS = [clip, clipcap, clipcap_text, cgtgan, wgan, show_tell, vit_gpt2, pix2struct,
                attend_gan]
    for recipe in TRAINERS:
        name = recipe.__name__
        if ONLY and name not in ONLY:
            continue
        started = time.perf_counter()
        hparams = recipe()
        assert hparams["model"]["type"] == name, hparams["model"]["type"]
        result = {{}}
        for mode in ("none", "mirrored"):
            replicas.clear()
            workdir = os.path.join(OUT, name, mode)
            begun = time.perf_counter()
            train(apply_overrides(hparams, [f"train.distribute={{mode}}"] + EXTRA), workdir)
            logs = {{}}
            for phase in PHASES.get(name, {{"": ["loss"]}}):
                with open(os.path.join(workdir, phase, "epochs.json")) as f:
                    logs[phase] = json.load(f)["0"]
            result[mode] = {{"replicas": list(replicas), "logs": logs,
                            "seconds": round(time.perf_counter() - begun, 1)}}
        result["keys"] = PHASES.get(name, {{"": ["loss"]}})
        result["seconds"] = round(time.perf_counter() - started, 1)
        print("RESULT", name, json.dumps(result), flush=True)
""")


def run_script(out, only=(), extra=()):
    script = SCRIPT.format(unitest=os.path.join(ROOT, "unitest"), root=ROOT, out=str(out),
                           only=list(only), extra=list(extra))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=900, cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            _, name, payload = line.split(" ", 2)
            results[name] = json.loads(payload)
    return proc, results


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        args = sys.argv[1:]
        proc, results = run_script(tmp, [a for a in args if "=" not in a],
                                   [a for a in args if "=" in a])
        print(proc.stdout[-20000:])
        print(proc.stderr[-6000:])
