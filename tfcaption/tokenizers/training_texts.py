"""Checks the inputs shared by the BPE trainers."""

from typing import Iterable, List


def check_training_texts(texts: Iterable[str], min_frequency: int) -> List[str]:
    """Returns ``texts`` as a list of ``str`` (bytes decoded as UTF-8), after checking
    that ``min_frequency >= 1``, that ``texts`` is an iterable of strings (not one
    string) and that some text is non-empty."""
    if min_frequency < 1:
        raise ValueError(f"min_frequency={min_frequency}: must be >= 1")
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be an iterable of strings, not a single string")
    checked = []
    for i, text in enumerate(texts):
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
        checked.append(text)
    if not any(checked):
        raise ValueError("texts is empty: nothing to train a BPE on")
    return checked
