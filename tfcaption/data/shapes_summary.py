"""A printable summary of a prepared ``shapes`` dataset."""

import collections
import os

from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl


def summarize(data_dir: str, num_examples: int = 3) -> str:
    """Object-count, attribute and caption statistics, with a few example captions."""
    records = read_captions_jsonl(os.path.join(data_dir, CAPTIONS_FILE))
    counts = collections.Counter(len(r["objects"]) for r in records)
    shapes = collections.Counter(o["shape"] for r in records for o in r["objects"])
    colours = collections.Counter(o["colour"] for r in records for o in r["objects"])
    lengths = [len(c.split()) for r in records for c in r["captions"]]
    vocab = {w for r in records for c in r["captions"] for w in c.split()}
    lines = [
        "objects per image: " + ", ".join(f"{k}: {counts[k]}" for k in sorted(counts)),
        "shapes: " + ", ".join(f"{k} {v}" for k, v in sorted(shapes.items())),
        "colours: " + ", ".join(f"{k} {v}" for k, v in sorted(colours.items())),
        f"caption length: mean {sum(lengths) / max(1, len(lengths)):.1f} words, "
        f"max {max(lengths, default=0)}; vocabulary {len(vocab)} words",
        "examples:",
    ]
    for r in records[:num_examples]:
        lines.append(f"  {r['image']}: {r['captions'][0]}")
    return "\n".join(lines)
