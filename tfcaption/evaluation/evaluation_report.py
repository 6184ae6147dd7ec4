"""Writes an evaluation's report files: metrics JSON, predictions JSONL, markdown.

The same three files come from the ``evaluate`` command and from the end of training
(``metrics.json``, ``predictions.jsonl``, ``metrics.md`` in the workdir).
"""

import json
import os
from typing import Mapping, Optional

from tfcaption.file_io import atomic_write_text
from tfcaption.evaluation.report import markdown_table, metrics_json, write_predictions_jsonl
from tfcaption.kill_point import kill_point

SECTION_TITLES = {"coco": "COCO caption metrics", "clip_score": "CLIPScore",
                  "diversity": "Diversity (predictions; reference_*: each image's first "
                               "reference)",
                  "shapes": "shapes scorer", "charts": "charts scorer"}
MAX_LISTED_UNREADABLE = 20


def _is_scalar(value) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def evaluation_markdown(metrics: Mapping) -> str:
    """A markdown report of evaluation metrics: the top-level numbers, then one table
    per section (``coco``, ``clip_score``, ``diversity``, ``shapes``, ``charts``, any
    other flat dict), then the unreadable images (the first
    :data:`MAX_LISTED_UNREADABLE`).
    Unavailable metrics show ``n/a`` with their reason as a footnote."""
    parts = []
    settings = metrics.get("settings") or {}
    if settings:
        parts.append(f"Split `{settings.get('split')}` of `{settings.get('data_dir')}`, "
                     f"decoding `{(settings.get('decoding') or {}).get('method')}`.\n")
    top = {k: v for k, v in metrics.items() if _is_scalar(v)}
    if top:
        parts.append(markdown_table(top))
    for key, value in metrics.items():
        if key == "settings" or not isinstance(value, Mapping):
            continue
        flat = {k: v for k, v in value.items() if _is_scalar(v)}
        if flat:
            parts.append(f"### {SECTION_TITLES.get(key, key)}\n\n" + markdown_table(flat))
    unreadable = metrics.get("unreadable_images") or []
    if unreadable:
        lines = [f"- {u.get('error', u)}" for u in unreadable[:MAX_LISTED_UNREADABLE]]
        if len(unreadable) > MAX_LISTED_UNREADABLE:
            lines.append(f"- ... and {len(unreadable) - MAX_LISTED_UNREADABLE} more")
        parts.append("### Unreadable images (skipped)\n\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)


def default_report_paths(metrics_path: str):
    """``(predictions_path, markdown_path)`` next to ``metrics_path``:
    ``X.json`` -> ``X.predictions.jsonl`` and ``X.md``."""
    stem = metrics_path[:-len(".json")] if metrics_path.endswith(".json") else metrics_path
    return stem + ".predictions.jsonl", stem + ".md"


def write_evaluation(result, metrics_path: str, predictions_path: Optional[str] = None,
                     markdown_path: Optional[str] = None) -> dict:
    """Writes ``result.metrics`` as JSON to ``metrics_path`` and, when given, the
    predictions (``{"image_id", "caption", "references"}`` lines) and the markdown
    report; each file atomically, parent folders created. Returns the metrics as
    written (plain JSON types; what ``json.load`` of the file gives)."""
    text = metrics_json(result.metrics)
    written = json.loads(text)
    for path in (metrics_path, predictions_path, markdown_path):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if predictions_path:
        write_predictions_jsonl(predictions_path, result.predictions, result.references)
    if markdown_path:
        atomic_write_text(markdown_path, evaluation_markdown(written))
    kill_point("reports_written")
    atomic_write_text(metrics_path, text)
    return written
