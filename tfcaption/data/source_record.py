"""One image with its captions, as a dataset source yields it before normalisation."""

import dataclasses
from typing import Any, Dict, List, Optional

SPLITS = ("train", "val", "test")


@dataclasses.dataclass
class SourceRecord:
    """A raw record from any source.

    Exactly one of ``image_path`` (a file on disk) or ``image_bytes`` (encoded
    bytes, e.g. from parquet or TFDS) is set. ``image_name`` is the relative
    path the image gets under ``DIR/images/``. ``duplicates`` lists, as
    ``"file:line: ..."`` strings, the source entries that repeated this image
    and were merged into it; the DatasetWriter counts them as
    ``duplicate_entries`` in the report (they are not written out).
    """

    image_name: str
    captions: List[str]
    split: str
    image_id: str
    image_path: Optional[str] = None
    image_bytes: Optional[bytes] = None
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)
    duplicates: List[str] = dataclasses.field(default_factory=list)

    def __post_init__(self):
        if (self.image_path is None) == (self.image_bytes is None):
            raise ValueError(
                f"SourceRecord {self.image_id!r}: set exactly one of image_path or image_bytes"
            )
        if self.split not in SPLITS:
            raise ValueError(
                f"SourceRecord {self.image_id!r}: split {self.split!r} is not one of {SPLITS}"
            )
        parts = self.image_name.replace("\\", "/").split("/")
        if ".." in parts or "" in parts:  # also catches "", "/abs" and "a//b"
            raise ValueError(f"SourceRecord {self.image_id!r}: image_name {self.image_name!r} "
                             f"must be a relative path that stays under images/")
        reserved = {"image", "captions", "split", "image_id"} & set(self.extra)
        if reserved:
            raise ValueError(
                f"SourceRecord {self.image_id!r}: extra keys {sorted(reserved)} clash with the common form"
            )
