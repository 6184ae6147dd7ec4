"""Reads and writes a gated GRU captioner model dir, the WGAN-GP captioner's generator
(tfcaption_model_type ``wgan_gru``; layout: :mod:`tfcaption.models.word_captioner_dir`)."""

from tfcaption.models.wgan.gru_captioner import GruCaptioner
from tfcaption.models.word_captioner_dir import load_word_captioner, save_word_captioner


def save_gru_captioner(captioner: GruCaptioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    return save_word_captioner(captioner, out_dir, extra_config)


def load_gru_captioner(path, jit_compile=True) -> GruCaptioner:
    """A ``wgan_gru`` model dir -> :class:`GruCaptioner`."""
    return load_word_captioner(path, GruCaptioner, jit_compile)
