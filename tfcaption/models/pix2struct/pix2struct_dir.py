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

from tfcaption.data.patch_preprocessor import PatchPreprocessor
from tfcaption.models.encoder_decoder_dir import load_encoder_decoder, save_encoder_decoder
from tfcaption.models.pix2struct.pix2struct_captioner import Pix2StructCaptioner
from tfcaption.models.pix2struct.pix2struct_checkpoint import SpecialTokens
from tfcaption.models.pix2struct.pix2struct_convert import check_fits
from tfcaption.models.pix2struct.pix2struct_model import Pix2StructModel
from tfcaption.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer


def save_pix2struct(captioner: Pix2StructCaptioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    return save_encoder_decoder(captioner, out_dir, extra_config)


def _tokenizer(path, model, preprocessor):
    if not isinstance(preprocessor, PatchPreprocessor):
        raise ValueError(f"{path}/config.json: a pix2struct model dir needs its patch "
                         f"preprocessing (preprocessor policy 'patches'), got "
                         f"{preprocessor.get_config()}")
    tokenizer = SentencePieceTokenizer.load(path)
    check_fits(model, tokenizer, preprocessor, path)
    return tokenizer


def load_pix2struct(path, jit_compile=True) -> Pix2StructCaptioner:
    """A ``pix2struct`` model dir -> :class:`Pix2StructCaptioner`; errors name the file."""
    return load_encoder_decoder(path, Pix2StructCaptioner, Pix2StructModel, SpecialTokens,
                                _tokenizer, default_pad=0, jit_compile=jit_compile)
