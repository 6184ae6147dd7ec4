"""SciCap (scientific figure captions): the authors' release or Hugging Face parquet files.

Original release (``scicap_data.zip``; a top folder ``scicap_data/`` is looked through)::

    SciCap-Caption-All/{train,val,test}/<figure stem>.json   one JSON object per figure
    SciCap-No-Subfig-Img/{train,val,test}/<figure-ID>        figures without subfigures
    SciCap-Yes-Subfig-Img/{train,val,test}/<figure-ID>       figures with subfigures

Split folders are matched case-insensitively (the README writes ``Train``). A
later packaging with one JSON list per split (``SciCap-Caption-All-train.json``
inside ``SciCap-Caption-All/``) is read too. Each figure object has
``figure-ID`` (``1001.0025v1-Figure2-1.png``), ``contains-subfigure``,
``paper-ID``, ``0-originally-extracted``,
``1-lowercase-and-token-and-remove-figure-index.caption``,
``2-normalized.2-1-basic-num.caption``,
``2-normalized.2-2-advanced-euqation-bracket.caption`` (sic) and ``Img-text``
(OCR tokens, kept as the extra key ``"Img-text"``).

Hugging Face parquet: every ``*.parquet`` under ``source_dir``; the split comes
from the file name (``train-00000-of-00010.parquet``, ``val-*``, ``test-*``) or
a parent folder of that name. Columns ``image`` (struct ``{bytes, path}``) and
``caption`` are required; ``folder`` is optional and kept as an extra key. The
subfigure filter applies to a row only when its ``folder`` or image path names
``Yes-Subfig`` / ``No-Subfig``; other rows are kept. These files carry one
caption column, so ``caption_field`` does not apply to them.

A JSON file that is not valid UTF-8 or not valid JSON raises
MalformedSourceError naming ``file:line``.
"""

import os
import re
from typing import Iterator, List, Optional, Tuple

from tfcaption.data.malformed_source_error import MalformedSourceError
from tfcaption.data.source_record import SPLITS, SourceRecord
from tfcaption.data.source_text import load_source_json

CAPTION_FIELDS = {
    "original": ("0-originally-extracted",),
    "lowercase": ("1-lowercase-and-token-and-remove-figure-index", "caption"),
    "normalized_basic": ("2-normalized", "2-1-basic-num", "caption"),
    "normalized_advanced": ("2-normalized", "2-2-advanced-euqation-bracket", "caption"),
}
SUBFIG_CHOICES = ("no", "yes", "all")
FORMATS = ("auto", "original", "parquet")
CAPTION_DIR = "SciCap-Caption-All"
IMAGE_DIRS = {False: "SciCap-No-Subfig-Img", True: "SciCap-Yes-Subfig-Img"}
TOP_DIR = "scicap_data"
SPLIT_ALIASES = {"train": "train", "val": "val", "validation": "val", "dev": "val",
                 "test": "test"}
PARQUET_BATCH_ROWS = 64

_LIST_FILE = re.compile(r"^scicap-caption-all-(train|val|test)\.json$", re.IGNORECASE)
_PARQUET_SPLIT = re.compile(r"^(train|validation|val|dev|test)(?=[-_.])", re.IGNORECASE)


def records(source_dir: str, caption_field: str = "normalized_basic", subfig: str = "no",
            source_format: str = "auto") -> Iterator[SourceRecord]:
    """Returns an iterator of SourceRecords; arguments are checked at call time.

    Args:
      source_dir: the unpacked release, or a folder holding the parquet files.
      caption_field: original | lowercase | normalized_basic | normalized_advanced.
      subfig: "no" (figures without subfigures), "yes" (with them) or "all".
      source_format: "original", "parquet", or "auto" (original when
        ``SciCap-Caption-All`` exists, else parquet when any ``*.parquet`` exists).
    """
    if caption_field not in CAPTION_FIELDS:
        raise ValueError(f"scicap: caption_field {caption_field!r} is not one of "
                         f"{tuple(CAPTION_FIELDS)}")
    if subfig not in SUBFIG_CHOICES:
        raise ValueError(f"scicap: subfig {subfig!r} is not one of {SUBFIG_CHOICES}")
    if source_format not in FORMATS:
        raise ValueError(f"scicap: source_format {source_format!r} is not one of {FORMATS}")
    if source_format == "auto":
        source_format = detect_format(source_dir)
    if source_format == "original":
        root = _original_root(source_dir)
        if root is None:
            raise FileNotFoundError(f"scicap: no {CAPTION_DIR}/ folder in {source_dir!r} "
                                    f"or {os.path.join(source_dir, TOP_DIR)!r}")
        return _original_records(root, CAPTION_FIELDS[caption_field], subfig)
    files = parquet_files(source_dir)
    if not files:
        raise FileNotFoundError(f"scicap: no *.parquet file under {source_dir!r}")
    return _parquet_records(files, subfig)


