"""Reads and writes a Pix2Struct model dir.

Layout (see :mod:`tfcaption.backbones.model_dir`)::

    config.json        tfcaption_model_type "pix2struct", the serialised Pix2StructModel,
                       the patch preprocessing ({"policy": "patches", "max_patches",
                       "patch_size", "normalize"}) and {"max_length",
                       "decoder_start_token_id", "eos_token_id", "pad_token_id",
                       "converted_from" (for converted checkpoints)}
    model.weights.h5   the weights (encoder and decoder)
    spiece.model       the SentencePiece tokenizer
"""

from tfcaption.backbones.model_dir import load_model_dir, save_model_dir
from tfcaption.data.patch_preprocessor import PatchPreprocessor
from tfcaption.models.pix2struct.pix2struct_captioner import (DEFAULT_MAX_LENGTH,
                                                              Pix2StructCaptioner)
from tfcaption.models.pix2struct.pix2struct_checkpoint import SpecialTokens
from tfcaption.models.pix2struct.pix2struct_convert import check_fits
from tfcaption.models.pix2struct.pix2struct_model import Pix2StructModel
from tfcaption.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

PROVENANCE_KEYS = ("converted_from",)  # kept when a loaded model dir is saved again


def save_pix2struct(captioner: Pix2StructCaptioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    tokens = captioner.tokens
    config = {**captioner.provenance, "max_length": captioner.max_length,
              "decoder_start_token_id": tokens.decoder_start, "eos_token_id": tokens.eos,
              "pad_token_id": tokens.pad, **(extra_config or {})}
    return save_model_dir(out_dir, Pix2StructCaptioner.model_type, captioner.model,
                          preprocessor=captioner.preprocessor, config=config,
                          write_extra=captioner.tokenizer.save_to_directory)


def load_pix2struct(path, jit_compile=True) -> Pix2StructCaptioner:
    """A ``pix2struct`` model dir -> :class:`Pix2StructCaptioner`; errors name the file."""
    model, _, preprocessor, config = load_model_dir(path, {Pix2StructCaptioner.model_type},
                                                   Pix2StructModel)
    if not isinstance(preprocessor, PatchPreprocessor):
        raise ValueError(f"{path}/config.json: a pix2struct model dir needs its patch "
                         f"preprocessing (preprocessor policy 'patches'), got "
                         f"{preprocessor and preprocessor.get_config()}")
    missing = [k for k in ("decoder_start_token_id", "eos_token_id") if k not in config]
    if missing:
        raise ValueError(f"{path}/config.json: config is missing {missing}")
    tokenizer = SentencePieceTokenizer.load(path)
    check_fits(model, tokenizer, preprocessor, path)
    tokens = SpecialTokens(decoder_start=int(config["decoder_start_token_id"]),
                           eos=int(config["eos_token_id"]),
                           pad=int(config.get("pad_token_id", 0)))
    captioner = Pix2StructCaptioner(model, tokenizer, tokens, preprocessor,
                                    max_length=config.get("max_length", DEFAULT_MAX_LENGTH),
                                    jit_compile=jit_compile)
    captioner.provenance = {k: config[k] for k in PROVENANCE_KEYS if k in config}
    return captioner
