"""COCO 2014 captions (Karpathy splits) through tensorflow-datasets' ``coco_captions``, offline.

What is supported: the ``coco_captions/2014`` builder shipped with
tensorflow-datasets, prepared from files the user downloaded by hand, then read
with the real TFDS reader. Nothing is fetched from the network
(``try_download_gcs=False``; every file the builder asks for is taken from
``manual_dir``, which is checked before preparing).

How TFDS finds manual files: for each URL the builder requests, the download
manager looks up the URL's registered checksum entry
(``tensorflow_datasets/url_checksums/coco_captions.txt``) and uses
``manual_dir/<registered file name>`` if it exists, after checking its size and
SHA-256 against the registered ones (a mismatch raises; we re-raise it as
MalformedSourceError). The ``coco_captions`` builder requests all of
``MANUAL_FILES`` below: the 2014 train/val image zips, the Karpathy split file
``caption_datasets.zip``, the instance annotations, and also the test2014 /
test2015 image and info zips (its parent ``coco`` builder asks for them even
though no caption split uses them). They are extracted under
``data_dir/downloads/extracted`` and the prepared dataset is written under
``data_dir/coco_captions/2014/<version>/``. If it is already prepared there,
``manual_dir`` is not read at all. For a lighter route that needs only
``train2014/``, ``val2014/`` and ``dataset_coco.json``, use ``tfcaption.data.coco``.
Preparing needs the ``importlib_resources`` package, which tensorflow-datasets 4.9
imports on every Python version but declares only for Python < 3.9.

Records: splits ``train``, ``val``, ``test`` as in TFDS; ``restval`` goes to the
split named by ``restval`` (or is left out with ``"drop"``). Images are the
encoded JPEG bytes stored by TFDS (read with ``SkipDecoding``, never
re-encoded), named ``<tfds split>/<COCO file name>``; ``image_id`` is the COCO id,
also kept as the extra key ``coco_id``.
"""

import os
from typing import Iterator

from tfcaption.data.malformed_source_error import MalformedSourceError
from tfcaption.data.source_record import SourceRecord

DATASET = "coco_captions/2014"
# The files coco_captions/2014 requests, by the names TFDS registers for them.
MANUAL_FILES = (
    "caption_datasets.zip",
    "annotations_trainval2014.zip",
    "image_info_test2014.zip",
    "image_info_test2015.zip",
    "train2014.zip",
    "val2014.zip",
    "test2014.zip",
    "test2015.zip",
)
TFDS_SPLITS = ("train", "val", "test", "restval")
RESTVAL_CHOICES = ("train", "val", "test", "drop")


def records(manual_dir: str, data_dir: str, restval: str = "train") -> Iterator[SourceRecord]:
    """Prepares ``coco_captions/2014`` in ``data_dir`` if needed and returns its records.

    Args:
      manual_dir: folder holding ``MANUAL_FILES`` as downloaded (not extracted).
      data_dir: TFDS data_dir; the prepared dataset and extracted files go there.
      restval: where Karpathy ``restval`` images go: train, val, test or drop.

    Raises:
      FileNotFoundError: the dataset is not prepared and manual files are missing.
      MalformedSourceError: a manual file does not match its registered checksum.
    """
    if restval not in RESTVAL_CHOICES:
        raise ValueError(f"restval {restval!r} is not one of {RESTVAL_CHOICES}")
    import tensorflow_datasets as tfds

    builder = tfds.builder(DATASET, data_dir=data_dir)
    if not builder.is_prepared():
        _prepare(builder, manual_dir, data_dir)
    return _iterate(builder, restval)


def _prepare(builder, manual_dir: str, data_dir: str) -> None:
    import importlib.util

    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download.download_manager import NonMatchingChecksumError

    missing = [name for name in MANUAL_FILES
               if not os.path.isfile(os.path.join(manual_dir, name))]
    if missing:
        raise FileNotFoundError(
            f"coco_captions is not prepared in {data_dir} and {manual_dir} lacks "
            f"{', '.join(missing)}; tensorflow-datasets needs all of {', '.join(MANUAL_FILES)} "
            f"there (images.cocodataset.org/zips/*.zip, images.cocodataset.org/annotations/*.zip "
            f"and cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip), not extracted")
    if importlib.util.find_spec("importlib_resources") is None:
        # tensorflow-datasets 4.9 imports it while preparing, on every Python
        # version, but only declares it for Python < 3.9.
        raise ImportError("preparing coco_captions with tensorflow-datasets needs the "
                          "importlib_resources package: pip install importlib-resources")
    config = tfds.download.DownloadConfig(manual_dir=manual_dir, try_download_gcs=False)
    try:
        builder.download_and_prepare(download_dir=os.path.join(data_dir, "downloads"),
                                     download_config=config)
    except NonMatchingChecksumError as e:
        raise MalformedSourceError(
            f"{manual_dir}: a file does not match the size/SHA-256 that tensorflow-datasets "
            f"registers for it (incomplete or different download?): {e}") from None


def _iterate(builder, restval: str) -> Iterator[SourceRecord]:
    import tensorflow_datasets as tfds

    for tfds_split in TFDS_SPLITS:
        split = tfds_split
        if tfds_split == "restval":
            if restval == "drop":
                continue
            split = restval
        ds = builder.as_dataset(split=tfds_split, shuffle_files=False,
                                decoders={"image": tfds.decode.SkipDecoding()})
        for ex in ds.as_numpy_iterator():
            coco_id = int(ex["image/id"])
            filename = ex["image/filename"].decode("utf-8") or f"{coco_id}.jpg"
            captions = [t.decode("utf-8", errors="replace") for t in ex["captions"]["text"]]
            yield SourceRecord(image_name=f"{tfds_split}/{filename}", captions=captions,
                               split=split, image_id=str(coco_id),
                               image_bytes=bytes(ex["image"]), extra={"coco_id": coco_id})