def detect_format(source_dir: str) -> str:
    """Returns "original" or "parquet"; raises FileNotFoundError naming what was looked for."""
    if _original_root(source_dir) is not None:
        return "original"
    for _, _, names in os.walk(source_dir):
        if any(n.endswith(".parquet") for n in names):
            return "parquet"
    raise FileNotFoundError(
        f"scicap: {source_dir!r} holds neither {CAPTION_DIR}/ (original release, also looked "
        f"in {TOP_DIR}/) nor any *.parquet file (Hugging Face)")


def _original_root(source_dir: str) -> Optional[str]:
    for root in (source_dir, os.path.join(source_dir, TOP_DIR)):
        if os.path.isdir(os.path.join(root, CAPTION_DIR)):
            return root
    return None


def _split_child(parent: str, split: str) -> str:
    """The child folder of ``parent`` naming ``split`` in any letter case (or just ``split``)."""
    if os.path.isdir(parent):
        for entry in sorted(os.listdir(parent)):
            if SPLIT_ALIASES.get(entry.lower()) == split and os.path.isdir(
                    os.path.join(parent, entry)):
                return os.path.join(parent, entry)
    return os.path.join(parent, split)


def _figures(caption_root: str, split: str) -> Iterator[Tuple[str, object]]:
    """Yields ``(where, figure object)`` for one split, from per-figure files or a list file."""
    split_dir = _split_child(caption_root, split)
    if os.path.isdir(split_dir):
        for name in sorted(os.listdir(split_dir)):
            if name.endswith(".json"):
                path = os.path.join(split_dir, name)
                yield path, load_source_json(path)
        return
    for name in sorted(os.listdir(caption_root)):
        match = _LIST_FILE.match(name)
        if match and match.group(1).lower() == split:
            path = os.path.join(caption_root, name)
            figures = load_source_json(path)
            if not isinstance(figures, list):
                raise MalformedSourceError(
                    f"{path}: expected a JSON list of figures, got {type(figures).__name__}")
            for i, obj in enumerate(figures):
                yield f"{path}[{i}]", obj


def _lookup(obj: dict, keys: Tuple[str, ...], where: str):
    value = obj
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            path = " -> ".join(repr(k) for k in keys[:depth + 1])
            raise MalformedSourceError(f"{where}: missing key {path}")
        value = value[key]
    return value


def _figure_record(obj, where: str, split: str, image_dirs: dict,
                   caption_keys: Tuple[str, ...], subfig: str) -> Optional[SourceRecord]:
    if not isinstance(obj, dict):
        raise MalformedSourceError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    figure_id = _lookup(obj, ("figure-ID",), where)
    if (not isinstance(figure_id, str) or not figure_id
            or figure_id != os.path.basename(figure_id) or figure_id in (".", "..")):
        raise MalformedSourceError(f"{where}: 'figure-ID' {figure_id!r} is not a file name")
    has_subfig = _lookup(obj, ("contains-subfigure",), where)
    if not isinstance(has_subfig, bool):
        raise MalformedSourceError(
            f"{where}: 'contains-subfigure' must be true or false, got {has_subfig!r}")
    if (subfig == "no" and has_subfig) or (subfig == "yes" and not has_subfig):
        return None
    caption = _lookup(obj, caption_keys, where)
    if caption is not None and not isinstance(caption, str):
        path = " -> ".join(repr(k) for k in caption_keys)
        raise MalformedSourceError(f"{where}: {path} must be a string, got {caption!r:.80}")
    extra = {"contains_subfigure": has_subfig}
    for key, name in (("paper-ID", "paper_id"), ("figure-type", "figure_type"),
                      ("Img-text", "Img-text")):
        if key in obj:
            extra[name] = obj[key]
    return SourceRecord(
        image_name=f"{split}/{figure_id}",
        captions=[caption] if caption is not None else [],
        split=split,
        image_id=os.path.splitext(figure_id)[0],
        image_path=os.path.join(image_dirs[has_subfig], figure_id),
        extra=extra,
    )


def _original_records(root: str, caption_keys: Tuple[str, ...],
                      subfig: str) -> Iterator[SourceRecord]:
    caption_root = os.path.join(root, CAPTION_DIR)
    for split in SPLITS:
        image_dirs = {flag: _split_child(os.path.join(root, folder), split)
                      for flag, folder in IMAGE_DIRS.items()}
        for where, obj in _figures(caption_root, split):
            rec = _figure_record(obj, where, split, image_dirs, caption_keys, subfig)
            if rec is not None:
                yield rec


