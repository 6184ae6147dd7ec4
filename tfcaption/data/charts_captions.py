"""Reference captions for ``charts`` images: what the chart shows, not the text in it.

Every template names the chart type and its trend (line), correlation (scatter) or
tallest bar (bar), so every reference is fully correct under the charts scorer. The
variables (accuracy, epochs...) are named, as the axis labels also do; no number,
title word or other text drawn in the image is.
"""

from typing import List

import numpy as np

_X_PHRASES = {"epochs": "the number of epochs", "steps": "the number of steps",
              "layers": "the number of layers", "batch size": "the batch size"}
# trend -> the verb phrase after a singular subject
_TREND_PHRASES = {"rises": "rises", "falls": "falls",
                  "rises then levels off": "rises and then levels off",
                  "falls then levels off": "falls and then levels off",
                  "stays flat": "stays flat"}
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _line(chart: dict, rng: np.random.Generator) -> List[str]:
    y, x = chart["y_label"], chart["x_label"]
    xp = _X_PHRASES[x]
    if chart["num_series"] == 1:
        t = _TREND_PHRASES[chart["trends"][0]]
        return [
            f"a line chart in which {y} {t} over {xp}",
            f"a line plot of {y} against {x}, where {y} {t}",
            f"a line graph showing {y} that {t} over {xp}",
            f"a single line: {y} {t} over {xp}",
            f"{y} {t} over {xp} in this line chart",
            f"a chart with one line, in which {y} {t} with {xp}",
        ]
    order = [int(i) for i in rng.permutation(2)]
    (m1, t1), (m2, t2) = [(chart["series"][i]["name"].lower(),
                           _TREND_PHRASES[chart["trends"][i]]) for i in order]
    return [
        f"a line chart of {y} over {xp} for two methods: {m1} {t1} and {m2} {t2}",
        f"a line plot with two lines, where {y} {t1} for {m1} and {t2} for {m2}",
        f"a line graph comparing two methods in which the {y} of {m1} {t1} "
        f"while that of {m2} {t2}",
        f"two lines of {y} against {x}: {m1} {t1}, {m2} {t2}",
        f"a line chart in which {m2} {t2} and {m1} {t1} over {xp}",
        f"a line chart comparing {m1} and {m2}: the {y} of {m1} {t1} and "
        f"the {y} of {m2} {t2}",
    ]


def _bar(chart: dict) -> List[str]:
    y, h = chart["y_label"], chart["highest"].lower()
    n = _NUMBER_WORDS[len(chart["categories"])]
    return [
        f"a bar chart comparing the {y} of {n} methods, with {h} highest",
        f"a bar chart of {y} for {n} methods in which {h} is highest",
        f"a bar plot showing that {h} has the highest {y} of {n} methods",
        f"{n} bars, one per method, the tallest being {h}",
        f"a bar graph where {h} has the highest {y}",
        f"a bar chart in which {h} has the tallest bar",
    ]


def _scatter(chart: dict) -> List[str]:
    y, x, c = chart["y_label"], chart["x_label"], chart["correlation"]
    if c == "none":
        return [
            f"a scatter plot showing no correlation between {x} and {y}",
            f"a scatter plot in which {y} and {x} are uncorrelated",
            f"a scatter plot of {y} against {x} with no correlation",
            f"scattered points showing no clear correlation between {y} and {x}",
            f"a scatterplot of {y} versus {x}: there is no correlation",
        ]
    return [
        f"a scatter plot showing a {c} correlation between {x} and {y}",
        f"a scatter plot in which {y} is {c}ly correlated with {x}",
        f"a scatter plot of {y} against {x} with a {c} correlation",
        f"scattered points showing a {c} correlation of {y} with {x}",
        f"a scatterplot of {y} versus {x}: the correlation is {c}",
    ]


def make_captions(chart: dict, rng: np.random.Generator, k: int = 5) -> List[str]:
    """Returns ``k`` distinct reference captions for a chart (a record's ``chart``)."""
    if chart["type"] == "line":
        pool = _line(chart, rng)
    elif chart["type"] == "bar":
        pool = _bar(chart)
    elif chart["type"] == "scatter":
        pool = _scatter(chart)
    else:
        raise ValueError(f"unknown chart type {chart['type']!r}")
    pool = list(dict.fromkeys(pool))
    picks = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
    return [pool[int(i)] for i in picks]
