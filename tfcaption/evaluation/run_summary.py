"""The short report ``train`` and ``evaluate`` end with: key metrics, a few captions, files.

The full metrics stay in the JSON file (``metrics.json`` in a training workdir, or the
``evaluate`` command's ``--out``); ``train --json`` prints that JSON instead.
"""

import math
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

# (row label, keys into the metrics dict); a row whose value is absent or None is left out.
KEY_METRICS = (
    ("BLEU-4", ("coco", "Bleu_4")),
    ("METEOR", ("coco", "METEOR")),
    ("CIDEr-D", ("coco", "CIDEr")),
    ("SPICE", ("coco", "SPICE")),
    ("CLIPScore", ("clip_score", "CLIPScore")),
    ("shapes all_correct", ("shapes", "all_correct")),
    ("shapes object_recall", ("shapes", "object_recall")),
    ("charts chart_type_accuracy", ("charts", "chart_type_accuracy")),
    ("charts trend_accuracy", ("charts", "trend_accuracy")),
    ("charts ocr_copy_rate", ("charts", "ocr_copy_rate")),
    ("R@1", ("R@1",)),
    ("R@5", ("R@5",)),
    ("R@10", ("R@10",)),
    ("final loss", ("final_loss",)),
    ("final loss", ("final_train_loss",)),
    ("final val loss", ("final_val_loss",)),
)


def _lookup(metrics: Mapping, keys: Sequence[str]):
    value = metrics
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def format_duration(seconds: float) -> str:
    """``"42 s"``, ``"7 min 05 s"``, ``"1 h 03 min"``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def metric_rows(metrics: Mapping, seconds: Optional[float] = None) -> List[Tuple[str, str]]:
    """``(label, value)`` rows of :data:`KEY_METRICS` present in ``metrics`` (one row per
    label), then ``time`` when ``seconds`` is given."""
    rows, seen = [], set()
    for label, keys in KEY_METRICS:
        value = _lookup(metrics, keys)
        if value is not None and label not in seen:
            rows.append((label, _number(value)))
            seen.add(label)
    if seconds is not None:
        rows.append(("time", format_duration(seconds)))
    return rows


def heading(metrics: Mapping) -> str:
    """What was measured: the split, data, image count and decoding of an evaluation
    (with the unreadable images skipped), or the images and candidates of retrieval."""
    settings = metrics.get("settings") or {}
    count = metrics.get("num_images")
    if settings.get("split") is not None:
        text = f"Split {settings['split']} of {settings.get('data_dir')}: {count} images"
        method = (settings.get("decoding") or {}).get("method")
        text += f", {method} decoding" if method else ""
        if metrics.get("num_unreadable"):
            text += f" ({metrics['num_unreadable']} unreadable images skipped)"
        return text
    if metrics.get("num_candidates") is not None:
        return (f"Image-to-text retrieval: {count} test images, "
                f"{metrics['num_candidates']} candidate captions")
    return "Metrics"


def samples_from(predictions: Mapping[str, str], references: Mapping[str, List[str]],
                 count: int = 5) -> List[Dict[str, str]]:
    """The first ``count`` ``{"image_id", "caption", "reference"}`` (the first reference)."""
    return [{"image_id": i, "caption": c, "reference": (references.get(i) or [""])[0]}
            for i, c in list(predictions.items())[:count]]


def run_summary(metrics: Mapping, samples: Iterable[Mapping] = (),
                files: Sequence[Tuple[str, str]] = (), seconds: Optional[float] = None,
                title: Optional[str] = None) -> str:
    """The report: ``title`` (default :func:`heading`), a two-column table of the key
    metrics, each sample's image id, caption and reference, and ``files`` as
    ``(path, what it holds)``. Ends with a newline."""
    lines = [title or heading(metrics)]
    rows = metric_rows(metrics, seconds)
    width = max([len(label) for label, _ in rows] + [0])
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    samples = list(samples)
    if samples:
        lines.append("Sample captions:")
        width = max(len(str(s["image_id"])) for s in samples)
        for sample in samples:
            lines.append(f"  {str(sample['image_id']):<{width}}  {sample['caption']}")
            lines.append(f"  {'':<{width}}  (reference: {sample['reference']})")
    if files:
        lines.append("Wrote " + ", ".join(f"{path} ({what})" for path, what in files))
    return "\n".join(lines) + "\n"
