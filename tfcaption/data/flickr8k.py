"""Flickr8k as distributed by its authors: ``Flickr8k_text`` + ``Flicker8k_Dataset``.

Layout (the text files may sit in ``source_dir`` or ``source_dir/Flickr8k_text/``)::

    Flickr8k.token.txt          1000268201_693b08cb0e.jpg#0<TAB>A child in a pink dress ...
    Flickr_8k.trainImages.txt   one image file name a line (6000)
    Flickr_8k.devImages.txt     (1000, becomes split "val")
    Flickr_8k.testImages.txt    (1000)
    Flicker8k_Dataset/          the JPEG files (the folder name is misspelt in the release)

The standard split is the one of the three lists, so only images named in a list
become records. Caption groups of the token file that no list names are left out
(the release has 92, among them ``2258277193_586949ec62.jpg.1`` whose image does
not exist); an image named in a list but missing on disk, or without captions,
still yields a record, so the DatasetWriter skips and counts it.

A ``NAME#INDEX`` key given again on a later line of the token file is a
duplicate entry: its caption is still kept (in index order), and the line is
counted as ``duplicate_entries`` in ``prepare_report.json``.
"""

import os
import re
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Union

from tfcaption.data.malformed_source_error import MalformedSourceError
from tfcaption.data.source_record import SourceRecord
from tfcaption.data.source_text import decode_utf8

TOKEN_FILE = "Flickr8k.token.txt"
SPLIT_FILES = (("train", "Flickr_8k.trainImages.txt"),
               ("val", "Flickr_8k.devImages.txt"),
               ("test", "Flickr_8k.testImages.txt"))
TEXT_SUBDIR = "Flickr8k_text"
IMAGE_DIRS = ("Flicker8k_Dataset", "Flickr8k_Dataset",
              os.path.join("Flickr8k_Dataset", "Flicker8k_Dataset"), "Images")

_KEY = re.compile(r"^(?P<name>.+)#(?P<index>\d+)$")


def _find_text_file(source_dir: str, name: str) -> str:
    candidates = [os.path.join(source_dir, name), os.path.join(source_dir, TEXT_SUBDIR, name)]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"flickr8k: {name} not found; looked for {candidates}")


def _find_image_dir(source_dir: str) -> str:
    candidates = [os.path.join(source_dir, d) for d in IMAGE_DIRS]
    for path in candidates:
        if os.path.isdir(path):
            return path
    raise FileNotFoundError(f"flickr8k: no image folder found; looked for {candidates}")


def read_token_file(path: str, duplicates: Optional[Dict[str, List[str]]] = None
                    ) -> Dict[str, List[Union[str, bytes]]]:
    """Returns ``{image file name: [captions in #index order]}``.

    A caption that is not valid UTF-8 is kept as bytes, so the writer drops and
    counts it; a line without a TAB or a ``name#index`` key raises
    MalformedSourceError naming the file and line. When ``duplicates`` is a
    dict, each line repeating an earlier ``NAME#INDEX`` key is added to
    ``duplicates[NAME]`` as a ``"file:line: ..."`` string (its caption is kept).
    """
    groups: Dict[str, List[tuple]] = OrderedDict()
    first_line: Dict[str, int] = {}
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            key, tab, caption = raw.partition(b"\t")
            if not tab:
                raise MalformedSourceError(
                    f"{path}:{line_no}: expected 'NAME#INDEX<TAB>CAPTION', found no TAB in "
                    f"{raw[:80]!r}")
            try:
                match = _KEY.match(key.decode("utf-8").strip())
            except UnicodeDecodeError:
                match = None
            if match is None:
                raise MalformedSourceError(
                    f"{path}:{line_no}: key {key[:80]!r} is not of the form 'NAME#INDEX'")
            try:
                text: Union[str, bytes] = caption.decode("utf-8")
            except UnicodeDecodeError:
                text = caption
            key_text = f"{match['name']}#{int(match['index'])}"
            if key_text in first_line and duplicates is not None:
                duplicates.setdefault(match["name"], []).append(
                    f"{path}:{line_no}: {key_text} again (first at line {first_line[key_text]})")
            first_line.setdefault(key_text, line_no)
            groups.setdefault(match["name"], []).append((int(match["index"]), text))
    return OrderedDict((name, [c for _, c in sorted(caps, key=lambda x: x[0])])
                       for name, caps in groups.items())


def read_split_file(path: str) -> List[str]:
    """Returns the image file names of a split list, one a line, blank lines ignored."""
    names = []
    offset = 0
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            name = decode_utf8(raw, path, first_line=line_no, offset=offset).strip()
            offset += len(raw)
            if not name:
                continue
            if name != os.path.basename(name) or name in (".", ".."):
                raise MalformedSourceError(
                    f"{path}:{line_no}: {name!r} is not a plain image file name")
            names.append(name)
    return names


def records(source_dir: str) -> Iterator[SourceRecord]:
    """Returns one SourceRecord per image named in the train/dev/test lists.

    The text files are read (and checked) at call time; images are only checked
    by the DatasetWriter.
    """
    duplicates: Dict[str, List[str]] = {}
    captions = read_token_file(_find_text_file(source_dir, TOKEN_FILE), duplicates)
    split_lists = [(split, read_split_file(_find_text_file(source_dir, name)))
                   for split, name in SPLIT_FILES]
    return _records(captions, duplicates, split_lists, _find_image_dir(source_dir))


def _records(captions, duplicates, split_lists, image_dir: str) -> Iterator[SourceRecord]:
    for split, names in split_lists:
        for name in names:
            yield SourceRecord(
                image_name=name,
                captions=list(captions.get(name, [])),
                split=split,
                image_id=os.path.splitext(name)[0],
                image_path=os.path.join(image_dir, name),
                # an image listed twice gets its token-file duplicates counted once
                duplicates=duplicates.pop(name, []),
            )
