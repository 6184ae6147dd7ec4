"""``model.type = "attend_gan"``: ATTEND-GAN, trained on cached region features.

Steps:

1. the word vocabulary of the training captions (lower-cased, punctuation removed) in
   ``workdir/vocab.txt``;
2. the image encoder (``model.image_encoder``: a grid of region features, e.g. ResNet-152
   ``res5c`` or a CLIP ResNet's last stage) encodes the train/val/test images once into
   a feature cache (``data.features_dir``, default ``workdir/features``; resumable);
3. maximum-likelihood pre-training of the generator (``L2``: cross-entropy plus the
   attention term; ``train.pretrain_epochs``, in ``workdir/pretrain``), then
   discriminator pre-training on dataset captions against generator samples
   (``train.d_pretrain_epochs``, in ``workdir/pretrain_d``), then the adversarial phase
   (``train.epochs``: ``g_steps`` generator updates on ``pg_weight * L1 + L2`` with
   Monte-Carlo rollout rewards, then ``d_steps`` discriminator updates, per batch;
   :class:`AttendGanModel`). Each phase is resumable at any kill point
   (:func:`resumable_fit`) and logs the validation CIDEr-D (and the discriminator's
   score of the greedy captions) per epoch;
4. the model dir in ``workdir/model`` and the shared evaluator on the test split;
   ``metrics.json`` also holds ``adversarial_gain`` (:func:`adversarial_gain`: the
   pre-trained and the final generator's test CIDEr-D and reward) and ``curve``, the
   per-epoch validation values of every phase.
"""

import os

import keras

from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.data.text_ops import clean_captions
from tfcaption.hparams import check_hparams
from tfcaption.models.attend_gan.attend_gan_captioner import AttendGanCaptioner
from tfcaption.models.attend_gan.attend_gan_dir import save_attend_gan
from tfcaption.models.attend_gan.attend_gan_model import AttendGanModel
from tfcaption.models.attend_gan.attend_gan_settings import SETTINGS, validate
from tfcaption.models.attend_gan.attend_gan_settings import check_data  # noqa: F401  (contract)
from tfcaption.models.attend_gan.attention_lstm_generator import AttentionLstmGenerator
from tfcaption.models.attend_gan.gru_caption_discriminator import GruCaptionDiscriminator
from tfcaption.models.attend_gan.caption_quality_curve import (CaptionQualityCurve,
                                                               discriminator_scores,
                                                               generator_captions)
from tfcaption.training.atomic_checkpoint import save_weights_atomically
from tfcaption.training.resumable_fit import resumable_fit
from tfcaption.training.sample_captions import SampleCaptions
from tfcaption.training.split_features import encode_splits, eval_features
from tfcaption.training.test_split_report import finish_captioner_run
from tfcaption.training.training_vocabulary import training_vocabulary

PHASES = (("pretrain", "mle", "pretrain_epochs"),
          ("pretrain_d", "discriminator", "d_pretrain_epochs"),
          ("", "adversarial", "epochs"))


def clean(text):
    """Lower-case, punctuation removed (words kept)."""
    return clean_captions(text, strip_digits=False, drop_single_chars=False)


def training_dataset(hparams, vocabulary, features_dir):
    data, train = hparams["data"], hparams["train"]
    pipe = CaptionPipeline(data["dir"], split=data["train_split"], mode="train",
                           features_dir=features_dir, tokenize=vocabulary.encode,
                           text_fn=clean, max_length=hparams["model"]["max_length"] + 1,
                           start_id=vocabulary.start_id, end_id=vocabulary.end_id,
                           pad_id=vocabulary.pad_id, pairing="all",
                           shuffle_buffer=20000, seed=train["seed"])
    return pipe.dataset(train["batch_size"]).map(
        lambda b: {"features": b["features"], "token_ids": b["token_ids"],
                   "padding_mask": b["padding_mask"]})


def build_networks(hparams, vocabulary, grid):
    model = hparams["model"]
    generator = AttentionLstmGenerator(
        len(vocabulary), feature_dim=grid[-1], grid_shape=grid[:-1],
        embedding_dim=model["embedding_dim"], hidden_dim=model["hidden_dim"],
        attention_dim=model["attention_dim"], dropout=model["dropout"], name="generator")
    discriminator = GruCaptionDiscriminator(
        len(vocabulary), embedding_dim=model["d_embedding_dim"],
        hidden_dim=model["d_hidden_dim"], num_layers=model["d_num_layers"],
        dropout=model["d_dropout"], image_conditioned=model["image_conditioned"],
        feature_dim=grid[-1], name="discriminator")
    return generator, discriminator


def gan_model(hparams, generator, discriminator, vocabulary, mode):
    train = hparams["train"]
    model = AttendGanModel(generator, discriminator, mode=mode, start_id=vocabulary.start_id,
                           end_id=vocabulary.end_id, mc_num=train["mc_num"],
                           g_steps=train["g_steps"], d_steps=train["d_steps"],
                           pg_weight=train["pg_weight"],
                           attention_weight=train["attention_weight"],
                           attention_target=train["attention_target"],
                           reward_baseline=train["reward_baseline"],
                           jit_compile=train["jit_compile"], seed=train["seed"])

    def adamw(key):
        return keras.optimizers.AdamW(train[key], weight_decay=train["weight_decay"],
                                      global_clipnorm=train["clipnorm"])

    model.compile(g_optimizer=None if mode == "discriminator" else adamw(
                      "pretrain_learning_rate" if mode == "mle" else "learning_rate"),
                  d_optimizer=None if mode == "mle" else adamw("d_learning_rate"))
    model.build_optimizers()
    return model


