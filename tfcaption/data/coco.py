"""MS-COCO 2014 captions read from the original files.

Two annotation layouts are supported, both with the official image folders
``SOURCE_DIR/train2014/`` and ``SOURCE_DIR/val2014/``:

* ``karpathy``: Karpathy & Fei-Fei's ``dataset_coco.json`` (from
  ``caption_datasets.zip``), by default ``SOURCE_DIR/dataset_coco.json``. Its
  ``train``/``val``/``test`` splits are kept; ``restval`` images (the rest of
  val2014) go to the split named by ``restval`` (``train`` by default, as in
  most captioning papers), or are left out with ``restval="drop"``. Captions
  are the ``raw`` sentences.
* ``raw``: the official ``captions_train2014.json`` / ``captions_val2014.json``
  (from ``annotations_trainval2014.zip``), looked for in
  ``SOURCE_DIR/annotations/`` then ``SOURCE_DIR/``. train2014 becomes split
  ``train`` and val2014 split ``val``; there is no test split.

``annotation_format="auto"`` picks ``karpathy`` when its JSON exists, else
``raw``. Every record has ``image_id`` = the COCO id, ``image`` =
``images/<train2014|val2014>/<file name>`` and the extra key ``coco_id`` (int).
The whole annotation file is parsed and checked before the first record is
yielded, so a malformed file fails before anything is written.
"""

import os
from typing import Iterator, List, Optional, Tuple

from tfcaption.data.malformed_source_error import MalformedSourceError
from tfcaption.data.source_record import SourceRecord
from tfcaption.data.source_text import load_source_json

KARPATHY_FILE = "dataset_coco.json"
# split -> (official captions file, image folder)
RAW_FILES = {"train": ("captions_train2014.json", "train2014"),
             "val": ("captions_val2014.json", "val2014")}
RAW_SEARCH_DIRS = ("annotations", "")
ANNOTATION_FORMATS = ("auto", "karpathy", "raw")
RESTVAL_CHOICES = ("train", "val", "test", "drop")
KARPATHY_SPLITS = ("train", "val", "test", "restval")

# (image_name, image_path, captions, split, coco_id)
_Entry = Tuple[str, str, List, str, int]


def records(source_dir: str, restval: str = "train", annotation_format: str = "auto",
            karpathy_json: Optional[str] = None) -> Iterator[SourceRecord]:
    """Returns the COCO 2014 SourceRecords found under ``source_dir``.

    Args:
      source_dir: folder with ``train2014/``, ``val2014/`` and the annotations.
      restval: where Karpathy ``restval`` images go: train, val, test or drop.
      annotation_format: auto, karpathy or raw (see the module docstring).
      karpathy_json: path of ``dataset_coco.json`` if not in ``source_dir``.

    Raises:
      FileNotFoundError: no annotation file where it is looked for (the
        message lists the paths).
      MalformedSourceError: an annotation file is not valid UTF-8 or JSON
        (the message names the file and line), or lacks a key (the message
        names the file and the entry).
    """
    if restval not in RESTVAL_CHOICES:
        raise ValueError(f"restval {restval!r} is not one of {RESTVAL_CHOICES}")
    if annotation_format not in ANNOTATION_FORMATS:
        raise ValueError(f"annotation_format {annotation_format!r} is not one of "
                         f"{ANNOTATION_FORMATS}")
    if karpathy_json is not None and annotation_format == "raw":
        raise ValueError("karpathy_json is only used with annotation_format 'karpathy' or 'auto'")
    karpathy_path = karpathy_json or os.path.join(source_dir, KARPATHY_FILE)
    raw_paths = {split: _find_raw_file(source_dir, name)
                 for split, (name, _) in RAW_FILES.items()}
    raw_paths = {split: path for split, path in raw_paths.items() if path is not None}

    if annotation_format == "auto":
        if karpathy_json is not None or os.path.isfile(karpathy_path) or not raw_paths:
            annotation_format = "karpathy"
        else:
            annotation_format = "raw"
    if annotation_format == "karpathy":
        if not os.path.isfile(karpathy_path):
            looked = [karpathy_path]
            if karpathy_json is None:
                looked += _raw_candidates(source_dir)
            raise FileNotFoundError(
                f"no COCO annotation file found; looked for: {', '.join(looked)} "
                f"(get dataset_coco.json from Karpathy's caption_datasets.zip, or the "
                f"official captions_{{train,val}}2014.json from annotations_trainval2014.zip)")
        entries = _karpathy_entries(source_dir, karpathy_path, restval)
    else:
        if not raw_paths:
            raise FileNotFoundError(
                "no COCO captions file found; looked for: "
                + ", ".join(_raw_candidates(source_dir)))
        entries = []
        for split, path in raw_paths.items():
            entries.extend(_raw_entries(source_dir, path, split, RAW_FILES[split][1]))
    return _to_records(entries)


