"""The built-in ``shapes`` dataset: rendered coloured shapes with reference captions.

Deterministic from a seed: image ``i`` of the whole set depends only on
``(seed, i)``. Each image has 1-3 non-overlapping objects (one per cell of a
3x3 grid), five reference captions from varied templates, and the structured
ground truth (``objects``) stored in its record.
"""

import io
from typing import Iterator, List

import numpy as np
from PIL import Image, ImageDraw

from tfcaption.data.source_record import SourceRecord

SHAPES = ("circle", "square", "triangle", "star", "cross")
COLOURS = {
    "red": (215, 35, 35), "green": (35, 160, 55), "blue": (40, 70, 215),
    "yellow": (235, 215, 35), "purple": (135, 45, 175), "orange": (245, 135, 25),
}
SIZES = ("small", "large")
COLS = ("left", "centre", "right")
ROWS = ("top", "middle", "bottom")
BACKGROUNDS = ((245, 245, 245), (225, 225, 215), (200, 205, 210), (60, 60, 60), (235, 230, 245))
NUM_CAPTIONS = 5
MIN_IMAGE_SIZE = 48  # smallest side at which a large object fits its grid cell with a margin


def _polygon(shape: str, cx: float, cy: float, r: float) -> List[tuple]:
    if shape == "square":
        s = r * 0.85
        return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)]
    if shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.42
            a = -np.pi / 2 + k * np.pi / 5
            pts.append((cx + rad * np.cos(a), cy + rad * np.sin(a)))
        return pts
    if shape == "cross":
        t = r * 0.33
        return [(cx - t, cy - r), (cx + t, cy - r), (cx + t, cy - t), (cx + r, cy - t),
                (cx + r, cy + t), (cx + t, cy + t), (cx + t, cy + r), (cx - t, cy + r),
                (cx - t, cy + t), (cx - r, cy + t), (cx - r, cy - t), (cx - t, cy - t)]
    raise ValueError(f"unknown shape {shape!r}")


def render(objects: List[dict], background: str, rng: np.random.Generator,
           size: int) -> Image.Image:
    """Draws the objects on a plain or lightly textured background."""
    bg = np.array(BACKGROUNDS[rng.integers(len(BACKGROUNDS))], np.float32)
    canvas = np.ones((size, size, 3), np.float32) * bg
    if background == "textured":
        canvas += rng.normal(0.0, 6.0, size=(size, size, 1))
        yy = np.linspace(-1.0, 1.0, size)[:, None, None]
        canvas += 12.0 * yy * rng.choice([-1.0, 1.0])
    im = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for obj in objects:
        colour = np.array(COLOURS[obj["colour"]]) + rng.integers(-12, 13, size=3)
        fill = tuple(int(v) for v in np.clip(colour, 0, 255))
        x0, y0, x1, y1 = obj["bbox"]
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
        if obj["shape"] == "circle":
            draw.ellipse([x0, y0, x1, y1], fill=fill)
        else:
            draw.polygon(_polygon(obj["shape"], cx, cy, r), fill=fill)
    return im


def sample_objects(rng: np.random.Generator, size: int) -> List[dict]:
    """Chooses 1-3 objects in distinct grid cells, so they never overlap."""
    n = int(rng.integers(1, 4))
    cells = rng.choice(9, size=n, replace=False)
    cell = size / 3.0
    objects = []
    for c in sorted(int(c) for c in cells):
        row, col = divmod(c, 3)
        obj_size = SIZES[rng.integers(2)]
        r = cell * (0.42 if obj_size == "large" else 0.22)
        slack = cell / 2 - r - 1
        cx = (col + 0.5) * cell + rng.uniform(-slack, slack)
        cy = (row + 0.5) * cell + rng.uniform(-slack, slack)
        objects.append({
            "shape": SHAPES[rng.integers(len(SHAPES))],
            "colour": list(COLOURS)[rng.integers(len(COLOURS))],
            "size": obj_size,
            "position": {"col": COLS[col], "row": ROWS[row]},
            "bbox": [round(cx - r, 1), round(cy - r, 1), round(cx + r, 1), round(cy + r, 1)],
        })
    return objects


def generate(num_train: int = 2000, num_val: int = 250, num_test: int = 250,
             image_size: int = 224, seed: int = 0, splits=("train", "val", "test")
             ) -> Iterator[SourceRecord]:
    """Yields the shapes records (JPEG bytes) for the three splits, in order.

    ``splits`` limits which splits are rendered; the others are skipped without changing
    any image (each image depends only on ``seed`` and its index over all three splits).
    """
    from tfcaption.data.shapes_captions import make_captions

    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"shapes image_size must be at least {MIN_IMAGE_SIZE} px, got {image_size}")
    for name, n in (("num_train", num_train), ("num_val", num_val), ("num_test", num_test)):
        if n < 0:
            raise ValueError(f"shapes {name} must be >= 0, got {n}")
    index = 0
    for split, count in (("train", num_train), ("val", num_val), ("test", num_test)):
        if split not in splits:
            index += count
            continue
        for i in range(count):
            rng = np.random.default_rng([seed, index])
            index += 1
            objects = sample_objects(rng, image_size)
            background = "textured" if rng.random() < 0.5 else "plain"
            im = render(objects, background, rng, image_size)
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=92)
            image_id = f"{split}_{i:05d}"
            yield SourceRecord(
                image_name=f"{split}/{image_id}.jpg",
                captions=make_captions(objects, rng, background),
                split=split, image_id=image_id, image_bytes=buf.getvalue(),
                extra={"objects": objects, "background": background})
