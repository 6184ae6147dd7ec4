"""``model.type = "clipcap"``: two-stage ClipCap training (CLIP embeddings cached once).

Steps:

1. the CLIP image encoder (``model.clip``) embeds every image of the train/val/test
   splits once, into a feature cache (``data.features_dir``, default
   ``workdir/features``; resumable);
2. the tokenizer: ``tokenizer.dir``, else the GPT-2 checkpoint's, else a GPT-2-format
   BPE trained on the training captions (``workdir/tokenizer``);
3. GPT-2 from ``model.gpt2.path`` or a random one from the config there, the mapping
   network, and Keras ``fit`` with :class:`CaptionLmTrainer` (AdamW, linear warmup and
   decay, optional gradient clipping and mixed precision); an atomic checkpoint and a
   backup every epoch (rerunning resumes), TensorBoard logs, validation loss and a few
   sample captions every ``train.sample_every`` epochs;
4. the model dir (with the CLIP inside) in ``workdir/model``, then the shared
   evaluator (:func:`tfcaption.evaluation.evaluate_model.evaluate_captioner`, as the
   ``evaluate`` command runs it) on the test split's image files (``eval.decoding``,
   ``eval.batch_size``, ``eval.max_images``; CLIPScore with ``eval.clip`` when set):
   ``metrics.json`` (its metrics plus ``final_loss``, ``final_val_loss``, ...,
   ``samples``), ``predictions.jsonl`` and ``metrics.md`` in the workdir.
"""

import os

import keras

from tfcaption.backbones.clip_image_encoder import load_clip_image_encoder
from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.hparams import check_hparams
from tfcaption.models.clipcap.clipcap_builder import build_clipcap, load_or_build_gpt2
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.models.clipcap.clipcap_model_dir import save_clipcap
from tfcaption.models.clipcap.clipcap_settings import (SETTINGS, gpt2_settings,
                                                    optimizer_steps, validate)
from tfcaption.models.clipcap.clipcap_settings import (  # noqa: F401  (the trainer contract)
    check_data)
from tfcaption.training.adamw import build_adamw
from tfcaption.training.caption_lm_trainer import build_trainer, prefix_example_batch
from tfcaption.training.caption_tokenizer import caption_tokenizer
from tfcaption.training.resumable_fit import resumable_fit
from tfcaption.training.sample_captions import SampleCaptions
from tfcaption.training.split_features import cache_split_features, eval_features
from tfcaption.training.test_split_report import finish_captioner_run


def _pipeline(hparams, split, tokenizer, features_dir, shuffle, pairing):
    data = hparams["data"]
    return CaptionPipeline(data["dir"], split=split, mode="train", features_dir=features_dir,
                           tokenize=tokenizer.tokenize, max_length=data["max_length"],
                           end_id=tokenizer.end_token_id, pad_id=tokenizer.end_token_id,
                           pairing=pairing, shuffle_buffer=20000 if shuffle else 0,
                           seed=hparams["train"]["seed"])


def _inputs(batch):
    return {"prefix": batch["features"], "token_ids": batch["token_ids"],
            "padding_mask": batch["padding_mask"]}


def run(hparams, workdir, extra_callbacks=()):
    """Trains, evaluates and saves; returns the metrics (also in ``metrics.json``).
    ``hparams`` are checked against :data:`SETTINGS` (defaults filled in) first."""
    hparams = check_hparams(hparams, SETTINGS)
    validate(hparams)
    data, train = hparams["data"], hparams["train"]
    keras.utils.set_random_seed(train["seed"])
    encoder = load_clip_image_encoder(hparams["model"]["clip"])
    features_dir = data["features_dir"] or os.path.join(workdir, "features")
    prefix_dim = cache_split_features(encoder, data, features_dir,
                                      verbose=1 if train["verbose"] else 0)
    gpt_settings = gpt2_settings(hparams["model"]["gpt2"])
    pretrained = load_or_build_gpt2(gpt_settings) if gpt_settings.get("path") else None
    tokenizer = caption_tokenizer(hparams, workdir, pretrained and pretrained.tokenizer)
    gpt2 = pretrained or load_or_build_gpt2(gpt_settings, tokenizer.vocabulary_size())
    model = build_clipcap(hparams["model"], prefix_dim, gpt2.model)
    captioner = ClipCapCaptioner(model, tokenizer, image_encoder=encoder,
                                 jit_compile=train["jit_compile"])

    train_pipe = _pipeline(hparams, data["train_split"], tokenizer, features_dir, True,
                           data["pairing"])
    val_pipe = _pipeline(hparams, data["val_split"], tokenizer, features_dir, False, "sample")
    train_ds = train_pipe.dataset(train["batch_size"]).map(_inputs)
    val_ds = val_pipe.dataset(train["batch_size"], drop_remainder=False).map(_inputs)
    trainer = build_trainer(model, build_adamw(train, optimizer_steps(hparams)),
                            prefix_example_batch(prefix_dim, data["max_length"]),
                            train["jit_compile"])

    sample_feats, sample_ids, sample_refs = eval_features(
        data, data["val_split"], features_dir, train["num_samples"])
    samples = SampleCaptions(lambda x: captioner.generate(x, "greedy"), sample_feats,
                             sample_ids, sample_refs, every=train["sample_every"])
    history = resumable_fit(trainer, train_ds, workdir, train["epochs"], [samples],
                            extra_callbacks, validation_data=val_ds,
                            verbose=train["verbose"], shuffle=False)  # the pipeline shuffles
    return finish_captioner_run(captioner, save_clipcap, history, hparams, workdir)
