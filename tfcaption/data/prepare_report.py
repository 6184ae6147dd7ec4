"""Counts of what a ``prepare`` run kept and skipped, printed and written next to the output.

``prepare_report.json`` keys:

* ``kept`` / ``captions``: images and captions written, per split.
* ``skipped`` / ``skipped_examples``: records left out, per reason (missing,
  empty, corrupt or truncated image, duplicate image or id, no usable caption).
* ``dropped_captions``: empty or undecodable captions dropped from kept or
  skipped records.
* ``long_captions`` / ``long_captions_examples``: captions longer than
  ``max_caption_chars`` characters, dropped (not truncated).
* ``duplicate_entries`` / ``duplicate_entries_examples``: source entries
  (``file:line``) that repeated an image already listed and were merged into it.
* ``reencoded_images``: images re-encoded as PNG.
"""

import collections
import json
from typing import Dict, List, Optional

MAX_EXAMPLES = 20
NOTES = ("duplicate_entries", "long_captions")  # counted with examples, nothing skipped


class PrepareReport:
    """Kept records per split, skipped records per reason, and noted events (with examples)."""

    def __init__(self, dataset: str, max_caption_chars: Optional[int] = None):
        self.dataset = dataset
        self.max_caption_chars = max_caption_chars
        self.kept: Dict[str, int] = collections.Counter()
        self.captions: Dict[str, int] = collections.Counter()
        self.skipped: Dict[str, int] = collections.Counter()
        self.examples: Dict[str, List[str]] = collections.defaultdict(list)
        self.noted: Dict[str, int] = collections.Counter()
        self.noted_examples: Dict[str, List[str]] = collections.defaultdict(list)
        self.reencoded = 0
        self.dropped_captions = 0

    def keep(self, split: str, num_captions: int) -> None:
        self.kept[split] += 1
        self.captions[split] += num_captions

    def skip(self, reason: str, what: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples[reason]) < MAX_EXAMPLES:
            self.examples[reason].append(what)

    def note(self, kind: str, what: str) -> None:
        """Counts one event of a kind in NOTES that dropped no record."""
        if kind not in NOTES:
            raise ValueError(f"note kind {kind!r} is not one of {NOTES}")
        self.noted[kind] += 1
        if len(self.noted_examples[kind]) < MAX_EXAMPLES:
            self.noted_examples[kind].append(what)

    @property
    def duplicate_entries(self) -> int:
        return self.noted["duplicate_entries"]

    @property
    def long_captions(self) -> int:
        return self.noted["long_captions"]

    @property
    def total_kept(self) -> int:
        return sum(self.kept.values())

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict:
        out = {
            "dataset": self.dataset,
            "kept": dict(self.kept),
            "captions": dict(self.captions),
            "skipped": dict(self.skipped),
            "skipped_examples": dict(self.examples),
            "reencoded_images": self.reencoded,
            "dropped_captions": self.dropped_captions,
            "max_caption_chars": self.max_caption_chars,
        }
        for kind in NOTES:
            out[kind] = self.noted[kind]
            out[f"{kind}_examples"] = list(self.noted_examples[kind])
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def summary(self) -> str:
        lines = [f"dataset {self.dataset}: {self.total_kept} images kept, "
                 f"{self.total_skipped} records skipped"]
        lines.append("| split | images | captions |")
        lines.append("|---|---|---|")
        for split in sorted(self.kept):
            lines.append(f"| {split} | {self.kept[split]} | {self.captions[split]} |")
        for reason in sorted(self.skipped):
            ex = ", ".join(self.examples[reason][:3])
            lines.append(f"skipped {self.skipped[reason]} ({reason}), e.g. {ex}")
        if self.dropped_captions:
            lines.append(f"dropped {self.dropped_captions} empty or undecodable caption(s)")
        if self.long_captions:
            ex = ", ".join(self.noted_examples["long_captions"][:3])
            lines.append(f"dropped {self.long_captions} caption(s) longer than "
                         f"{self.max_caption_chars} characters (long_captions), e.g. {ex}")
        if self.duplicate_entries:
            ex = ", ".join(self.noted_examples["duplicate_entries"][:3])
            lines.append(f"merged {self.duplicate_entries} duplicate entr"
                         f"{'y' if self.duplicate_entries == 1 else 'ies'} into the image's "
                         f"first entry, captions kept (duplicate_entries), e.g. {ex}")
        if self.reencoded:
            lines.append(f"re-encoded {self.reencoded} image(s) as PNG (format TensorFlow cannot decode)")
        return "\n".join(lines)
