"""Scores generated captions against ``charts`` records' structured ground truth.

Captions are lower-cased and read as words; what counts:

Chart type
    A caption names a type by one of these words: ``line``, ``lines``, ``curve``,
    ``curves`` (line); ``bar``, ``bars``, ``histogram`` (bar); ``scatter``,
    ``scatterplot``, ``scattered`` (scatter). The nouns ``chart``, ``plot``, ``graph``
    carry no type, so "line plot", "line chart" and "line graph" are all a line chart.
    A caption is right when the set of types it names is exactly the chart's type.

Trend (one per image; what it checks depends on the chart type)
    line: the set of trends the caption names equals the set of the lines' trends
    (which line has which trend is not checked). The trends are read as phrases:
    a rise word (rises, rise, rising, increases, increase, increasing, grows, grow,
    growing, goes up, go up, climbs, climb) followed, at most two words later, by a
    levelling phrase (levels off, level off, levelling off, leveling off, plateaus,
    plateau, saturates, flattens out, flatten out) is "rises then levels off" ("rises
    and then levels off", "rises quickly, then plateaus"); the same with a fall word
    (falls, fall, falling, decreases, decrease, decreasing, drops, drop, dropping,
    declines, decline, declining, goes down, go down) is "falls then levels off"; any
    other rise or fall word is "rises" or "falls"; "stays flat" is named by stays /
    stay / remains / remain / is / are flat, flat, constant, unchanged, steady.
    scatter: the set of correlations named equals the chart's: ``positive`` /
    ``positively`` (positive), ``negative`` / ``negatively`` (negative), and "no
    [clear|obvious|apparent] correlation|relationship|relation|trend",
    "without [a|any] correlation...", ``uncorrelated``, "not correlated",
    ``unrelated`` (none).
    bar: the categories the caption names (as written in the legend and ticks,
    "method c") are exactly the highest one; naming another category as well is
    wrong, since the caption then lists rather than picks.

OCR copy
    Words (runs of letters) and numbers ("0.5", "2000") are tokens, for captions and
    for the strings drawn in the image (``chart["texts"]``) alike. A caption token is
    *copied* when it is drawn in the image and occurs in none of the record's
    references: reading the title or the tick numbers, not describing the chart. The
    rate is copied tokens over all caption tokens, summed over the images.
    :func:`reference_ocr_copy_rate` applies the same rule to the references
    themselves, each reference against the record's other references (leave one out),
    as the fair baseline: the rate at which a reference uses printed words that the
    other references do not.
"""

import collections
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

_TOKEN = re.compile(r"[a-z]+|\d+(?:\.\d+)?")
_TYPE_WORDS = {
    "line": r"lines?|curves?", "bar": r"bars?|histogram",
    "scatter": r"scatter|scatterplot|scatterplots|scattered",
}
_RISE = r"rises|rise|rising|increases|increase|increasing|grows|grow|growing|goes up|go up" \
        r"|climbs|climb"
_FALL = r"falls|fall|falling|decreases|decrease|decreasing|drops|drop|dropping|declines" \
        r"|decline|declining|goes down|go down"
_LEVEL = r"levels off|level off|levelling off|leveling off|plateaus|plateau|saturates" \
         r"|flattens out|flatten out"
_FLAT = r"(?:stays|stay|remains|remain|is|are) flat|flat|constant|unchanged|steady"
_GAP = r"(?:\W+\w+){0,2}?\W+"
_CORRELATIONS = {
    "positive": r"positive|positively",
    "negative": r"negative|negatively",
    "none": r"(?:no|without(?: a| any)?)\s+(?:clear\s+|obvious\s+|apparent\s+)?"
            r"(?:correlation|relationship|relation|trend)|uncorrelated|not correlated"
            r"|unrelated",
}


def _words(pattern: str) -> re.Pattern:
    return re.compile(rf"\b(?:{pattern})\b")


_TYPE_RES = {k: _words(v) for k, v in _TYPE_WORDS.items()}
_TREND_RES = (("rises then levels off", _words(rf"(?:{_RISE}){_GAP}(?:{_LEVEL})")),
              ("falls then levels off", _words(rf"(?:{_FALL}){_GAP}(?:{_LEVEL})")),
              ("rises", _words(_RISE)), ("falls", _words(_FALL)),
              ("stays flat", _words(_FLAT)))
_CORRELATION_RES = {k: _words(v) for k, v in _CORRELATIONS.items()}


def _text(caption: str) -> str:
    return " ".join(str(caption).lower().split())


def tokens(text: str) -> List[str]:
    """The caption's tokens: lower-cased words and numbers ("0.25" is one token)."""
    return _TOKEN.findall(str(text).lower())


