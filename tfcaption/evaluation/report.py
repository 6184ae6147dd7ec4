"""Reports of an evaluation: a markdown table, predictions JSONL and metrics JSON.

Files are written atomically (temporary file + rename, through
:func:`tfcaption.data.captions_file.atomic_write_text`), so a crash never leaves a
truncated report; parent folders are created.
"""

import json
import math
import os
from typing import Hashable, List, Mapping, Optional

import numpy as np

from tfcaption.file_io import atomic_write_text
from tfcaption.evaluation.caption_inputs import check_caption_inputs, check_predictions
from tfcaption.evaluation.unavailable import SUFFIX, is_reason_key, mark_unavailable


def _cell(name, value, digits):
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}" if math.isfinite(value) else str(float(value))
    if isinstance(value, str):
        return value.replace("|", "\\|").replace("\n", " ")
    raise TypeError(f"markdown_table: metric {name!r} holds a {type(value).__name__}; "
                    f"only numbers, strings and None are tabulated")


def markdown_table(metrics: Mapping, digits: int = 4) -> str:
    """A two-column markdown table (``metric | value``) of a flat metrics dict.

    Floats are shown with ``digits`` decimals, ints and strings as they are.
    Unavailable metrics (value None, see :mod:`tfcaption.evaluation.unavailable`) show
    ``n/a [k]`` with their reason as footnote ``[k]`` under the table.
    """
    rows, notes = [], []
    names = [k for k in metrics if not is_reason_key(k)]
    names += [k[:-len(SUFFIX)] for k in metrics
              if is_reason_key(k) and k[:-len(SUFFIX)] not in metrics]
    for name in names:
        value = metrics.get(name)
        if value is None:
            reason = metrics.get(name + SUFFIX)
            if reason:
                notes.append(f"- [{len(notes) + 1}] {name}: {reason}")
                cell = f"n/a [{len(notes)}]"
            else:
                cell = "n/a"
        else:
            cell = _cell(name, value, digits)
        rows.append(f"| {str(name).replace('|', chr(92) + '|')} | {cell} |")
    text = "\n".join(["| metric | value |", "|---|---|"] + rows) + "\n"
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    return text


def _plain(value):
    """numpy scalars/arrays -> JSON types, recursively; non-finite floats -> None."""
    if isinstance(value, Mapping):
        return {k if isinstance(k, (str, int)) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def metrics_json(metrics: Mapping) -> str:
    """``metrics`` as indented JSON text. A top-level NaN / infinity becomes None with
    a ``<name>_unavailable`` reason (JSON has no NaN); nested ones become null."""
    metrics = dict(metrics)
    for name, value in list(metrics.items()):
        if isinstance(value, (float, np.floating)) and not math.isfinite(value):
            mark_unavailable(metrics, name, f"the computed value was {float(value)}")
    return json.dumps(_plain(metrics), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _make_parent(path):
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)


def write_metrics_json(path: str, metrics: Mapping,
                       markdown_path: Optional[str] = None) -> None:
    """Writes :func:`metrics_json` to ``path`` and, with ``markdown_path``, its
    :func:`markdown_table` (which takes flat metrics only: that is checked before
    anything is written), each atomically."""
    text = metrics_json(metrics)
    table = markdown_table(json.loads(text)) if markdown_path else None
    _make_parent(path)
    atomic_write_text(path, text)
    if markdown_path:
        _make_parent(markdown_path)
        atomic_write_text(markdown_path, table)


def write_predictions_jsonl(path: str, predictions: Mapping[Hashable, str],
                            references: Optional[Mapping[Hashable, List[str]]] = None) -> None:
    """One JSON object per image, in the order of ``predictions``:
    ``{"image_id", "caption", "references"}`` (``references`` only when given; then
    it must have exactly the predicted ids). Written atomically."""
    if references is None:
        check_predictions(predictions)
    else:
        check_caption_inputs(predictions, references)
    lines = []
    for image_id, caption in predictions.items():
        record = {"image_id": image_id, "caption": caption}
        if references is not None:
            record["references"] = list(references[image_id])
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    _make_parent(path)
    atomic_write_text(path, "".join(lines))
