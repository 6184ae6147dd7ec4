"""The word tokenisation of the diversity metrics.

A caption is lower-cased, every punctuation character (Unicode category ``P*``:
``.,;:!?'"-()[]...``) is deleted, and the rest is split on whitespace. So
``"A dog's ball."`` -> ``["a", "dogs", "ball"]`` and ``"black-and-white"`` ->
``["blackandwhite"]``. Two captions are "the same" when their word lists are equal.
"""

import unicodedata
from typing import List


def caption_words(caption: str) -> List[str]:
    """Lower-cased words of ``caption`` with punctuation characters removed."""
    if not isinstance(caption, str):
        raise TypeError(f"caption must be a string, got {type(caption).__name__}")
    kept = "".join(c for c in caption.lower() if not unicodedata.category(c).startswith("P"))
    return kept.split()


def normalize_caption(caption: str) -> str:
    """``caption_words`` joined by single spaces: the form captions are compared in."""
    return " ".join(caption_words(caption))