def run_phase(hparams, workdir, phase, gan, dataset, callbacks, extra_callbacks=()):
    """One phase (resumable in its directory); its networks' weights are saved at the end
    (``<phase dir>/generator.weights.h5``, ``discriminator.weights.h5``) and reloaded
    instead of training when a rerun finds them."""
    name, _, epochs_key = phase
    directory = os.path.join(workdir, name) if name else workdir
    train = hparams["train"]
    history = resumable_fit(gan, dataset, directory, train[epochs_key], callbacks,
                            extra_callbacks, verbose=train["verbose"],
                            shuffle=False)  # the pipeline shuffles
    if name:
        for network in (gan.generator, gan.discriminator):
            path = os.path.join(directory, f"{network.name}.weights.h5")
            if not os.path.isfile(path):
                save_weights_atomically(network, path)
    return history


def run(hparams, workdir, extra_callbacks=()):
    """Trains, evaluates and saves; returns the metrics (also in ``metrics.json``).
    ``hparams`` are checked against :data:`SETTINGS` (defaults filled in) first."""
    hparams = check_hparams(hparams, SETTINGS)
    validate(hparams)
    data, train, settings = hparams["data"], hparams["train"], hparams["model"]
    keras.utils.set_random_seed(train["seed"])
    vocabulary = training_vocabulary(data, workdir, clean,
                                     max_size=settings["vocabulary_size"],
                                     min_count=settings["vocabulary_min_count"])
    encoder, features_dir, grid = encode_splits(settings["image_encoder"], data, workdir,
                                                1 if train["verbose"] else 0, feature_rank=3)
    generator, discriminator = build_networks(hparams, vocabulary, grid)
    captioner = AttendGanCaptioner(generator, vocabulary, image_encoder=encoder,
                                   max_length=settings["max_length"],
                                   jit_compile=train["jit_compile"])
    dataset = training_dataset(hparams, vocabulary, features_dir)
    val_feats, val_ids, val_refs = eval_features(data, data["val_split"], features_dir,
                                                 limit=train["curve_images"])
    shown = train["num_samples"]
    samples = SampleCaptions(lambda x: captioner.generate(x, "greedy"), val_feats[:shown],
                             val_ids[:shown], val_refs[:shown], every=train["sample_every"])
    curve, histories = {}, {}
    for phase in PHASES:
        name, mode, epochs_key = phase
        if not train[epochs_key]:
            continue
        gan = gan_model(hparams, generator, discriminator, vocabulary, mode)
        quality = CaptionQualityCurve(captioner, None if mode == "mle" else gan,
                                      val_feats, val_refs)
        callbacks = [quality] + ([samples] if mode != "discriminator" else [])
        histories[mode] = run_phase(hparams, workdir, phase, gan, dataset, callbacks,
                                    extra_callbacks if mode == "adversarial" else ())
        curve[mode] = {key: histories[mode].history[key]
                       for key in ("val_cider_d", "val_d_score")
                       if key in histories[mode].history}
    extra = {"curve": curve}
    if train["epochs"] and train["pretrain_epochs"]:
        extra["adversarial_gain"] = adversarial_gain(hparams, workdir, captioner, gan,
                                                     features_dir)
    last = histories.get("adversarial") or histories[next(iter(histories))]
    return finish_captioner_run(captioner, save_attend_gan, last, hparams, workdir, **extra)


def adversarial_gain(hparams, workdir, captioner, gan, features_dir):
    """The pre-trained and the final generator on the test split: the CIDEr-D of their
    greedy captions and the mean discriminator score (the reward) of their sampled and
    greedy captions, judged by the discriminator at the start of the adversarial phase
    (the reward the phase sets out to climb) and by the final one (trained against the
    final generator's samples). ``{generator: {"cider_d", judge: {"sampled", "greedy"}}}``."""
    data = hparams["data"]
    feats, _, refs = eval_features(data, data["test_split"], features_dir)
    generator, discriminator = captioner.model, gan.discriminator
    current = {"adversarial": generator.get_weights()}, {"final": discriminator.get_weights()}
    generators = {"pretrained": os.path.join(workdir, "pretrain", "generator.weights.h5"),
                  "adversarial": None}
    judges = {"final": None}
    start = os.path.join(workdir, "pretrain_d", "discriminator.weights.h5")
    if os.path.isfile(start):
        judges["start"] = start
    gain = {}
    try:
        for name, weights in generators.items():
            load(generator, weights, current[0].get(name))
            captions = generator_captions(captioner, feats, refs)
            gain[name] = {"cider_d": captions["cider_d"]}
            for judge, judge_weights in judges.items():
                load(discriminator, judge_weights, current[1].get(judge))
                gain[name][judge] = {kind: discriminator_scores(gan, feats, captions[kind])
                                     for kind in ("sampled", "greedy")}
    finally:
        generator.set_weights(current[0]["adversarial"])
        discriminator.set_weights(current[1]["final"])
    return gain


def load(network, path, weights):
    """Weights from ``path`` (a ``.weights.h5``) or a ``get_weights()`` list."""
    if path is not None:
        network.load_weights(path)
    else:
        network.set_weights(weights)
