"""Scores a generated caption against a ``shapes`` record's structured ground truth."""

import collections
import re
from typing import Dict, Iterable, List, Mapping

from tfcaption.data.shapes import COLOURS, SHAPES

_WORD = re.compile(r"[a-z]+")


_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_SIZES = ("small", "large", "big")


def _shape_of(word: str):
    """(shape, plural) for a shape word, its plural ("circles", "crosses"), or None."""
    if word in SHAPES:
        return word, False
    for suffix in ("es", "s"):
        if word.endswith(suffix) and word[:-len(suffix)] in SHAPES:
            return word[:-len(suffix)], True
    return None


def mentions(caption: str) -> List[tuple]:
    """(colour, shape) pairs named in the caption, one per object named.

    A colour word directly before a shape word names that colour; a plural
    ("two red circles") names as many objects as its number word (two when none).
    """
    words = _WORD.findall(caption.lower())
    found = []
    for i, w in enumerate(words):
        shape = _shape_of(w)
        if shape is None:
            continue
        colour = words[i - 1] if i > 0 and words[i - 1] in COLOURS else None
        count = 1
        if shape[1]:
            j = i - 1 - (colour is not None)
            while j >= 0 and words[j] in _SIZES:
                j -= 1
            count = _NUMBERS.get(words[j], 2) if j >= 0 else 2
        found += [(colour, shape[0])] * count
    return found


def score_caption(caption: str, objects: List[dict]) -> Dict[str, float]:
    """Scores one caption.

    Returns ``recall`` (fraction of objects whose colour and shape are both
    named together), ``hallucinated`` (named shapes that match no object;
    a bare shape word counts when no object has that shape) and ``correct``
    (recall 1 and nothing hallucinated).
    """
    truth = collections.Counter((o["colour"], o["shape"]) for o in objects)
    named = mentions(caption)
    coloured = collections.Counter(m for m in named if m[0] is not None)
    matched = sum(min(n, truth[k]) for k, n in coloured.items())
    extra = sum(max(0, n - truth[k]) for k, n in coloured.items())
    shapes_present = {o["shape"] for o in objects}
    extra += sum(1 for c, s in named if c is None and s not in shapes_present)
    recall = matched / max(1, len(objects))
    return {"recall": recall, "hallucinated": float(extra),
            "correct": float(recall == 1.0 and extra == 0)}


def score_dataset(predictions: Mapping[str, str], records: Iterable[dict]) -> Dict[str, float]:
    """Averages ``score_caption`` over records with a prediction (keyed by image_id)."""
    totals = collections.Counter()
    n = 0
    for rec in records:
        if rec["image_id"] not in predictions:
            continue
        s = score_caption(predictions[rec["image_id"]], rec["objects"])
        totals["recall"] += s["recall"]
        totals["correct"] += s["correct"]
        totals["with_hallucination"] += float(s["hallucinated"] > 0)
        n += 1
    if n == 0:
        raise ValueError("no prediction matches a record's image_id")
    return {"object_recall": totals["recall"] / n, "all_correct": totals["correct"] / n,
            "hallucination_rate": totals["with_hallucination"] / n, "num_images": n}