# ---------------------------------------------------------------- parquet


def parquet_files(source_dir: str) -> List[str]:
    """All ``*.parquet`` files under ``source_dir``, sorted."""
    found = []
    for dirpath, dirnames, names in os.walk(source_dir):
        dirnames.sort()
        found.extend(os.path.join(dirpath, n) for n in names if n.endswith(".parquet"))
    return sorted(found)


def parquet_split(path: str) -> str:
    """The split a parquet file belongs to, from its name or a parent folder name."""
    match = _PARQUET_SPLIT.match(os.path.basename(path))
    if match:
        return SPLIT_ALIASES[match.group(1).lower()]
    parent = os.path.dirname(os.path.abspath(path))
    for _ in range(2):
        split = SPLIT_ALIASES.get(os.path.basename(parent).lower())
        if split:
            return split
        parent = os.path.dirname(parent)
    raise MalformedSourceError(
        f"{path}: cannot tell the split; name parquet files train-*, val-* or test-* "
        f"(or put them in a train/, val/ or test/ folder)")


def _subfig_of(folder: Optional[str], image_path: Optional[str]) -> Optional[str]:
    text = f"{folder or ''} {image_path or ''}".lower().replace("_", "-")
    if "yes-subfig" in text:
        return "yes"
    if "no-subfig" in text:
        return "no"
    return None


def _image_suffix(data: Optional[bytes]) -> str:
    if data and data.startswith(b"\xff\xd8"):
        return ".jpg"
    return ".png"


def _row_captions(value, where: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(c, str) for c in value):
        return value
    raise MalformedSourceError(f"{where}: 'caption' must be a string or list of strings, "
                               f"got {value!r:.80}")


def _row_record(path: str, row: int, split: str, image, caption, folder,
                subfig: str) -> Optional[SourceRecord]:
    where = f"{path}: row {row}"
    if image is not None and not isinstance(image, (dict, bytes)):
        raise MalformedSourceError(f"{where}: 'image' must be a struct {{bytes, path}}")
    data, image_path = (image, None) if isinstance(image, bytes) else (
        (image or {}).get("bytes"), (image or {}).get("path"))
    kind = _subfig_of(folder, image_path)
    if subfig != "all" and kind is not None and kind != subfig:
        return None
    base = os.path.basename(image_path or "")
    if base in ("", ".", ".."):
        stem = os.path.basename(path)[:-len(".parquet")]
        base = f"{stem}-{row:06d}{_image_suffix(data)}"
    source = {"image_bytes": data}
    if data is None:
        if image_path:  # bytes left out: the path is a file next to the parquet file
            source = {"image_path": image_path if os.path.isabs(image_path) else
                      os.path.join(os.path.dirname(path), image_path)}
        else:
            source = {"image_bytes": b""}
    extra = {"folder": folder} if folder is not None else {}
    return SourceRecord(image_name=f"{split}/{base}", captions=_row_captions(caption, where),
                        split=split, image_id=os.path.splitext(base)[0], extra=extra, **source)


def _parquet_records(files: List[str], subfig: str) -> Iterator[SourceRecord]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in files:
        split = parquet_split(path)
        try:
            pfile = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as e:
            raise MalformedSourceError(f"{path}: not a readable parquet file ({e})") from None
        with pfile:
            yield from _parquet_file_records(pfile, path, split, subfig)


def _parquet_file_records(pfile, path: str, split: str,
                          subfig: str) -> Iterator[SourceRecord]:
    """Rows of one open parquet file, read in batches of PARQUET_BATCH_ROWS."""
    import pyarrow as pa

    names = pfile.schema_arrow.names
    missing = [c for c in ("image", "caption") if c not in names]
    if missing:
        raise MalformedSourceError(f"{path}: missing column(s) {missing}; has {names}")
    image_type = pfile.schema_arrow.field("image").type
    if not (pa.types.is_binary(image_type) or pa.types.is_large_binary(image_type) or (
            pa.types.is_struct(image_type) and image_type.get_field_index("bytes") >= 0)):
        raise MalformedSourceError(
            f"{path}: column 'image' has type {image_type}, expected struct<bytes, path>")
    columns = ["image", "caption"] + (["folder"] if "folder" in names else [])
    row = 0
    batches = pfile.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except (pa.ArrowException, OSError) as e:
            raise MalformedSourceError(
                f"{path}: unreadable data after row {row} ({e})") from None
        cols = batch.to_pydict()
        folders = cols.get("folder") or [None] * batch.num_rows
        for image, caption, folder in zip(cols["image"], cols["caption"], folders):
            rec = _row_record(path, row, split, image, caption, folder, subfig)
            row += 1
            if rec is not None:
                yield rec
