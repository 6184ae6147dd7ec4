"""``model.type = "clip"``: contrastive training of a small CLIP from scratch.

Steps: a CLIP BPE is trained on the training captions (unless ``tokenizer.dir`` names
one), a :class:`ClipModel` is built from ``model``, trained with
:class:`ContrastiveClip` under Keras ``fit`` (AdamW, warmup + cosine decay, gradient
clipping; an atomic checkpoint every epoch, resume from ``workdir/backup``), evaluated by
image->text retrieval on the test split and saved as a model dir in ``workdir/model``
that :func:`tfcaption.backbones.clip_loader.load_clip` reads.

``train.hard_negative_groups`` (optional): attribute word groups; each caption then also
gets a hard negative with one attribute word swapped within its group (see
:class:`~tfcaption.data.attribute_swap.AttributeSwap`), which every image is scored
against, so the image embedding has to carry those attributes.
"""

import json
import logging
import os

import keras
import numpy as np
import tensorflow as tf

from tfcaption.backbones.clip_loader import save_clip
from tfcaption.backbones.clip_model import ClipModel
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.data.attribute_swap import AttributeSwap
from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl
from tfcaption.file_io import atomic_write_text
from tfcaption.hparams import check_hparams
from tfcaption.data.image_preprocessor import ImagePreprocessor
from tfcaption.models.clip.clip_settings import SETTINGS, check_model, validate
from tfcaption.models.clip.clip_settings import check_data  # noqa: F401  (the trainer contract)
from tfcaption.models.clip.contrastive_clip import ContrastiveClip
from tfcaption.models.clip.retrieval import retrieval_recall
from tfcaption.tokenizers.clip_bpe_trainer import train_clip_bpe
from tfcaption.tokenizers.clip_tokenizer import load_clip_tokenizer
from tfcaption.training.resumable_fit import resumable_fit


def _tokenizer(hparams, workdir):
    settings = hparams["tokenizer"]
    if settings["dir"]:
        return load_clip_tokenizer(settings["dir"])
    out = os.path.join(workdir, "tokenizer")
    if not os.path.isfile(os.path.join(out, "merges.txt")):
        records = read_captions_jsonl(os.path.join(hparams["data"]["dir"], CAPTIONS_FILE))
        texts = [c for r in records if r["split"] == hparams["data"]["train_split"]
                 for c in r["captions"]]
        train_clip_bpe(texts, out, vocab_size=settings["vocab_size"],
                       min_frequency=settings["min_frequency"])
    return load_clip_tokenizer(out)


def clip_model_arguments(model_hparams, tokenizer, source="hparams"):
    """``model`` hparams -> the :class:`ClipModel` constructor arguments (the keys of its
    ``vision_type`` checked by :func:`check_model`)."""
    m = model_hparams
    vision_type = check_model(m, source)
    if vision_type == "vit":
        vision = dict(vision_patch_size=m["patch_size"], vision_hidden_dim=m["vision_hidden_dim"],
                      vision_num_layers=m["vision_num_layers"],
                      vision_num_heads=m["vision_num_heads"],
                      vision_intermediate_dim=m["vision_intermediate_dim"])
    else:
        vision = dict(vision_type="resnet", vision_stage_blocks=list(m["vision_stage_blocks"]),
                      vision_width=m["vision_width"], vision_heads=m.get("vision_heads"))
    return dict(
        vision, vision_image_size=m["image_size"],
        text_vocabulary_size=tokenizer.vocabulary_size(), text_embedding_dim=m["text_hidden_dim"],
        text_hidden_dim=m["text_hidden_dim"], text_num_layers=m["text_num_layers"],
        text_num_heads=m["text_num_heads"], text_intermediate_dim=m["text_intermediate_dim"],
        text_max_sequence_length=m["max_sequence_length"], projection_dim=m["projection_dim"],
        eos_token_id=tokenizer.end_token_id)


def _pipeline(hparams, split, tokenizer, preprocessor, shuffle):
    data, train = hparams["data"], hparams["train"]
    return CaptionPipeline(
        data["dir"], split=split, mode="train", preprocessor=preprocessor,
        tokenize=tokenizer.tokenize, max_length=hparams["model"]["max_sequence_length"],
        start_id=tokenizer.start_token_id, end_id=tokenizer.end_token_id,
        pad_id=tokenizer.end_token_id, shuffle_buffer=2048 if shuffle else 0,
        seed=train["seed"], cache=True)


def _inputs_only(batch):
    return {"images": batch["images"], "token_ids": batch["token_ids"]}


