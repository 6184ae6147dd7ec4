"""Corpus sentence formats for CgT-GAN (plain Python, applied when a corpus is read)."""

import re

SENTENCE_FORMATS = ("as_is", "sentence")
_FINAL_PUNCTUATION = re.compile(r"\s*[.!?,;:]\s*$")


def as_sentence(text):
    """The reference's corpus form: stripped, one trailing punctuation mark removed, the
    first letter capitalised and ``"."`` appended (``"a man riding a horse ,"`` ->
    ``"A man riding a horse."``)."""
    text = _FINAL_PUNCTUATION.sub("", text.strip())
    return (text[:1].upper() + text[1:] + ".") if text else text


def format_sentences(texts, sentence_format):
    """``"as_is"`` keeps the texts; ``"sentence"`` applies :func:`as_sentence`."""
    if sentence_format == "as_is":
        return list(texts)
    if sentence_format == "sentence":
        return [as_sentence(t) for t in texts]
    raise ValueError(f"corpus sentence_format {sentence_format!r} is not one of "
                     f"{SENTENCE_FORMATS}")
