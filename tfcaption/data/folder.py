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
"""

import csv
import hashlib
import json
import os
from collections import OrderedDict
from typing import Dict, Iterator, Optional

from tfcaption.data.malformed_source_error import MalformedSourceError
from tfcaption.data.source_record import SourceRecord

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

    def __init__(self, image: str, where: str):
        self.image = image
        self.where = where
        self.captions = []
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


def _add(groups: "OrderedDict[str, _Group]", source_dir: str, where: str, image,
         captions: list, split, image_id, extra: dict) -> None:
    rel = _relative_image(source_dir, image, where)
    group = groups.get(rel)
    if group is None:
        group = groups[rel] = _Group(rel, where)
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


def read_jsonl(path: str, source_dir: str) -> "OrderedDict[str, _Group]":
    groups: "OrderedDict[str, _Group]" = OrderedDict()
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
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
            _add(groups, source_dir, where, obj["image"], captions, obj.get("split"),
                 obj.get("image_id"), extra)
    return groups


def read_csv(path: str, source_dir: str) -> "OrderedDict[str, _Group]":
    groups: "OrderedDict[str, _Group]" = OrderedDict()
    with open(path, "r", encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in ("image", "caption") if c not in header]
            if missing:
                raise MalformedSourceError(
                    f"{path}:1: missing column(s) {missing} in header {header}")
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(header):
                    raise MalformedSourceError(
                        f"{where}: {len(row)} field(s), the header has {len(header)}")
                values = dict(zip(header, row))
                extra = {k: v for k, v in values.items() if k not in CONSUMED_KEYS}
                _add(groups, source_dir, where, values["image"], [values["caption"]],
                     values.get("split"), values.get("image_id"), extra)
        except UnicodeDecodeError as e:
            raise MalformedSourceError(
                f"{path}:{reader.line_num + 1}: not valid UTF-8 ({e})") from None
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
        )
