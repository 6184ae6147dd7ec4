"""A user's own folder of images with ``captions.jsonl`` or ``captions.csv``.

``captions.jsonl``: one JSON object a line::

    {"image": "cats/1.jpg", "captions": ["a cat", "a grey cat"], "split": "train"}
    {"image": "dogs/2.png", "caption": "a dog", "image_id": "dog-2", "source": "phone"}

``captions.csv``: header with at least ``image`` and ``caption``; several rows per
image are grouped in first-seen order; optional ``split`` and ``image_id`` columns
(default image_id: the image's relative path, extension included, so ``a.jpg`` and
``a.png`` stay distinct),
any other column is kept as an extra key (JSON lines: any other key).

Image paths are relative to the folder and must lie inside it. Lines naming the
same image are merged (captions appended). ``split`` may be train, val
(validation, dev) or test; images without one go to train/val/test by a hash of
their path and ``seed``, so the assignment is stable across runs and machines.

Duplicate entries are still merged, and also counted: the DatasetWriter reports
them as ``duplicate_entries`` in ``prepare_report.json`` (with ``file:line``
examples). In ``captions.jsonl`` (one object per image) any further line naming an
image is a duplicate; in ``captions.csv`` (one row per caption) a row is a
duplicate when it repeats both the image and the caption (spaces aside) of an
earlier row, while rows giving an image further captions are the normal form.

Both files are read as UTF-8 (a byte-order mark is allowed); a byte that is not
valid UTF-8 raises MalformedSourceError naming the file, line, column and byte.
"""

import csv
import hashlib
import io
import json
import os
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Tuple

from tfcaption.data.malformed_source_error import MalformedSourceError
from tfcaption.data.source_record import SourceRecord
from tfcaption.data.source_text import decode_utf8, read_utf8

JSONL_FILE = "captions.jsonl"
CSV_FILE = "captions.csv"
SPLIT_ALIASES = {"train": "train", "val": "val", "validation": "val", "dev": "val",
                 "test": "test"}
CONSUMED_KEYS = ("image", "caption", "captions", "split", "image_id")


