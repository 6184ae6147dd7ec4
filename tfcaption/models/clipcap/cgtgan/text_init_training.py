"""``model.type = "clipcap_text"``: CgT-GAN's text-only initialisation of the generator.

A ClipCap captioner learns to write each corpus sentence from the sentence's own CLIP
*text* embedding (no image is seen; raw embeddings, no noise, as the reference). Since
CLIP puts an image and its description close together, the same captioner then captions
CLIP *image* embeddings, roughly; GAN training (``model.type = "cgtgan"``) refines it.

Steps:

1. the corpus sentences and embeddings from ``data.corpus_embeddings`` (written by
   ``python -m tfcaption.embed_corpus``);
2. the tokenizer: ``tokenizer.dir``, else the GPT-2 checkpoint's, else a GPT-2-format
   BPE trained on the corpus (``workdir/tokenizer``);
3. GPT-2 (``model.gpt2``) and the mapping network, trained with the masked caption loss
   (:class:`CaptionLmTrainer`, AdamW from :func:`build_adamw`: ``train.schedule``
   ``"constant"`` is the reference's constant-with-warmup); an atomic checkpoint and a
   backup every epoch (rerunning resumes);
4. the model dir (with ``model.clip`` as its image encoder) in ``workdir/model``, then the
   shared evaluator on the image test split of ``data.dir`` (``metrics.json``,
   ``predictions.jsonl``, ``metrics.md``).
"""

import keras
import numpy as np
import tensorflow as tf

from tfcaption.backbones.clip_image_encoder import load_clip_image_encoder
from tfcaption.data.caption_tokens import pad_tokens
from tfcaption.hparams import check_hparams
from tfcaption.models.clipcap.cgtgan.corpus_embedding import read_corpus
from tfcaption.models.clipcap.cgtgan.text_init_settings import SETTINGS, validate
from tfcaption.models.clipcap.cgtgan.text_init_settings import (  # noqa: F401  (the trainer contract)
    check_data)
from tfcaption.models.clipcap.clipcap_builder import build_clipcap, load_or_build_gpt2
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.models.clipcap.clipcap_model_dir import save_clipcap
from tfcaption.models.clipcap.clipcap_settings import gpt2_settings
from tfcaption.training.adamw import build_adamw
from tfcaption.training.caption_lm_trainer import build_trainer, prefix_example_batch
from tfcaption.training.caption_tokenizer import caption_tokenizer
from tfcaption.training.resumable_fit import resumable_fit
from tfcaption.training.test_split_report import finish_captioner_run


def text_dataset(texts, embeddings, tokenizer, max_length, batch_size, seed):
    """Shuffled ``{"prefix", "token_ids", "padding_mask"}`` batches: each sentence's CLIP
    text embedding and its ids ending with the end token."""
    end = tokenizer.end_token_id

    def encode(text, embedding):
        ids, mask = pad_tokens(tokenizer.tokenize(text), max_length, pad_id=end, end_id=end)
        return {"prefix": embedding, "token_ids": ids, "padding_mask": mask}

    ds = tf.data.Dataset.from_tensor_slices((tf.constant(texts), embeddings.astype(np.float32)))
    ds = ds.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    return ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE).batch(
        batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def run(hparams, workdir, extra_callbacks=()):
    """Trains on the corpus, evaluates on the images; returns the metrics. ``hparams`` are
    checked against :data:`SETTINGS` (defaults filled in) first."""
    hparams = check_hparams(hparams, SETTINGS)
    validate(hparams)
    data, train = hparams["data"], hparams["train"]
    keras.utils.set_random_seed(train["seed"])
    texts, embeddings = read_corpus(data["corpus_embeddings"])
    gpt_settings = gpt2_settings(hparams["model"]["gpt2"])
    pretrained = load_or_build_gpt2(gpt_settings) if gpt_settings.get("path") else None
    tokenizer = caption_tokenizer(hparams, workdir, pretrained and pretrained.tokenizer,
                                  lambda: texts)
    gpt2 = pretrained or load_or_build_gpt2(gpt_settings, tokenizer.vocabulary_size())
    model_settings = {k: v for k, v in hparams["model"].items() if k != "type"}
    model = build_clipcap(model_settings, embeddings.shape[1], gpt2.model)
    steps = len(texts) // train["batch_size"]
    trainer = build_trainer(model, build_adamw(train, steps * train["epochs"]),
                            prefix_example_batch(embeddings.shape[1], data["max_length"]),
                            train["jit_compile"])
    history = resumable_fit(trainer, text_dataset(texts, embeddings, tokenizer,
                                                  data["max_length"], train["batch_size"],
                                                  train["seed"]),
                            workdir, train["epochs"], extra_callbacks=extra_callbacks,
                            verbose=train["verbose"], shuffle=False)  # text_dataset shuffles

    encoder = load_clip_image_encoder(hparams["model"]["clip"])
    captioner = ClipCapCaptioner(model, tokenizer, image_encoder=encoder,
                                 jit_compile=train["jit_compile"])
    return finish_captioner_run(captioner, save_clipcap, history, hparams, workdir)
