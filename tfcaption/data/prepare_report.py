"""Counts of what a ``prepare`` run kept and skipped, printed and written next to the output."""

import collections
import json
from typing import Dict, List

MAX_EXAMPLES = 20


class PrepareReport:
    """Kept records per split and skipped records per reason (with examples)."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.kept: Dict[str, int] = collections.Counter()
        self.captions: Dict[str, int] = collections.Counter()
        self.skipped: Dict[str, int] = collections.Counter()
        self.examples: Dict[str, List[str]] = collections.defaultdict(list)
        self.reencoded = 0
        self.dropped_captions = 0

    def keep(self, split: str, num_captions: int) -> None:
        self.kept[split] += 1
        self.captions[split] += num_captions

    def skip(self, reason: str, what: str) -> None:
        self.skipped[reason] += 1
        if len(self.examples[reason]) < MAX_EXAMPLES:
            self.examples[reason].append(what)

    @property
    def total_kept(self) -> int:
        return sum(self.kept.values())

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "kept": dict(self.kept),
            "captions": dict(self.captions),
            "skipped": dict(self.skipped),
            "skipped_examples": dict(self.examples),
            "reencoded_images": self.reencoded,
            "dropped_captions": self.dropped_captions,
        }

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
        if self.reencoded:
            lines.append(f"re-encoded {self.reencoded} image(s) as PNG (format TensorFlow cannot decode)")
        return "\n".join(lines)