def hash_split(image: str, val_fraction: float, test_fraction: float, seed: int) -> str:
    """Deterministic split of an image path: a uniform number from sha256(seed, path)."""
    digest = hashlib.sha256(f"{seed}\0{image}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0 ** 64
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


class _Group:
    """Captions and fields gathered for one image over one or more lines."""

    def __init__(self, image: str, where: str, line: int):
        self.image = image
        self.where = where
        self.line = line
        self.captions = []
        self.duplicates: List[str] = []  # "file:line: ..." of entries merged as duplicates
        self.split: Optional[str] = None
        self.image_id: Optional[str] = None
        self.extra: Dict[str, object] = {}


def _relative_image(source_dir: str, image, where: str) -> str:
    if not isinstance(image, str) or not image.strip():
        raise MalformedSourceError(f"{where}: 'image' must be a non-empty path, got {image!r}")
    root = os.path.abspath(source_dir)
    rel = os.path.relpath(os.path.abspath(os.path.join(root, image.strip())), root)
    if rel in (".", "..") or rel.startswith(".." + os.sep):
        raise MalformedSourceError(f"{where}: image {image!r} is not inside {source_dir!r}")
    return rel.replace(os.sep, "/")


def _add(groups: "OrderedDict[str, _Group]", source_dir: str, path: str, line: int, image,
         captions: list, split, image_id, extra: dict) -> Tuple[_Group, bool]:
    """Adds one entry to its image's group; returns the group and whether it is new."""
    where = f"{path}:{line}"
    rel = _relative_image(source_dir, image, where)
    group = groups.get(rel)
    new = group is None
    if new:
        group = groups[rel] = _Group(rel, where, line)
    group.captions.extend(captions)
    if split not in (None, ""):
        name = SPLIT_ALIASES.get(str(split).strip().lower())
        if name is None:
            raise MalformedSourceError(
                f"{where}: split {split!r} is not one of train, val (validation, dev), test")
        if group.split not in (None, name):
            raise MalformedSourceError(f"{where}: split {name!r} for {rel!r} contradicts "
                                       f"{group.split!r} given at {group.where}")
        group.split = name
    if image_id not in (None, ""):
        image_id = str(image_id)
        if group.image_id not in (None, image_id):
            raise MalformedSourceError(f"{where}: image_id {image_id!r} for {rel!r} contradicts "
                                       f"{group.image_id!r} given at {group.where}")
        group.image_id = image_id
    for key, value in extra.items():
        group.extra.setdefault(key, value)
    return group, new


def read_jsonl(path: str, source_dir: str) -> "OrderedDict[str, _Group]":
    groups: "OrderedDict[str, _Group]" = OrderedDict()
    offset = 0
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            line_offset, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            where = f"{path}:{line_no}"
            text = decode_utf8(raw, path, first_line=line_no, offset=line_offset)
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise MalformedSourceError(f"{where}: not valid JSON ({e})") from None
            if not isinstance(obj, dict):
                raise MalformedSourceError(
                    f"{where}: expected a JSON object, got {type(obj).__name__}")
            if "image" not in obj:
                raise MalformedSourceError(f"{where}: missing key 'image'")
            if "captions" not in obj and "caption" not in obj:
                raise MalformedSourceError(f"{where}: needs 'captions' (a list) or 'caption'")
            captions = obj.get("captions", [])
            if not isinstance(captions, list):
                raise MalformedSourceError(
                    f"{where}: 'captions' must be a list, got {captions!r:.80}")
            if "caption" in obj:
                if not isinstance(obj["caption"], str):
                    raise MalformedSourceError(
                        f"{where}: 'caption' must be a string, got {obj['caption']!r:.80}")
                captions = captions + [obj["caption"]]
            extra = {k: v for k, v in obj.items() if k not in CONSUMED_KEYS}
            group, new = _add(groups, source_dir, path, line_no, obj["image"], captions,
                              obj.get("split"), obj.get("image_id"), extra)
            if not new:
                group.duplicates.append(f"{where}: {group.image} again (first at line "
                                        f"{group.line})")
    return groups


def read_csv(path: str, source_dir: str) -> "OrderedDict[str, _Group]":
    groups: "OrderedDict[str, _Group]" = OrderedDict()
    first_row: Dict[Tuple[str, str], int] = {}  # (image, caption) -> line of its first row
    reader = csv.reader(io.StringIO(read_utf8(path), newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in ("image", "caption") if c not in header]
        if missing:
            raise MalformedSourceError(
                f"{path}:1: missing column(s) {missing} in header {header}")
        while True:
            first_line = reader.line_num + 1  # a quoted caption may span several lines
            row = next(reader, None)
            if row is None:
                break
            where = f"{path}:{first_line}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise MalformedSourceError(
                    f"{where}: {len(row)} field(s), the header has {len(header)}")
            values = dict(zip(header, row))
            extra = {k: v for k, v in values.items() if k not in CONSUMED_KEYS}
            group, _ = _add(groups, source_dir, path, first_line, values["image"],
                            [values["caption"]], values.get("split"), values.get("image_id"),
                            extra)
            key = (group.image, " ".join(values["caption"].split()))
            if key in first_row:
                group.duplicates.append(f"{where}: {group.image} with the same caption again "
                                        f"(first at line {first_row[key]})")
            else:
                first_row[key] = first_line
    except csv.Error as e:
        raise MalformedSourceError(f"{path}:{reader.line_num}: {e}") from None
    return groups


def records(source_dir: str, val_fraction: float = 0.0, test_fraction: float = 0.0,
            seed: int = 0) -> Iterator[SourceRecord]:
    """Returns SourceRecords for a folder; arguments and caption files are read at call time.

    Args:
      source_dir: folder holding the images and ``captions.jsonl`` or ``captions.csv``.
      val_fraction, test_fraction: share of images without a split sent to val / test.
      seed: changes the hash-based assignment of images without a split.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"folder: {name} {value!r} is not in [0, 1]")
    if val_fraction + test_fraction > 1.0:
        raise ValueError(f"folder: val_fraction + test_fraction = "
                         f"{val_fraction + test_fraction} exceeds 1")
    jsonl, csv_path = os.path.join(source_dir, JSONL_FILE), os.path.join(source_dir, CSV_FILE)
    if os.path.isfile(jsonl) and os.path.isfile(csv_path):
        raise ValueError(f"folder: both {jsonl!r} and {csv_path!r} exist; keep one")
    if os.path.isfile(jsonl):
        groups = read_jsonl(jsonl, source_dir)
    elif os.path.isfile(csv_path):
        groups = read_csv(csv_path, source_dir)
    else:
        raise FileNotFoundError(f"folder: neither {jsonl!r} nor {csv_path!r} exists")
    return _records(groups, source_dir, val_fraction, test_fraction, seed)


def _records(groups, source_dir: str, val_fraction: float, test_fraction: float,
             seed: int) -> Iterator[SourceRecord]:
    for rel, group in groups.items():
        split = group.split or hash_split(rel, val_fraction, test_fraction, seed)
        yield SourceRecord(
            image_name=rel,
            captions=group.captions,
            split=split,
            image_id=group.image_id or rel,
            image_path=os.path.join(source_dir, *rel.split("/")),
            extra=group.extra,
            duplicates=group.duplicates,
        )