def _to_records(entries: List[_Entry]) -> Iterator[SourceRecord]:
    for image_name, image_path, captions, split, coco_id in entries:
        yield SourceRecord(image_name=image_name, captions=captions, split=split,
                           image_id=str(coco_id), image_path=image_path,
                           extra={"coco_id": coco_id})


def _raw_candidates(source_dir: str) -> List[str]:
    return [os.path.join(source_dir, d, name)
            for name, _ in RAW_FILES.values() for d in RAW_SEARCH_DIRS]


def _find_raw_file(source_dir: str, name: str) -> Optional[str]:
    for d in RAW_SEARCH_DIRS:
        path = os.path.join(source_dir, d, name)
        if os.path.isfile(path):
            return path
    return None


def _get(obj, key: str, types, path: str, where: str):
    """Returns ``obj[key]`` checked against ``types``, else raises naming file and entry."""
    if not isinstance(obj, dict):
        raise MalformedSourceError(f"{path}: {where}: expected a JSON object, "
                                   f"got {type(obj).__name__}")
    if key not in obj:
        raise MalformedSourceError(f"{path}: {where}: missing key {key!r}")
    value = obj[key]
    if not isinstance(value, types) or isinstance(value, bool):
        raise MalformedSourceError(f"{path}: {where}: {key!r} has the wrong type "
                                   f"({type(value).__name__}): {value!r:.80}")
    return value


def _image_name(folder: str, filename: str, path: str, where: str) -> str:
    name = f"{folder}/{filename}" if folder else filename
    parts = name.replace("\\", "/").split("/")
    if not filename or os.path.isabs(name) or ".." in parts:
        raise MalformedSourceError(f"{path}: {where}: image path {name!r} must be a "
                                   f"relative path inside the source folder")
    return name


def _karpathy_entries(source_dir: str, path: str, restval: str) -> List[_Entry]:
    data = load_source_json(path)
    images = _get(data, "images", list, path, "top level")
    entries = []
    for i, img in enumerate(images):
        where = f"images[{i}]"
        filename = _get(img, "filename", str, path, where)
        where = f"images[{i}] ({filename})"
        folder = _get(img, "filepath", str, path, where)
        split = _get(img, "split", str, path, where)
        if split not in KARPATHY_SPLITS:
            raise MalformedSourceError(f"{path}: {where}: 'split' is {split!r}, "
                                       f"expected one of {KARPATHY_SPLITS}")
        coco_id = _get(img, "cocoid", int, path, where)
        sentences = _get(img, "sentences", list, path, where)
        captions = [_get(s, "raw", (str, type(None)), path, f"{where} sentences[{j}]")
                    for j, s in enumerate(sentences)]
        if split == "restval":
            if restval == "drop":
                continue
            split = restval
        name = _image_name(folder, filename, path, where)
        entries.append((name, os.path.join(source_dir, name), captions, split, coco_id))
    return entries


def _raw_entries(source_dir: str, path: str, split: str, folder: str) -> List[_Entry]:
    data = load_source_json(path)
    images = _get(data, "images", list, path, "top level")
    annotations = _get(data, "annotations", list, path, "top level")
    captions = {}
    order = []
    for i, img in enumerate(images):
        where = f"images[{i}]"
        image_id = _get(img, "id", int, path, where)
        filename = _get(img, "file_name", str, path, f"{where} (id {image_id})")
        if image_id in captions:
            raise MalformedSourceError(f"{path}: {where}: image id {image_id} is listed twice")
        captions[image_id] = []
        order.append((image_id, _image_name(folder, filename, path, where)))
    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]"
        image_id = _get(ann, "image_id", int, path, where)
        caption = _get(ann, "caption", (str, type(None)), path, f"{where} (image_id {image_id})")
        if image_id not in captions:
            raise MalformedSourceError(f"{path}: {where}: image_id {image_id} is not in 'images'")
        captions[image_id].append(caption)
    return [(name, os.path.join(source_dir, name), captions[image_id], split, image_id)
            for image_id, name in order]
