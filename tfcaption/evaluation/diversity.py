"""Diversity of generated captions (pure Python).

Words come from :func:`~tfcaption.evaluation.caption_words.caption_words` (lower-case,
punctuation removed, split on whitespace). n-grams never cross caption boundaries.

- ``distinct_n``: unique n-grams / total n-grams over all captions (0.0 when there is
  no n-gram at all, e.g. only one-word captions for n = 2);
- ``vocab_size``: number of distinct words used; ``mean_length``: mean words per caption;
- ``novel_fraction``: fraction of captions whose normalised form is not among the
  normalised training captions (unavailable without training captions);
- ``most_common_caption`` / ``most_common_fraction``: the most frequent normalised
  caption (the first seen among ties) and the fraction of captions equal to it, a
  mode-collapse signal (1.0 = one caption for every image).
"""

import collections
from typing import Dict, Hashable, Iterable, List, Mapping, Optional, Sequence, Union

from tfcaption.evaluation.caption_words import caption_words, normalize_caption
from tfcaption.evaluation.unavailable import mark_unavailable

REFERENCE_MODES = ("all", "first")


def _as_list(captions, what) -> List[str]:
    if isinstance(captions, Mapping):
        items = list(captions.items())
    elif isinstance(captions, str):
        raise TypeError(f"{what}: expected several captions, got one string")
    else:
        items = list(enumerate(captions))
    for key, caption in items:
        if not isinstance(caption, str):
            raise TypeError(f"{what}[{key!r}] is a {type(caption).__name__} ({caption!r}), "
                            f"not a string")
    return [c for _, c in items]


def distinct_n(word_lists: Iterable[Sequence[str]], n: int) -> float:
    """Unique n-grams / total n-grams over ``word_lists`` (0.0 when there are none)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    total, unique = 0, set()
    for words in word_lists:
        grams = [tuple(words[k:k + n]) for k in range(len(words) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def text_statistics(captions: Sequence[str]) -> Dict[str, float]:
    """``distinct_1``, ``distinct_2``, ``vocab_size``, ``mean_length``, ``num_captions``."""
    words = [caption_words(c) for c in captions]
    if not words:
        raise ValueError("no captions to measure")
    return {"distinct_1": distinct_n(words, 1), "distinct_2": distinct_n(words, 2),
            "vocab_size": len({w for ws in words for w in ws}),
            "mean_length": sum(len(ws) for ws in words) / len(words),
            "num_captions": len(words)}


def diversity_metrics(predictions: Union[Mapping[Hashable, str], Sequence[str]],
                      training_captions: Optional[Iterable[str]] = None) -> Dict:
    """Diversity of generated captions (one per image).

    Args:
      predictions: image id -> caption, or a sequence of captions.
      training_captions: the training set's captions, for ``novel_fraction``; without
        them that metric is reported unavailable.

    Returns ``distinct_1``, ``distinct_2``, ``vocab_size``, ``mean_length``,
    ``num_captions``, ``novel_fraction``, ``most_common_caption``,
    ``most_common_fraction``.
    """
    captions = _as_list(predictions, "predictions")
    metrics = text_statistics(captions)
    normalised = [normalize_caption(c) for c in captions]
    if training_captions is None:
        mark_unavailable(metrics, "novel_fraction", "no training captions given")
    else:
        seen = {normalize_caption(c) for c in _as_list(training_captions, "training_captions")}
        metrics["novel_fraction"] = sum(c not in seen for c in normalised) / len(normalised)
    caption, count = collections.Counter(normalised).most_common(1)[0]
    metrics["most_common_caption"] = caption
    metrics["most_common_fraction"] = count / len(normalised)
    return metrics


def reference_diversity(references: Mapping[Hashable, Sequence[str]], mode: str = "all",
                        key_prefix: str = "reference_") -> Dict[str, float]:
    """``text_statistics`` of the references, to compare with the predictions'.

    ``mode="all"`` measures every reference; ``"first"`` only each image's first one
    (as many captions as predictions, the fairer comparison for distinct-n). Keys are
    prefixed with ``key_prefix`` (``reference_distinct_1``, ...) so the result can sit
    next to :func:`diversity_metrics` in one report.
    """
    if mode not in REFERENCE_MODES:
        raise ValueError(f"mode {mode!r} is not one of {REFERENCE_MODES}")
    if not isinstance(references, Mapping):
        raise TypeError(f"references must be a mapping image_id -> list of captions, got "
                        f"{type(references).__name__}")
    captions = []
    for image_id, refs in references.items():
        if isinstance(refs, str) or not isinstance(refs, Sequence):
            raise TypeError(f"references[{image_id!r}] is a {type(refs).__name__}, not a "
                            f"list of captions")
        if not refs:
            raise ValueError(f"references[{image_id!r}] is an empty list")
        chosen = _as_list(refs, f"references[{image_id!r}]")
        captions.extend(chosen[:1] if mode == "first" else chosen)
    if not captions:
        raise ValueError("references is empty: nothing to measure")
    return {key_prefix + k: v for k, v in text_statistics(captions).items()}
