"""Reads and writes a ClipCap model dir.

Layout (see :mod:`tfcaption.models.captioner_dir`)::

    config.json          tfcaption_model_type "clipcap", the serialised ClipCapModel, the
                         image preprocessing, and {"stop_token_ids", "strip_token_ids",
                         "image_encoder", "prefix_dim", ...}
    model.weights.h5     mapper + GPT-2 weights
    vocab.json, merges.txt   the GPT-2 tokenizer
    image_encoder/       optional: the CLIP image encoder, itself a backbone model dir
                         (``clip`` or ``clip_resnet``)
"""

from tfcaption.backbones.model_dir import check_tokenizer_fits
from tfcaption.models.captioner_dir import load_captioner_dir, save_captioner_dir
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.models.clipcap.clipcap_model import ClipCapModel
from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer

MODEL_TYPE = ClipCapCaptioner.model_type


def save_clipcap(captioner: ClipCapCaptioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    config = {"prefix_dim": captioner.model.prefix_dim,
              "prefix_length": captioner.model.prefix_length,
              "stop_token_ids": list(captioner.stop_token_ids),
              "strip_token_ids": list(captioner.strip_token_ids),
              **(extra_config or {})}
    return save_captioner_dir(captioner, out_dir, captioner.model, config,
                              write_extra=captioner.tokenizer.save_to_directory)


def load_clipcap(path, jit_compile=True, weights_dtype=None) -> ClipCapCaptioner:
    """A ClipCap model dir (from training or conversion) -> :class:`ClipCapCaptioner`
    (``weights_dtype``: see :class:`ClipCapCaptioner`)."""
    model, config, encoder = load_captioner_dir(path, MODEL_TYPE, ClipCapModel)
    tokenizer = check_tokenizer_fits(load_gpt2_tokenizer(path), model.vocabulary_size, path)
    return ClipCapCaptioner(model, tokenizer, image_encoder=encoder,
                            stop_token_ids=config.get("stop_token_ids"),
                            strip_token_ids=config.get("strip_token_ids"),
                            jit_compile=jit_compile, weights_dtype=weights_dtype)