def _inputs_fn(hparams, tokenizer):
    """Batch -> model inputs; with ``train.hard_negative_groups``, plus one hard-negative
    caption per image (an attribute word swapped, see ``AttributeSwap``)."""
    groups = hparams["train"]["hard_negative_groups"]
    if not groups:
        return _inputs_only
    swap = AttributeSwap(groups, seed=hparams["train"]["seed"])
    length = hparams["model"]["max_sequence_length"]

    def inputs(batch):
        negatives, swapped = swap(batch["captions"])
        return dict(_inputs_only(batch), negative_token_ids=tokenizer.pack(negatives, length),
                    negative_mask=swapped)

    return inputs


def _optimizer(train, steps):
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(1, steps - train["warmup_steps"]), alpha=0.0,
        warmup_target=train["learning_rate"], warmup_steps=train["warmup_steps"])
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=train["weight_decay"],
                                       clipnorm=train["clipnorm"])
    optimizer.exclude_from_weight_decay(
        var_names=["bias", "gamma", "beta", "logit_scale", "embedding"])
    return optimizer


def evaluate_retrieval(clip, tokenizer, preprocessor, data_dir, split, max_length,
                       batch_size=64):
    """Image->text recall with each image's first reference as the candidate set."""
    pipeline = CaptionPipeline(data_dir, split=split, mode="eval", preprocessor=preprocessor)
    images, texts = [], []
    for batch in pipeline.dataset(batch_size):
        images.append(clip.encode_image(batch["images"]).numpy())
        texts.extend(c.decode("utf-8") for c in batch["captions"][:, 0].numpy())
    ids = tokenizer.pack(tf.constant(texts), max_length)
    text_embeds = np.concatenate([clip.encode_text(ids[i:i + batch_size]).numpy()
                                  for i in range(0, len(ids), batch_size)])
    return retrieval_recall(np.concatenate(images), text_embeds)


def run(hparams, workdir, extra_callbacks=()):
    """Trains, evaluates and saves; returns the test metrics. ``extra_callbacks`` are
    appended to the Keras callbacks (progress hooks, early stopping, ...). ``hparams`` are
    checked against :data:`SETTINGS` (defaults filled in) first."""
    hparams = check_hparams(hparams, SETTINGS)
    validate(hparams)
    train = hparams["train"]
    keras.utils.set_random_seed(train["seed"])
    tokenizer = _tokenizer(hparams, workdir)
    preprocessor = ImagePreprocessor("clip", hparams["model"]["image_size"])
    arguments = clip_model_arguments(hparams["model"], tokenizer)
    clip = ClipModel(**arguments)
    model = ContrastiveClip(clip)
    train_pipe = _pipeline(hparams, hparams["data"]["train_split"], tokenizer, preprocessor, True)
    val_pipe = _pipeline(hparams, hparams["data"]["val_split"], tokenizer, preprocessor, False)
    inputs = _inputs_fn(hparams, tokenizer)
    train_ds = train_pipe.dataset(train["batch_size"]).map(inputs)
    val_ds = val_pipe.dataset(train["batch_size"], drop_remainder=True).map(inputs)
    steps = len(train_pipe.records) // train["batch_size"] * train["epochs"]
    model.compile(optimizer=_optimizer(train, steps), jit_compile=train["jit_compile"])
    size, length = hparams["model"]["image_size"], hparams["model"]["max_sequence_length"]
    model({"images": tf.zeros([2, size, size, 3]),  # built, so a backup can be restored
           "token_ids": tf.fill([2, length], tokenizer.end_token_id)})
    model.optimizer.build(model.trainable_variables)
    history = resumable_fit(model, train_ds, workdir, train["epochs"],
                            extra_callbacks=extra_callbacks, validation_data=val_ds,
                            verbose=train["verbose"], shuffle=False)  # the pipeline shuffles
    metrics = evaluate_retrieval(clip, tokenizer, preprocessor, hparams["data"]["dir"],
                                 hparams["data"]["test_split"],
                                 hparams["model"]["max_sequence_length"])
    metrics["final_train_loss"] = float(history.history["loss"][-1]) if history.history else None
    loaded = LoadedBackbone(model=clip, model_type="clip", preprocessor=preprocessor,
                            tokenizer=tokenizer, config=arguments)
    save_clip(loaded, os.path.join(workdir, "model"))
    atomic_write_text(os.path.join(workdir, "metrics.json"), json.dumps(metrics, indent=2))
    logging.info("test retrieval: %s", metrics)
    return metrics
