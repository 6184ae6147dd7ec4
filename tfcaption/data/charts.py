"""The built-in ``charts`` dataset: rendered line, bar and scatter charts with captions.

Deterministic from a seed: image ``i`` of the whole set depends only on
``(seed, i)``, so the same seed gives byte-identical PNGs and captions on every
run, whichever splits are rendered and however many worker processes render them.
Each chart is drawn with matplotlib (Agg, off screen, matplotlib's default style
whatever the user's ``matplotlibrc`` says) with a title, axis labels, tick numbers
and, for two-line charts, a legend: text a captioner could copy instead of
describing the chart. The reference captions (:mod:`tfcaption.data.charts_captions`)
describe what the chart shows; the structured ground truth is stored in each
record's ``chart`` key:

``type``
    ``"line"``, ``"bar"`` or ``"scatter"``.
``title``, ``x_label``, ``y_label``
    the strings drawn as the title and axis labels.
``num_series``
    lines in a line chart (1 or 2); 1 for bar and scatter charts.
``series``
    the plotted data: ``[{"name", "trend", "x", "y"}]`` (line; ``name`` is the legend
    entry, or None for a single line), ``[{"x": categories, "y": values}]`` (bar),
    ``[{"x", "y"}]`` (scatter).
``trends``
    line charts: each line's trend, one of :data:`TRENDS`; ``[]`` otherwise.
``categories``, ``highest``
    bar charts: the category names (``"method A"``...) and the one with the tallest bar.
``correlation``
    scatter charts: one of :data:`CORRELATIONS`.
``x_ticks``, ``x_tick_labels``, ``y_ticks``, ``y_tick_labels``
    the tick positions and the numbers (or bar letters) drawn at them.
``texts``
    every string drawn in the image: title, axis labels (capitalised), tick labels,
    legend entries.
"""

import functools
import io
import os
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from tfcaption.data.source_record import SourceRecord

CHART_TYPES = ("line", "bar", "scatter")
TRENDS = ("rises", "falls", "rises then levels off", "falls then levels off", "stays flat")
CORRELATIONS = ("positive", "negative", "none")
METHOD_LETTERS = ("A", "B", "C", "D", "E")
# y variable -> (lowest tick, highest tick, tick steps)
Y_VARIABLES = {
    "accuracy": (0.0, 1.0, (0.1, 0.2)),
    "loss": (0.0, 4.0, (0.5, 1.0)),
    "error": (0, 60, (10, 20)),
    "throughput": (0, 1000, (100, 200)),
}
# x variable -> possible axis ends (the axis runs from 0)
X_VARIABLES = {
    "epochs": (10, 20, 40, 50, 100),
    "steps": (1000, 2000, 5000, 10000),
    "layers": (12, 24, 48),
    "batch size": (64, 128, 256),
}
TITLE_WORDS = ("Ablation", "Experiment", "Trial", "Study", "Benchmark", "Run")
TITLE_SETS = ("SVHN", "MNIST", "CIFAR", "ImageNet", "STL", "Caltech")
NUM_CAPTIONS = 5
DEFAULT_IMAGE_SIZE = 160  # width in pixels; the height is 3/4 of it
MIN_IMAGE_SIZE = 96  # below this the tick numbers are no longer legible
_COLOURS = ("#1f77b4", "#ff7f0e")
_MARKERS = ("o", "s")


def image_height(width: int) -> int:
    """The image height for an image ``width`` (4:3)."""
    return int(round(width * 3 / 4))


def _y_ticks(rng: np.random.Generator, variable: str, from_zero: bool) -> List[float]:
    low, high, steps = Y_VARIABLES[variable]
    step = steps[rng.integers(len(steps))]
    slots = int(round((high - low) / step))
    n = int(rng.integers(3, min(5, slots) + 1)) if slots >= 3 else slots + 1
    start = 0 if from_zero else int(rng.integers(0, slots - (n - 1) + 1))
    return [round(low + (start + k) * step, 6) for k in range(n)]


