"""Reads and writes an ATTEND-GAN generator model dir (tfcaption_model_type ``attend_gan``;
layout: :mod:`tfcaption.models.word_captioner_dir`)."""

from tfcaption.models.attend_gan.attend_gan_captioner import AttendGanCaptioner
from tfcaption.models.word_captioner_dir import load_word_captioner, save_word_captioner


def save_attend_gan(captioner: AttendGanCaptioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    return save_word_captioner(captioner, out_dir, extra_config)


def load_attend_gan(path, jit_compile=True, attention_dir=None) -> AttendGanCaptioner:
    """An ``attend_gan`` model dir -> :class:`AttendGanCaptioner` (``attention_dir``: where
    captioning image files writes attention figures)."""
    return load_word_captioner(path, AttendGanCaptioner, jit_compile,
                               attention_dir=attention_dir)