def chart_types_named(caption: str) -> Set[str]:
    """The chart types ("line", "bar", "scatter") a caption names."""
    text = _text(caption)
    return {kind for kind, pattern in _TYPE_RES.items() if pattern.search(text)}


def trends_named(caption: str) -> Set[str]:
    """The line trends a caption names; longer phrases are read first, so "rises and
    then levels off" is "rises then levels off" and not also "rises"."""
    text, found = _text(caption), set()
    for trend, pattern in _TREND_RES:
        if pattern.search(text):
            found.add(trend)
            text = pattern.sub(" | ", text)
    return found


def correlations_named(caption: str) -> Set[str]:
    """The correlations ("positive", "negative", "none") a caption names."""
    text = _text(caption)
    return {c for c, pattern in _CORRELATION_RES.items() if pattern.search(text)}


def categories_named(caption: str, categories: Sequence[str]) -> Set[str]:
    """The categories (e.g. "method C") a caption names, as they are written."""
    text = _text(caption)
    return {c for c in categories if re.search(rf"\b{re.escape(c.lower())}\b", text)}


def score_caption(caption: str, chart: Mapping) -> Dict[str, float]:
    """``{"chart_type": 1.0 or 0.0, "trend": 1.0 or 0.0}`` for one caption and a
    record's ``chart`` (see the module docstring for what counts)."""
    kind = chart["type"]
    if kind == "line":
        trend = trends_named(caption) == set(chart["trends"])
    elif kind == "scatter":
        trend = correlations_named(caption) == {chart["correlation"]}
    elif kind == "bar":
        trend = categories_named(caption, chart["categories"]) == {chart["highest"]}
    else:
        raise ValueError(f"unknown chart type {kind!r}")
    return {"chart_type": float(chart_types_named(caption) == {kind}),
            "trend": float(trend)}


def copied_tokens(caption: str, texts: Iterable[str], references: Iterable[str]
                  ) -> Tuple[List[str], int]:
    """``(copied tokens, number of caption tokens)``: the caption's tokens that are
    drawn in the image (``texts``) and occur in none of ``references``."""
    printed = {t for s in texts for t in tokens(s)}
    allowed = {t for r in references for t in tokens(r)}
    words = tokens(caption)
    return [t for t in words if t in printed and t not in allowed], len(words)


def _rate(copied: int, total: int) -> float:
    return copied / total if total else 0.0


def reference_ocr_copy_rate(records: Iterable[Mapping]) -> float:
    """The OCR-copy rate of the references: each reference of each record against the
    record's other references (a record with one reference is skipped)."""
    copied = total = 0
    for rec in records:
        refs = list(rec["captions"])
        if len(refs) < 2:
            continue
        for i, ref in enumerate(refs):
            c, n = copied_tokens(ref, rec["chart"]["texts"], refs[:i] + refs[i + 1:])
            copied, total = copied + len(c), total + n
    return _rate(copied, total)


def score_dataset(predictions: Mapping[str, str], records: Iterable[Mapping]
                  ) -> Dict[str, Optional[float]]:
    """Scores the predictions (keyed by image_id) of the records that have one.

    Returns ``chart_type_accuracy`` and ``trend_accuracy`` (fractions of images),
    ``trend_accuracy_<type>`` for each chart type present, ``ocr_copy_rate`` (copied
    tokens / caption tokens), ``ocr_copy_caption_rate`` (fraction of captions with a
    copied token), ``reference_ocr_copy_rate`` (the references of the same records,
    leave one out) and ``num_images``.
    """
    totals, per_type = collections.Counter(), collections.defaultdict(list)
    scored = []
    for rec in records:
        if rec["image_id"] not in predictions:
            continue
        caption, chart = predictions[rec["image_id"]], rec["chart"]
        s = score_caption(caption, chart)
        totals["chart_type"] += s["chart_type"]
        totals["trend"] += s["trend"]
        per_type[chart["type"]].append(s["trend"])
        copied, n = copied_tokens(caption, chart["texts"], rec["captions"])
        totals["copied"] += len(copied)
        totals["tokens"] += n
        totals["copying"] += float(bool(copied))
        scored.append(rec)
    if not scored:
        raise ValueError("no prediction matches a record's image_id")
    n = len(scored)
    out = {"chart_type_accuracy": totals["chart_type"] / n,
           "trend_accuracy": totals["trend"] / n}
    for kind in sorted(per_type):
        out[f"trend_accuracy_{kind}"] = sum(per_type[kind]) / len(per_type[kind])
    out.update(ocr_copy_rate=_rate(totals["copied"], totals["tokens"]),
               ocr_copy_caption_rate=totals["copying"] / n,
               reference_ocr_copy_rate=reference_ocr_copy_rate(scored), num_images=n)
    return out
