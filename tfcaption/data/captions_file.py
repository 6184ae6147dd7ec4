"""Reading and writing ``captions.jsonl``, the common dataset form.

Each line is one image: ``{"image": "images/x.jpg", "captions": [...],
"split": "train|val|test", "image_id": "..."}`` plus optional extra keys.
"""

import json
import os
from typing import Iterable, List, Optional

from tfcaption.data.malformed_source_error import MalformedSourceError
from tfcaption.file_io import atomic_write_text
from tfcaption.data.source_record import SPLITS

CAPTIONS_FILE = "captions.jsonl"
REQUIRED_KEYS = ("image", "captions", "split", "image_id")


def parse_record(obj, path: str, line_no: int) -> dict:
    """Validates one decoded JSON line of the common form."""
    where = f"{path}:{line_no}"
    if not isinstance(obj, dict):
        raise MalformedSourceError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise MalformedSourceError(f"{where}: missing key(s) {missing}")
    if not isinstance(obj["captions"], list):
        raise MalformedSourceError(f"{where}: 'captions' must be a list, got {obj['captions']!r:.80}")
    if obj["split"] not in SPLITS:
        raise MalformedSourceError(f"{where}: 'split' is {obj['split']!r}, expected one of {SPLITS}")
    if not isinstance(obj["image"], str) or not obj["image"]:
        raise MalformedSourceError(f"{where}: 'image' must be a non-empty path string")
    obj["image_id"] = str(obj["image_id"])
    return obj


def read_captions_jsonl(path: str, split: Optional[str] = None) -> List[dict]:
    """Reads a ``captions.jsonl`` file; raises MalformedSourceError naming file:line."""
    records = []
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise MalformedSourceError(f"{path}:{line_no}: not valid JSON ({e})") from None
            obj = parse_record(obj, path, line_no)
            if split is None or obj["split"] == split:
                records.append(obj)
    return records


def write_captions_jsonl(path: str, records: Iterable[dict]) -> None:
    """Writes records atomically, one JSON object per line."""
    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in records]
    atomic_write_text(path, "".join(lines))
