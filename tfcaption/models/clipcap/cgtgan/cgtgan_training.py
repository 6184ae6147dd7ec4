"""``model.type = "cgtgan"``: CgT-GAN training of a ClipCap generator.

Inputs (see ``hparams/cgtgan_*.json``):

- ``model.generator``: the ClipCap model dir to start from (the text-only
  initialisation, ``model.type = "clipcap_text"``);
- ``model.clip``: the CLIP of the reward, the same CLIP whose image embeddings prefix
  the generator;
- ``model.discriminator``: ``{"path": RoBERTa dir}`` (e.g. Hugging Face ``roberta-base``,
  with its tokenizer), or a RoBERTa config trained from scratch with a tokenizer sharing
  the generator's BPE; ``mlp_dim`` (default half the width);
- ``data.corpus_embeddings``: the directory ``python -m tfcaption.embed_corpus`` wrote
  (corpus sentences, the train images' aggregated targets, the CLIP image features).

Steps: the train images' CLIP embeddings and targets are paired with
``model.num_samples`` random corpus sentences per image (the discriminator's real
examples); :class:`CgtGanModel` trains with ``fit``; before training and after every epoch
the generator captions the validation images greedily (``eval.decoding``) and the
generator with the best validation CIDEr-D is kept (``checkpoints/best.weights.h5``,
``val_history.json``, also the ``shapes`` scores on ``shapes`` data). A backup every
epoch makes a rerun resume. Finally the best generator is saved as a ClipCap model dir in
``workdir/model`` and evaluated on the test images (``metrics.json`` with
``val_history``, ``predictions.jsonl``, ``metrics.md``).
"""

import os

import keras
import numpy as np
import tensorflow as tf

from tfcaption.backbones.clip_loader import load_clip
from tfcaption.backbones.roberta_loader import load_roberta
from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl
from tfcaption.data.shapes_scorer import score_dataset
from tfcaption.hparams import check_hparams
from tfcaption.models.clipcap.cgtgan.caption_discriminator import (CaptionDiscriminator,
                                                           build_discriminator)
from tfcaption.models.clipcap.cgtgan.cgtgan_model import CgtGanModel
from tfcaption.models.clipcap.cgtgan.cgtgan_settings import (ENCODER_KEYS, SETTINGS,
                                                             check_discriminator,
                                                             optimizer_settings, validate)
from tfcaption.models.clipcap.cgtgan.cgtgan_settings import (  # noqa: F401  (the trainer contract)
    check_data)
from tfcaption.models.clipcap.cgtgan.corpus_embedding import FEATURES_DIR, read_corpus, read_targets
from tfcaption.models.clipcap.cgtgan.validation_checkpoint import ValidationCheckpoint
from tfcaption.models.clipcap.clipcap_model_dir import load_clipcap, save_clipcap
from tfcaption.tokenizers.roberta_tokenizer import (load_roberta_tokenizer,
                                                    write_roberta_from_gpt2)
from tfcaption.training.adamw import build_adamw
from tfcaption.training.resumable_fit import resumable_fit
from tfcaption.training.split_features import eval_features
from tfcaption.training.test_split_report import finish_captioner_run


def build_discriminator_from(settings, generator_dir, workdir):
    """``model.discriminator`` -> (:class:`CaptionDiscriminator`, RoBERTa tokenizer)."""
    settings = dict(settings)
    if settings.get("path"):
        loaded = load_roberta(settings["path"])
        return CaptionDiscriminator(loaded.model, mlp_dim=settings.get("mlp_dim"),
                                    name="discriminator"), loaded.tokenizer
    # a RoBERTa config, randomly initialised, on a tokenizer sharing the generator's BPE
    tokenizer_dir = settings.get("tokenizer") or write_roberta_from_gpt2(
        generator_dir, os.path.join(workdir, "roberta_tokenizer"))
    tokenizer = load_roberta_tokenizer(tokenizer_dir)
    check_discriminator(settings)
    discriminator = build_discriminator(
        tokenizer.vocabulary_size(), max_sequence_length=settings.get("max_sequence_length", 64),
        mlp_dim=settings.get("mlp_dim"), **{k: settings[k] for k in ENCODER_KEYS})
    return discriminator, tokenizer


def train_inputs(data, corpus_dir, features_dir):
    """The train images' CLIP embeddings ``[N, D]`` and aggregated targets ``[N, D]``."""
    features, ids, _ = eval_features(data, data["train_split"], features_dir)
    targets = read_targets(corpus_dir, data["train_split"])
    missing = [i for i in ids if i not in targets]
    if missing:
        raise ValueError(f"{corpus_dir}: no target for {len(missing)} {data['train_split']} "
                         f"image(s), e.g. {missing[:3]}; rerun python -m tfcaption.embed_corpus "
                         f"for this dataset")
    return features.astype(np.float32), np.stack([targets[i] for i in ids]).astype(np.float32)


