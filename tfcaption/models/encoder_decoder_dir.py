"""Reads and writes the model dir of an encoder-decoder family (ViT-GPT2, Pix2Struct): the
model, its image preprocessing, the special tokens, the default ``max_length`` and the
tokenizer files (see :mod:`tfcaption.backbones.model_dir`)."""

from tfcaption.backbones.model_dir import load_model_dir, save_model_dir

PROVENANCE_KEYS = ("converted_from",)  # kept when a loaded model dir is saved again
TOKEN_KEYS = ("decoder_start_token_id", "eos_token_id")


def save_encoder_decoder(captioner, out_dir, extra_config=None) -> str:
    """Writes an :class:`EncoderDecoderCaptioner` as a model dir (atomically; its
    tokenizer's ``save_to_directory`` adds the tokenizer files); returns its path."""
    tokens = captioner.tokens
    config = {**captioner.provenance, "max_length": captioner.max_length,
              "decoder_start_token_id": tokens.decoder_start, "eos_token_id": tokens.eos,
              "pad_token_id": tokens.pad, **(extra_config or {})}
    return save_model_dir(out_dir, captioner.model_type, captioner.model,
                          preprocessor=captioner.preprocessor, config=config,
                          write_extra=captioner.tokenizer.save_to_directory)


def load_encoder_decoder(path, captioner_class, model_class, tokens_class, load_tokenizer,
                         default_pad, jit_compile=True):
    """A model dir of ``captioner_class.model_type`` -> ``captioner_class(model,
    load_tokenizer(path, model, preprocessor), tokens, preprocessor, max_length=...)``;
    errors name the file. ``load_tokenizer`` also checks that the tokenizer and the
    preprocessing fit the model."""
    model, _, preprocessor, config = load_model_dir(path, {captioner_class.model_type},
                                                   model_class)
    if preprocessor is None:
        raise ValueError(f"{path}/config.json: a {captioner_class.model_type} model dir needs "
                         f"its image preprocessing")
    missing = [k for k in TOKEN_KEYS if k not in config]
    if missing:
        raise ValueError(f"{path}/config.json: config is missing {missing}")
    tokenizer = load_tokenizer(path, model, preprocessor)
    eos = int(config["eos_token_id"])
    tokens = tokens_class(decoder_start=int(config["decoder_start_token_id"]), eos=eos,
                          pad=int(config.get("pad_token_id", eos if default_pad is None
                                             else default_pad)))
    captioner = captioner_class(model, tokenizer, tokens, preprocessor,
                                max_length=config.get("max_length"), jit_compile=jit_compile)
    captioner.provenance = {k: config[k] for k in PROVENANCE_KEYS if k in config}
    return captioner
