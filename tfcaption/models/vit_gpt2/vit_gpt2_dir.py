"""Reads and writes a ViT-GPT2 model dir.

Layout (see :mod:`tfcaption.backbones.model_dir`)::

    config.json          tfcaption_model_type "vit_gpt2", the serialised VitGpt2Model (ViT
                         and GPT-2 with cross-attention), the ViT image preprocessing, and
                         {"max_length", "decoder_start_token_id", "eos_token_id",
                          "pad_token_id", "converted_from" (for converted checkpoints)}
    model.weights.h5     the weights (the ViT's included: it is fine-tuned with the decoder)
    vocab.json, merges.txt   the GPT-2 tokenizer
"""

from tfcaption.backbones.model_dir import check_tokenizer_fits, load_model_dir, save_model_dir
from tfcaption.models.vit_gpt2.vit_gpt2_captioner import DEFAULT_MAX_LENGTH, VitGpt2Captioner
from tfcaption.models.vit_gpt2.vit_gpt2_checkpoint import SpecialTokens
from tfcaption.models.vit_gpt2.vit_gpt2_model import VitGpt2Model
from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer

PROVENANCE_KEYS = ("converted_from",)  # kept when a loaded model dir is saved again


def save_vit_gpt2(captioner: VitGpt2Captioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    tokens = captioner.tokens
    config = {**captioner.provenance, "max_length": captioner.max_length,
              "decoder_start_token_id": tokens.decoder_start, "eos_token_id": tokens.eos,
              "pad_token_id": tokens.pad, **(extra_config or {})}
    return save_model_dir(out_dir, VitGpt2Captioner.model_type, captioner.model,
                          preprocessor=captioner.preprocessor, config=config,
                          write_extra=captioner.tokenizer.save_to_directory)


def load_vit_gpt2(path, jit_compile=True) -> VitGpt2Captioner:
    """A ``vit_gpt2`` model dir -> :class:`VitGpt2Captioner`; errors name the file."""
    model, _, preprocessor, config = load_model_dir(path, {VitGpt2Captioner.model_type},
                                                   VitGpt2Model)
    if preprocessor is None:
        raise ValueError(f"{path}/config.json: a vit_gpt2 model dir needs its image "
                         f"preprocessor")
    missing = [k for k in ("decoder_start_token_id", "eos_token_id") if k not in config]
    if missing:
        raise ValueError(f"{path}/config.json: config is missing {missing}")
    tokenizer = check_tokenizer_fits(load_gpt2_tokenizer(path),
                                     model.decoder.vocabulary_size, path)
    tokens = SpecialTokens(decoder_start=int(config["decoder_start_token_id"]),
                           eos=int(config["eos_token_id"]),
                           pad=int(config.get("pad_token_id", config["eos_token_id"])))
    captioner = VitGpt2Captioner(model, tokenizer, tokens, preprocessor,
                                 max_length=config.get("max_length", DEFAULT_MAX_LENGTH),
                                 jit_compile=jit_compile)
    captioner.provenance = {k: config[k] for k in PROVENANCE_KEYS if k in config}
    return captioner
