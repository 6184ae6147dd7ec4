"""Normalises SourceRecords into the common form ``DIR/images/...`` + ``DIR/captions.jsonl``.

Every record is checked: missing, zero-byte, corrupt or truncated images and
records without a usable caption are skipped and counted in a PrepareReport,
which is printed and written to ``DIR/prepare_report.json``.

Captions are cleaned here, for every source alike: whitespace is collapsed,
empty and undecodable ones are dropped (``dropped_captions``), and so is any
caption longer than ``max_caption_chars`` characters (default
``MAX_CAPTION_CHARS``), counted as ``long_captions`` with examples. A caption
that long is almost always a pasted paragraph or a CSV quote left open;
cutting it would keep a sentence that stops mid-word, so it is dropped, not
truncated. Source entries merged as duplicates (``SourceRecord.duplicates``) are
counted as ``duplicate_entries``.
"""

import concurrent.futures
import itertools
import os
import shutil
from typing import Iterable, Optional

from tfcaption.data import captions_file
from tfcaption.data.image_check import check_image, reencode_png
from tfcaption.data.prepare_report import PrepareReport
from tfcaption.data.source_record import SourceRecord

IMAGE_MODES = ("copy", "symlink", "hardlink")
REPORT_FILE = "prepare_report.json"
# Longest caption kept, in characters after whitespace is collapsed: room for a
# caption of several sentences; pass a larger max_caption_chars (or None) to keep longer.
MAX_CAPTION_CHARS = 1000


def clean_caption_text(caption) -> Optional[str]:
    """Returns the caption stripped, or None when it is empty or undecodable."""
    if isinstance(caption, bytes):
        try:
            caption = caption.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(caption, str) or "\ufffd" in caption:
        return None
    caption = " ".join(caption.split())
    return caption or None


class DatasetWriter:
    """Writes a dataset in the common form, skipping and counting bad records.

    Args:
      out_dir: output directory (created).
      dataset: name used in the report.
      image_mode: how file-based images land under ``images/``: copy, symlink or hardlink.
      verify: "full" decodes every image, "header" only checks its header.
      num_workers: threads used for image checks.
      max_caption_chars: captions longer than this (in characters, after
        whitespace is collapsed) are dropped and counted as ``long_captions``;
        None keeps every length.
    """

    def __init__(self, out_dir: str, dataset: str, image_mode: str = "copy",
                 verify: str = "full", num_workers: int = 4,
                 max_caption_chars: Optional[int] = MAX_CAPTION_CHARS):
        if max_caption_chars is not None and (
                isinstance(max_caption_chars, bool) or not isinstance(max_caption_chars, int)
                or max_caption_chars < 1):
            raise ValueError(f"max_caption_chars {max_caption_chars!r} is not a positive "
                             f"integer or None")
        if image_mode not in IMAGE_MODES:
            raise ValueError(f"image_mode {image_mode!r} is not one of {IMAGE_MODES}")
        if verify not in ("full", "header"):
            raise ValueError(f"verify {verify!r} is not 'full' or 'header'")
        self.out_dir = out_dir
        self.image_mode = image_mode
        self.verify = verify
        self.num_workers = num_workers
        self.max_caption_chars = max_caption_chars
        self.report = PrepareReport(dataset, max_caption_chars)
        self.dropped_captions = 0

    def _too_long(self, caption: str) -> bool:
        return self.max_caption_chars is not None and len(caption) > self.max_caption_chars

    def _check(self, rec: SourceRecord):
        captions = [clean_caption_text(c) for c in rec.captions]
        long = [(i, c) for i, c in enumerate(captions) if c is not None and self._too_long(c)]
        good = [c for c in captions if c is not None and not self._too_long(c)]
        dropped = sum(c is None for c in captions)
        reason, reencode = check_image(rec.image_path, rec.image_bytes,
                                       full=self.verify == "full")
        return rec, good, dropped, long, reason, reencode

    @staticmethod
    def _final_name(rec: SourceRecord, reencode: bool) -> str:
        """The path under ``images/``: re-encoded images keep their suffix (``x.webp.png``)."""
        return rec.image_name + ".png" if reencode else rec.image_name

    def _place_image(self, rec: SourceRecord, reencode: bool) -> str:
        rel = os.path.join("images", self._final_name(rec, reencode))
        dst = os.path.join(self.out_dir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.lexists(dst):
            os.remove(dst)
        if reencode:
            data = reencode_png(rec.image_path, rec.image_bytes)
            self.report.reencoded += 1
        else:
            data = rec.image_bytes
        if data is not None:
            tmp = dst + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, dst)
        elif self.image_mode == "copy":
            shutil.copyfile(rec.image_path, dst)
        elif self.image_mode == "symlink":
            os.symlink(os.path.abspath(rec.image_path), dst)
        else:
            os.link(rec.image_path, dst)
        return rel.replace(os.sep, "/")

    def write(self, records: Iterable[SourceRecord], verbose: bool = True) -> PrepareReport:
        """Consumes the records, writes the dataset and returns the report."""
        os.makedirs(os.path.join(self.out_dir, "images"), exist_ok=True)
        out, seen, seen_ids = [], set(), set()
        it = iter(records)
        with concurrent.futures.ThreadPoolExecutor(self.num_workers) as pool:
            while True:
                chunk = list(itertools.islice(it, 256))
                if not chunk:
                    break
                for rec, good, dropped, long, reason, reencode in pool.map(self._check, chunk):
                    self.dropped_captions += dropped
                    what = rec.image_path or rec.image_name
                    for i, caption in long:
                        self.report.note(
                            "long_captions", f"{what} (id {rec.image_id}) caption {i}: "
                            f"{len(caption)} chars, {caption[:40]!r}...")
                    for entry in rec.duplicates:
                        self.report.note("duplicate_entries", entry)
                    name = self._final_name(rec, reencode)
                    if reason is None and name in seen:
                        self.report.skip("duplicate_image", what)
                    elif reason is None and str(rec.image_id) in seen_ids:
                        self.report.skip("duplicate_image_id", f"{what} (id {rec.image_id})")
                    elif reason is not None:
                        self.report.skip(reason, what)
                    elif not good:
                        self.report.skip("no_captions", what)
                    else:
                        seen.add(name)
                        seen_ids.add(str(rec.image_id))
                        entry = {"image": self._place_image(rec, reencode), "captions": good,
                                 "split": rec.split, "image_id": str(rec.image_id)}
                        entry.update(rec.extra)
                        out.append(entry)
                        self.report.keep(rec.split, len(good))
        self.report.dropped_captions = self.dropped_captions
        captions_file.write_captions_jsonl(
            os.path.join(self.out_dir, captions_file.CAPTIONS_FILE), out)
        captions_file.atomic_write_text(os.path.join(self.out_dir, REPORT_FILE),
                                        self.report.to_json())
        if verbose:
            print(self.report.summary(), flush=True)
        return self.report
