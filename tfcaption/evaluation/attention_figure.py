"""A Show-Attend-and-Tell style picture of where a captioner looked for each word.

:func:`save_attention_figure` writes one PNG: a grid of ``columns`` panels per row,
the first the image alone titled with the caption, then one panel per word, the image
with that word's attention map (bilinearly upsampled to the image size, scaled to its
own maximum) overlaid in the ``"jet"`` colormap at alpha 0.6, titled with the word.
Each panel is 2 x 2 inches at 80 dpi (160 x 160 pixels), so a figure of ``n`` panels
is ``160 * min(n, columns)`` pixels wide and ``160 * ceil(n / columns)`` tall.

The figure is drawn on its own ``Figure`` / ``FigureCanvasAgg``: pyplot's global
state and backend are never touched.
"""

import math
import os
import textwrap
from typing import Sequence

import numpy as np
from PIL import Image

from tfcaption.file_io import atomic_write

PANEL_INCHES = 2.0
DPI = 80
ALPHA = 0.6
CMAP = "jet"
CAPTION_WRAP = 28  # characters per line of the first panel's title


def _load_image(image) -> np.ndarray:
    """``image`` (a path, or a ``[H, W, 3]`` uint8 / 0..255 float array) as uint8 RGB."""
    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"image must be a path or a [H, W, 3] array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image is empty: shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("image has non-finite values")
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def _upsample(attention_map: np.ndarray, width: int, height: int) -> np.ndarray:
    """One ``[h, w]`` map resized to ``[height, width]`` (PIL bilinear, in float32)."""
    resized = Image.fromarray(attention_map.astype(np.float32), mode="F").resize(
        (width, height), Image.BILINEAR)
    return np.asarray(resized, dtype=np.float32)


def save_attention_figure(image, words: Sequence[str], attention, out_path: str,
                          columns: int = 5, title: str = None) -> str:
    """Writes the attention grid of one caption to ``out_path`` (PNG) and returns it.

    ``words`` are the caption's words, one per ``[h, w]`` map of ``attention``
    (``[T, h, w]``, ``T == len(words)``); the first panel is titled ``title`` or, by
    default, the words joined by spaces. Parent directories are created and the file
    is written atomically (a temporary file in the same directory, then
    ``os.replace``) with the permissions a plain ``open(out_path, "wb")`` would give it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    words = [str(w) for w in words]
    attention = np.asarray(attention, dtype=np.float64)
    if attention.ndim != 3:
        raise ValueError(f"attention must be [T, h, w] (rank 3), got shape {attention.shape} "
                         f"for {len(words)} words")
    if attention.shape[0] != len(words):
        raise ValueError(f"{len(words)} words but attention has {attention.shape[0]} maps "
                         f"(shape {attention.shape}); expected one map per word")
    if not np.all(np.isfinite(attention)):
        raise ValueError("attention has non-finite values")
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive int, got {columns!r}")
    pixels = _load_image(image)
    height, width = pixels.shape[:2]

    panels = 1 + len(words)
    ncols = min(columns, panels)
    nrows = math.ceil(panels / columns)
    fig = Figure(figsize=(PANEL_INCHES * ncols, PANEL_INCHES * nrows), dpi=DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()

    caption = title if title is not None else " ".join(words)
    axes[0].imshow(pixels)
    axes[0].set_title(textwrap.fill(caption, CAPTION_WRAP), fontsize=8)
    for ax, word, attention_map in zip(axes[1:], words, attention):
        overlay = _upsample(attention_map, width, height)
        peak = float(overlay.max())
        ax.imshow(pixels)
        ax.imshow(overlay, cmap=CMAP, alpha=ALPHA, vmin=0.0, vmax=peak if peak > 0 else 1.0,
                  interpolation="bilinear")
        ax.set_title(word, fontsize=10)

    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    try:
        atomic_write(out_path, lambda f: fig.savefig(f, format="png", dpi=DPI))
    finally:
        fig.clear()
    return out_path