def gan_dataset(features, targets, sentences, retokenizer, batch_size, num_samples, seed):
    """Shuffled batches of ``batch_size`` images with ``batch_size * num_samples`` random
    corpus sentences as RoBERTa inputs (``real_token_ids``, ``real_padding_mask``)."""
    images = tf.data.Dataset.from_tensor_slices({"prefix": features, "target": targets})
    images = images.shuffle(len(features), seed=seed, reshuffle_each_iteration=True).batch(
        batch_size, drop_remainder=True)
    real = tf.data.Dataset.from_tensor_slices(tf.constant(sentences)).batch(1024).map(
        lambda texts: {f"real_{k}": v for k, v in retokenizer.roberta_inputs(texts).items()})
    real = real.unbatch().cache().shuffle(  # tokenized once
        len(sentences), seed=seed + 1, reshuffle_each_iteration=True).repeat()
    real = real.batch(batch_size * num_samples, drop_remainder=True)
    return tf.data.Dataset.zip(images, real).map(lambda a, b: {**a, **b}).prefetch(
        tf.data.AUTOTUNE)


def _shapes_metrics(data):
    records = read_captions_jsonl(os.path.join(data["dir"], CAPTIONS_FILE),
                                  split=data["val_split"])
    if not records or "objects" not in records[0]:
        return None
    return lambda predictions: score_dataset(predictions, records)


def run(hparams, workdir, extra_callbacks=()):
    """Trains, keeps the best generator, evaluates it; returns the metrics. ``hparams`` are
    checked against :data:`SETTINGS` (defaults filled in) first."""
    hparams = check_hparams(hparams, SETTINGS)
    validate(hparams)
    data, train = hparams["data"], hparams["train"]
    keras.utils.set_random_seed(train["seed"])
    corpus_dir = data["corpus_embeddings"]
    sentences, _ = read_corpus(corpus_dir)
    features_dir = data["features_dir"] or os.path.join(corpus_dir, FEATURES_DIR)
    features, targets = train_inputs(data, corpus_dir, features_dir)
    return _run(hparams, workdir, features, targets, sentences, features_dir,
                extra_callbacks)


def _run(hparams, workdir, features, targets, sentences, features_dir, extra_callbacks):
    m, data, train = hparams["model"], hparams["data"], hparams["train"]
    jit = train["jit_compile"]
    captioner = load_clipcap(m["generator"], jit_compile=jit)
    clip = load_clip(m["clip"])
    discriminator, roberta_tokenizer = build_discriminator_from(m["discriminator"],
                                                                m["generator"], workdir)
    stop = m["stop_token_ids"] or captioner.stop_token_ids
    gan = CgtGanModel(captioner.model, discriminator, clip.model, captioner.tokenizer,
                      clip.tokenizer, roberta_tokenizer, stop_token_ids=stop,
                      strip_token_ids=captioner.strip_token_ids,
                      num_samples=m["num_samples"], max_gen_length=m["max_gen_length"],
                      baseline=m["baseline"], cos_weight=m["cos_weight"],
                      clip_weight=m["clip_weight"],
                      gan_training_steps=train["gan_training_steps"],
                      gan_warm_steps=train["gan_warm_steps"],
                      reward_weight=train["reward_weight"],
                      update_discriminator=train["update_discriminator"],
                      jit_compile=jit, seed=train["seed"])
    steps = len(features) // train["batch_size"]
    if steps == 0:
        raise ValueError(f"{len(features)} train images are fewer than one batch "
                         f"(train.batch_size={train['batch_size']})")
    total = steps * train["epochs"]
    optimizers = optimizer_settings(train)
    gan.compile(g_optimizer=build_adamw(optimizers, total, prefix="g_"),
                d_optimizer=build_adamw(optimizers, total, prefix="d_"))
    gan.build_optimizers()

    decoding = hparams["eval"]["decoding"]
    val_features, val_ids, val_refs = eval_features(data, data["val_split"], features_dir,
                                                    hparams["eval"]["max_images"])
    best_path = os.path.join(workdir, "checkpoints", "best.weights.h5")
    validation = ValidationCheckpoint(
        captioner.model, lambda x: captioner.generate(x, decoding), val_features, val_ids,
        val_refs, best_path, os.path.join(workdir, "val_history.json"),
        extra_metrics=_shapes_metrics(data))
    dataset = gan_dataset(features, targets, sentences, gan.retokenizer, train["batch_size"],
                          gan.num_samples, train["seed"])
    history = resumable_fit(gan, dataset, workdir, train["epochs"], [validation],
                            extra_callbacks, verbose=train["verbose"],
                            shuffle=False)  # the dataset shuffles

    captioner.model.load_weights(best_path)
    return finish_captioner_run(captioner, save_clipcap, history, hparams, workdir,
                                val_history=validation.read_history())
