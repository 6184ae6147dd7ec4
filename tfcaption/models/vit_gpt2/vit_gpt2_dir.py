"""Reads and writes a ViT-GPT2 model dir.

Layout (see :mod:`tfcaption.backbones.model_dir`)::

    config.json          tfcaption_model_type "vit_gpt2", the serialised VitGpt2Model (ViT
                         and GPT-2 with cross-attention), the ViT image preprocessing, and
                         {"max_length", "decoder_start_token_id", "eos_token_id",
                          "pad_token_id", "converted_from" (for converted checkpoints)}
    model.weights.h5     the weights (the ViT's included: it is fine-tuned with the decoder)
    vocab.json, merges.txt   the GPT-2 tokenizer
"""

from tfcaption.backbones.model_dir import check_tokenizer_fits
from tfcaption.models.encoder_decoder_dir import load_encoder_decoder, save_encoder_decoder
from tfcaption.models.vit_gpt2.vit_gpt2_captioner import VitGpt2Captioner
from tfcaption.models.vit_gpt2.vit_gpt2_checkpoint import SpecialTokens
from tfcaption.models.vit_gpt2.vit_gpt2_model import VitGpt2Model
from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer


def save_vit_gpt2(captioner: VitGpt2Captioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    return save_encoder_decoder(captioner, out_dir, extra_config)


def _tokenizer(path, model, preprocessor):
    return check_tokenizer_fits(load_gpt2_tokenizer(path), model.decoder.vocabulary_size, path)


def load_vit_gpt2(path, jit_compile=True) -> VitGpt2Captioner:
    """A ``vit_gpt2`` model dir -> :class:`VitGpt2Captioner`; errors name the file."""
    return load_encoder_decoder(path, VitGpt2Captioner, VitGpt2Model, SpecialTokens,
                                _tokenizer, default_pad=None, jit_compile=jit_compile)
