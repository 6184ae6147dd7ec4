"""Reads and writes a Show-and-Tell model dir (tfcaption_model_type ``show_tell``; layout:
:mod:`tfcaption.models.word_captioner_dir`)."""

from tfcaption.models.show_tell.show_tell_captioner import ShowTellCaptioner
from tfcaption.models.word_captioner_dir import load_word_captioner, save_word_captioner


def save_show_tell(captioner: ShowTellCaptioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    return save_word_captioner(captioner, out_dir, extra_config)


def load_show_tell(path, jit_compile=True) -> ShowTellCaptioner:
    """A ``show_tell`` model dir -> :class:`ShowTellCaptioner`."""
    return load_word_captioner(path, ShowTellCaptioner, jit_compile)
