"""Scores a generated caption against a ``shapes`` record's structured ground truth."""

import collections
import re
from typing import Dict, Iterable, List, Mapping

from tfcaption.data.shapes import COLOURS, SHAPES

_WORD = re.compile(r"[a-z]+")


def mentions(caption: str) -> List[tuple]:
    """(colour, shape) pairs named in the caption: a colour word directly before a shape word."""
    words = _WORD.findall(caption.lower())
    found = []
    for i, w in enumerate(words):
        if w in SHAPES or (w.endswith("s") and w[:-1] in SHAPES):
            shape = w if w in SHAPES else w[:-1]
            colour = words[i - 1] if i > 0 and words[i - 1] in COLOURS else None
            found.append((colour, shape))
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
