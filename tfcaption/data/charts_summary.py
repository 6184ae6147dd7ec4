"""A printable summary of a prepared ``charts`` dataset."""

import collections
import os

from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl


def _counts(counter: collections.Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def summarize(data_dir: str, num_examples: int = 3) -> str:
    """Chart-type, trend and caption statistics, with one example caption per type."""
    records = read_captions_jsonl(os.path.join(data_dir, CAPTIONS_FILE))
    charts = [r["chart"] for r in records]
    kinds = collections.Counter(c["type"] for c in charts)
    trends = collections.Counter(t for c in charts for t in c["trends"])
    correlations = collections.Counter(c["correlation"] for c in charts if "correlation" in c)
    lines = collections.Counter(c["num_series"] for c in charts if c["type"] == "line")
    lengths = [len(c.split()) for r in records for c in r["captions"]]
    vocab = {w for r in records for c in r["captions"] for w in c.split()}
    out = [
        "chart types: " + _counts(kinds),
        "lines per line chart: " + _counts(lines),
        "line trends: " + _counts(trends),
        "scatter correlations: " + _counts(correlations),
        f"caption length: mean {sum(lengths) / max(1, len(lengths)):.1f} words, "
        f"max {max(lengths, default=0)}; vocabulary {len(vocab)} words",
        "examples:",
    ]
    shown = set()
    for r in records:
        if len(shown) >= num_examples:
            break
        if r["chart"]["type"] not in shown:
            shown.add(r["chart"]["type"])
            out.append(f"  {r['image']}: {r['captions'][0]}")
    return "\n".join(out)
