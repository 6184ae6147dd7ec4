"""Reads and writes a ClipCap model dir.

Layout::

    config.json          tfcaption_model_type "clipcap", the serialised ClipCapModel, the
                         image preprocessing, and {"stop_token_ids", "strip_token_ids",
                         "image_encoder", "prefix_dim", ...}
    model.weights.h5     mapper + GPT-2 weights
    vocab.json, merges.txt   the GPT-2 tokenizer
    image_encoder/       optional: the CLIP image encoder, itself a backbone model dir
                         (``clip`` or ``clip_resnet``)
"""

import os

from tfcaption.backbones.clip_image_encoder import (load_clip_image_encoder,
                                                   save_clip_image_encoder)
from tfcaption.backbones.model_dir import (CONFIG_FILE, check_tokenizer_fits, load_model_dir,
                                           save_model_dir)
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.models.clipcap.clipcap_model import ClipCapModel
from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer

MODEL_TYPE = "clipcap"
ENCODER_DIR = "image_encoder"


def save_clipcap(captioner: ClipCapCaptioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    encoder = captioner.image_encoder
    config = {"prefix_dim": captioner.model.prefix_dim,
              "prefix_length": captioner.model.prefix_length,
              "stop_token_ids": list(captioner.stop_token_ids),
              "strip_token_ids": list(captioner.strip_token_ids),
              "image_encoder": ENCODER_DIR if encoder is not None else None,
              **(extra_config or {})}

    def write_extra(directory):
        captioner.tokenizer.save_to_directory(directory)
        if encoder is not None:
            save_clip_image_encoder(encoder, os.path.join(directory, ENCODER_DIR))

    return save_model_dir(out_dir, MODEL_TYPE, captioner.model,
                          preprocessor=captioner.preprocessor, config=config,
                          write_extra=write_extra)


def load_clipcap(path, jit_compile=True, weights_dtype=None) -> ClipCapCaptioner:
    """A ClipCap model dir (from training or conversion) -> :class:`ClipCapCaptioner`
    (``weights_dtype``: see :class:`ClipCapCaptioner`)."""
    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, CONFIG_FILE)):
        raise FileNotFoundError(f"not a ClipCap model dir: missing {os.path.join(path, CONFIG_FILE)}")
    model, _, _, config = load_model_dir(path, {MODEL_TYPE}, ClipCapModel)
    tokenizer = check_tokenizer_fits(load_gpt2_tokenizer(path), model.vocabulary_size, path)
    encoder = None
    if config.get("image_encoder"):
        encoder_dir = os.path.join(path, config["image_encoder"])
        if not os.path.isdir(encoder_dir):
            raise FileNotFoundError(f"{path}/{CONFIG_FILE} names image encoder "
                                    f"{config['image_encoder']!r} but {encoder_dir} is missing")
        encoder = load_clip_image_encoder(encoder_dir)
    return ClipCapCaptioner(model, tokenizer, image_encoder=encoder,
                            stop_token_ids=config.get("stop_token_ids"),
                            strip_token_ids=config.get("strip_token_ids"),
                            jit_compile=jit_compile, weights_dtype=weights_dtype)