def _x_ticks(rng: np.random.Generator, variable: str) -> List[float]:
    end = X_VARIABLES[variable][rng.integers(len(X_VARIABLES[variable]))]
    n = 5 if end % 4 == 0 else 3
    return [end * k // (n - 1) for k in range(n)]


def tick_label(value: float, step: float) -> str:
    """A tick value with as many decimals as its step needs ("0.2", "1.5", "20")."""
    decimals = 0
    while abs(step * 10 ** decimals - round(step * 10 ** decimals)) > 1e-9 and decimals < 6:
        decimals += 1
    return f"{value:.{decimals}f}"


def _trend_curve(trend: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The trend's shape on ``t`` in [0, 1], scaled to [0, 1]."""
    if trend in ("rises", "falls"):
        u = t.copy()
    elif trend.endswith("levels off"):
        k = rng.uniform(6.0, 9.0)
        u = (1 - np.exp(-k * t)) / (1 - np.exp(-k))
    else:
        u = np.zeros_like(t)
    return 1 - u if trend.startswith("falls") else u


def _line_series(rng, x, lo, hi, trends):
    span = hi - lo
    t = (x - x[0]) / (x[-1] - x[0])
    series = []
    for k, trend in enumerate(trends):
        if trend == "stays flat":
            level = rng.uniform(0.25, 0.75)
            y = np.full_like(t, level)
        else:
            rise = rng.uniform(0.55, 0.85)
            base = rng.uniform(0.05, 0.95 - rise)
            y = base + rise * _trend_curve(trend, t, rng)
        y = lo + span * (y + rng.uniform(-0.015, 0.015, size=t.shape))
        series.append({"name": None if len(trends) == 1 else f"method {METHOD_LETTERS[k]}",
                       "trend": trend, "x": [round(float(v), 3) for v in x],
                       "y": [round(float(v), 4) for v in y]})
    return series


def _scatter_series(rng, x_end, lo, hi, correlation):
    span = hi - lo
    n = int(rng.integers(25, 41))
    while True:
        u = rng.uniform(0.05, 0.95, size=n)
        if correlation == "none":
            v = rng.uniform(0.1, 0.9, size=n)
        else:
            slope = rng.uniform(0.5, 0.8) * (1 if correlation == "positive" else -1)
            v = 0.5 + slope * (u - 0.5) + rng.normal(0.0, 0.07, size=n)
        r = float(np.corrcoef(u, v)[0, 1])
        ok = abs(r) < 0.2 if correlation == "none" else r * (1 if correlation == "positive"
                                                             else -1) > 0.7
        if ok and v.min() > 0.02 and v.max() < 0.98:
            break
    return [{"x": [round(float(a * x_end), 2) for a in u],
             "y": [round(float(lo + span * b), 4) for b in v]}]


def sample_chart(rng: np.random.Generator) -> dict:
    """Chooses a chart's type, variables, data and texts (the record's ``chart``)."""
    kind = CHART_TYPES[rng.integers(len(CHART_TYPES))]
    y_var = list(Y_VARIABLES)[rng.integers(len(Y_VARIABLES))]
    title = f"{TITLE_WORDS[rng.integers(len(TITLE_WORDS))]} {int(rng.integers(1, 100))}: " \
            f"{TITLE_SETS[rng.integers(len(TITLE_SETS))]}"
    y_ticks = _y_ticks(rng, y_var, from_zero=kind == "bar")
    y_step = y_ticks[1] - y_ticks[0]
    lo, hi = y_ticks[0], y_ticks[-1]
    chart = {"type": kind, "title": title, "y_label": y_var, "num_series": 1, "trends": []}
    if kind == "bar":
        n = int(rng.integers(3, 6))
        letters = list(METHOD_LETTERS[:n])
        top = int(rng.integers(n))
        values = [lo + (hi - lo) * rng.uniform(0.2, 0.75) for _ in range(n)]
        values[top] = lo + (hi - lo) * rng.uniform(0.88, 0.98)
        chart.update(x_label="method", categories=[f"method {c}" for c in letters],
                     highest=f"method {letters[top]}")
        chart["series"] = [{"x": letters, "y": [round(float(v), 4) for v in values]}]
        x_ticks, x_texts = list(range(n)), letters
    else:
        x_var = list(X_VARIABLES)[rng.integers(len(X_VARIABLES))]
        x_ticks = _x_ticks(rng, x_var)
        x_texts = [str(v) for v in x_ticks]
        chart["x_label"] = x_var
        if kind == "line":
            num = int(rng.integers(1, 3))
            trends = [TRENDS[int(i)] for i in rng.choice(len(TRENDS), size=num, replace=False)]
            x = np.linspace(0, x_ticks[-1], int(rng.integers(8, 13)))
            chart["series"] = _line_series(rng, x, lo, hi, trends)
            chart.update(num_series=num, trends=trends)
        else:
            correlation = CORRELATIONS[rng.integers(len(CORRELATIONS))]
            chart["series"] = _scatter_series(rng, x_ticks[-1], lo, hi, correlation)
            chart["correlation"] = correlation
    y_texts = [tick_label(v, y_step) for v in y_ticks]
    legend = [s["name"] for s in chart["series"] if s.get("name")]
    chart.update(x_ticks=x_ticks, x_tick_labels=x_texts, y_ticks=y_ticks, y_tick_labels=y_texts)
    chart["texts"] = ([title, _drawn_label(chart["x_label"]), _drawn_label(y_var)]
                      + x_texts + y_texts + legend)
    return chart


def _drawn_label(variable: str) -> str:
    return variable[0].upper() + variable[1:]


_CANVASES = {}


@functools.lru_cache(maxsize=None)
def _style() -> Dict[str, Any]:
    """matplotlib's default rcParams (whatever the user's matplotlibrc says), matplotlib's
    own font, no path simplification and a fixed SVG salt (the PNGs need no more: PIL
    writes no time stamp or software chunk)."""
    import matplotlib

    rc = {k: v for k, v in matplotlib.rcParamsDefault.items()
          if k not in ("backend", "backend_fallback", "interactive")}
    rc.update({"svg.hashsalt": "tfcaption", "font.family": "DejaVu Sans",
               "path.simplify": False})
    return rc


def _canvas(width: int):
    """``(canvas, axes)`` for images ``width`` pixels wide, made once per process.

    Every image reuses them: :func:`_reset` removes the previous chart's artists and
    :func:`render` sets every property it draws, so an image does not depend on the
    images drawn before it (tests check this).
    """
    if width not in _CANVASES:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError("the charts dataset needs matplotlib (pip install matplotlib, "
                              "listed in requirements.txt)") from e
        dpi = 100.0 * width / DEFAULT_IMAGE_SIZE  # fonts scale with the width
        fig = Figure(figsize=(width / dpi, image_height(width) / dpi), dpi=dpi)
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_axes((0.19, 0.22, 0.74, 0.64))
        _CANVASES[width] = (canvas, ax)
    return _CANVASES[width]


def _reset(ax) -> None:
    for container in list(ax.containers):
        container.remove()  # and its bars
    for artist in list(ax.lines) + list(ax.collections) + list(ax.patches):
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()


def render(chart: dict, width: int) -> bytes:
    """Draws a chart from :func:`sample_chart` and returns its PNG bytes (RGB, no
    metadata)."""
    import matplotlib
    from PIL import Image

    x_ticks, y_ticks = chart["x_ticks"], chart["y_ticks"]
    kind = chart["type"]
    with matplotlib.rc_context(_style()):
        canvas, ax = _canvas(width)  # made inside the context: default style throughout
        _reset(ax)
        handles = []
        if kind == "bar":
            s = chart["series"][0]
            ax.bar(range(len(s["y"])), s["y"], width=0.6, color=_COLOURS[0])
        elif kind == "line":
            for k, s in enumerate(chart["series"]):
                handles += ax.plot(s["x"], s["y"], color=_COLOURS[k], marker=_MARKERS[k],
                                   markersize=2, linewidth=1, label=s["name"])
        else:
            s = chart["series"][0]
            ax.scatter(s["x"], s["y"], s=4, color=_COLOURS[0])
        if kind == "bar":
            ax.set_xlim(-0.6, len(x_ticks) - 0.4)
        else:
            pad = 0.04 * (x_ticks[-1] - x_ticks[0])
            ax.set_xlim(x_ticks[0] - pad, x_ticks[-1] + pad)
        pad = 0.05 * (y_ticks[-1] - y_ticks[0])
        ax.set_ylim(y_ticks[0] - (0 if kind == "bar" else pad), y_ticks[-1] + pad)
        ax.set_xticks(x_ticks, chart["x_tick_labels"], fontsize=5.5)
        ax.set_yticks(y_ticks, chart["y_tick_labels"], fontsize=5.5)
        ax.tick_params(length=2, pad=1)
        ax.set_xlabel(chart["texts"][1], fontsize=6, labelpad=1)
        ax.set_ylabel(chart["texts"][2], fontsize=6, labelpad=1)
        ax.set_title(chart["title"], fontsize=6.5, pad=2)
        if chart["num_series"] > 1:
            ax.legend(handles=handles, fontsize=5, handlelength=1.2, borderpad=0.3,
                      labelspacing=0.2, loc="best")
        canvas.draw()
        rgb = np.array(canvas.buffer_rgba())[..., :3]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def make_record(seed: int, index: int, split: str, i: int, width: int) -> SourceRecord:
    """The record of image ``index`` of the whole set (``i``-th of its split)."""
    from tfcaption.data.charts_captions import make_captions

    rng = np.random.default_rng([seed, index])
    chart = sample_chart(rng)
    png = render(chart, width)
    image_id = f"{split}_{i:05d}"
    return SourceRecord(image_name=f"{split}/{image_id}.png",
                        captions=make_captions(chart, rng, k=NUM_CAPTIONS),
                        split=split, image_id=image_id, image_bytes=png,
                        extra={"chart": chart})


def _make_record_star(args):
    return make_record(*args)


def generate(num_train: int = 2000, num_val: int = 250, num_test: int = 250,
             image_size: int = DEFAULT_IMAGE_SIZE, seed: int = 0,
             splits=("train", "val", "test"), num_workers: Optional[int] = 1
             ) -> Iterator[SourceRecord]:
    """Yields the charts records (PNG bytes) for the three splits, in order.

    ``image_size`` is the width in pixels (the height is 3/4 of it; fonts scale with
    it). ``splits`` limits which splits are rendered; the others are skipped without
    changing any image. ``num_workers`` > 1 renders in that many processes (None: one
    per CPU); the output is the same whatever the number. The processes are started
    with ``spawn`` (never forked from a process TensorFlow may run in), so they import
    the calling script's main module again: guard a script's work with
    ``if __name__ == "__main__":``.
    """
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)):
        raise ValueError(f"charts image_size must be an integer width in pixels, "
                         f"got {image_size!r}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"charts image_size must be at least {MIN_IMAGE_SIZE} px, "
                         f"got {image_size}")
    for name, n in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test)):
        if n < 0:
            raise ValueError(f"charts {name} must be >= 0, got {n}")
    jobs, index = [], 0
    for split, count in (("train", num_train), ("val", num_val), ("test", num_test)):
        if split in splits:
            jobs += [(seed, index + i, split, i, int(image_size)) for i in range(count)]
        index += count
    workers = (os.cpu_count() or 1) if num_workers is None else int(num_workers)
    if workers < 1:
        raise ValueError(f"charts num_workers must be >= 1 or None, got {num_workers}")
    if workers == 1 or len(jobs) < 2 * workers:
        for job in jobs:
            yield make_record(*job)
        return
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield from pool.map(_make_record_star, jobs, chunksize=16)
