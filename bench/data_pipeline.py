"""JPEG decode + CLIP preprocessing throughput: tfcaption's tf.data pipeline vs a PIL loop.

    python bench/data_pipeline.py [--num_images=256] [--runs=5] [--smoke]

Both sides read the same JPEG files (640x480, like COCO) and produce the same
224x224 CLIP-normalised float32 arrays (``bench/run.py`` runs it with the others).
``--smoke`` reads fewer images (``sizes.py``).
"""

import json
import os
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CLIP_MEAN = np.array((0.48145466, 0.4578275, 0.40821073), np.float32)
CLIP_STD = np.array((0.26862954, 0.26130258, 0.27577711), np.float32)


def make_images(directory, n, seed=0):
    """Writes ``n`` 640x480 JPEGs with smooth structure plus noise (COCO-like file sizes)."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        base = rng.integers(0, 256, (60, 80, 3), np.uint8)
        im = np.asarray(Image.fromarray(base).resize((640, 480), Image.BICUBIC), np.float32)
        im = np.clip(im + rng.normal(0, 12, im.shape), 0, 255).astype(np.uint8)
        path = os.path.join(directory, "images", f"{i:05d}.jpg")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(im).save(path, quality=90)
        paths.append(path)
    with open(os.path.join(directory, "captions.jsonl"), "w") as f:
        for i, p in enumerate(paths):
            f.write(json.dumps({"image": os.path.relpath(p, directory), "captions": ["x"],
                                "split": "test", "image_id": str(i)}) + "\n")
    return paths


def pil_clip(path, size=224):
    """The reference: a plain PIL loop body (bicubic shorter side, centre crop, normalise)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        if w <= h:
            nw, nh = size, int(size * h / w)
        else:
            nw, nh = int(size * w / h), size
        im = im.resize((nw, nh), Image.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
    arr = np.asarray(im, np.float32) / 255.0
    return (arr - CLIP_MEAN) / CLIP_STD


def run(ctx, num_images=None, batch_size=32):
    """One row: tfcaption's tf.data pipeline vs a PIL loop over the same JPEGs
    (``num_images``: the run's size by default)."""
    from tfcaption.data.caption_pipeline import CaptionPipeline
    from tfcaption.data.image_preprocessor import ImagePreprocessor

    num_images = num_images or ctx.sizes.pipeline_images
    with tempfile.TemporaryDirectory(dir=ctx.scratch) as tmp:
        paths = make_images(tmp, num_images)
        pipe = CaptionPipeline(tmp, "test", mode="eval", preprocessor=ImagePreprocessor("clip"))
        ds = pipe.dataset(batch_size)

        def ours():
            n = 0
            for batch in ds:
                n += int(batch["images"].shape[0])
            assert n == num_images
            return n

        def reference():
            for i in range(0, num_images, batch_size):
                np.stack([pil_clip(p) for p in paths[i:i + batch_size]])
            return num_images

        first = next(iter(ds))
        k = int(first["image_id"][0].numpy())
        max_diff = float(np.abs(first["images"][0].numpy() - pil_clip(paths[k])).max())
        ours_timing, _ = ctx.time(ours)
        reference_timing, _ = ctx.time(reference)
    return [harness.row(
        "data_pipeline", f"JPEG 640x480 decode + CLIP preprocessing, {num_images} images, "
        f"batch {batch_size} (tf.data on every core vs a one-thread PIL loop)", ours_timing,
        reference_timing, items=num_images, unit="images",
        checks={"max abs diff vs PIL": round(max_diff, 4)})]


def size_options(parser):
    parser.add_argument("--num_images", type=int, default=None,
                        help="JPEGs per call (default: the run's size, 256; 64 with --smoke)")
    parser.add_argument("--batch_size", type=int, default=32)
    return lambda args: {"num_images": args.num_images, "batch_size": args.batch_size}


if __name__ == "__main__":
    harness.standalone(run, size_options)
