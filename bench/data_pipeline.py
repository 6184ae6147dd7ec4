"""JPEG decode + CLIP preprocessing throughput: tfcaption's tf.data pipeline vs a PIL loop.

    python bench/data_pipeline.py [--num_images=512] [--runs=5] [--out=bench/data_pipeline.json]

Both sides read the same JPEG files (640x480, like COCO) and produce the same
224x224 CLIP-normalised float32 arrays. Prints a markdown table (median over
runs after one warm-up run) and writes every run to JSON.
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np
from PIL import Image

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


def run(num_images=512, runs=5, batch_size=32, out=None):
    import tensorflow as tf

    from tfcaption.data.caption_pipeline import CaptionPipeline
    from tfcaption.data.image_preprocessor import ImagePreprocessor

    with tempfile.TemporaryDirectory() as tmp:
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
        times = {"tfcaption tf.data": [], "PIL loop": []}
        for name, fn in (("tfcaption tf.data", ours), ("PIL loop", reference)):
            fn()  # warm-up
            for _ in range(runs):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "work": f"JPEG 640x480 decode + CLIP preprocessing, {num_images} images, batch {batch_size}",
        "threads": {"cpu_count": os.cpu_count(),
                    "tf_inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                    "tf_intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "pil": 1},
        "runs_seconds": times,
        "median_images_per_s": {k: num_images / v for k, v in med.items()},
        "ratio_time_ours_over_reference": med["tfcaption tf.data"] / med["PIL loop"],
        "max_abs_diff_first_image": max_diff,
    }
    spread = {k: (max(v) - min(v)) / statistics.median(v) for k, v in times.items()}
    print("| work | ours (img/s) | PIL loop (img/s) | time ours / ref | spread ours / ref |")
    print("|---|---|---|---|---|")
    print(f"| {result['work']} | {result['median_images_per_s']['tfcaption tf.data']:.0f} | "
          f"{result['median_images_per_s']['PIL loop']:.0f} | "
          f"{result['ratio_time_ours_over_reference']:.2f} | "
          f"{spread['tfcaption tf.data']:.0%} / {spread['PIL loop']:.0%} |")
    print(f"cpu cores {os.cpu_count()}; TF threads: default (0 = all cores); PIL loop: 1 thread; "
          f"max |ours - PIL| on one image: {max_diff:.4f}")
    if out:
        with open(out, "w") as f:
            json.dump(result, f, indent=2)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_images", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--out", default="bench/data_pipeline.json")
    args = parser.parse_args()
    run(args.num_images, args.runs, args.batch_size, args.out)


if __name__ == "__main__":
    main()
