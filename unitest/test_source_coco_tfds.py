"""tfcaption.data.coco_tfds through the real tensorflow-datasets coco_captions builder, offline.

The fixture is a manual_dir holding the eight zips coco_captions requests, under
the file names TFDS registers for them, with the real inner layout
(``train2014/*.jpg``, ``annotations/instances_train2014.json``,
``dataset_coco.json``, ...) but tiny contents. Their sizes and SHA-256 differ
from the registered full-size downloads, so the test registers the fixture's
own checksums for the same URLs (as ``--register_checksums`` would); the
download manager's manual_dir lookup, checksum validation, extraction, the
builder's example generation and the TFDS reader all run for real.
"""

import io
import json
import os
import subprocess
import sys
import zipfile

import pytest
import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.core.download import checksums
from tensorflow_datasets.object_detection import coco_captions

from tfcaption.data import coco_tfds
from tfcaption.data.captions_file import MalformedSourceError, read_captions_jsonl
from tfcaption.data.dataset_writer import DatasetWriter

# (coco id, folder, Karpathy split or None when not in dataset_coco.json, raw sentences)
IMAGES = [
    (9, "train2014", "train", ["A red square on a table.", "Something red."]),
    (25, "train2014", "train", ["A green giraffe.", "Tall animal"]),
    (30, "train2014", None, []),
    (42, "val2014", "val", ["A blue bus on the road."]),
    (73, "val2014", "test", ["A yellow cat sleeping.", "A cat."]),
    (74, "val2014", "restval", ["A man riding a wave."]),
]
KARPATHY_SPLIT = {c: s for c, _, s, _ in IMAGES if s}
CAPTIONS = {c: raws for c, _, s, raws in IMAGES if s}


def file_name(folder, coco_id):
    return f"COCO_{folder}_{coco_id:012d}.jpg"


def jpeg_bytes(k):
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (40 * k % 256, 90, 200 - 30 * k)).save(out, format="JPEG")
    return out.getvalue()


JPEGS = {coco_id: jpeg_bytes(k) for k, (coco_id, *_rest) in enumerate(IMAGES)}
CATEGORIES = [{"supercategory": "thing", "id": i + 1, "name": f"category_{i}"}
              for i in range(80)]


def write_zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def coco_json(folder, with_annotations=True):
    images = [{"license": 1, "file_name": file_name(f, c), "coco_url": "", "height": 32,
               "width": 32, "date_captured": "2013-11-14 16:28:13", "flickr_url": "", "id": c}
              for c, f, _, _ in IMAGES if f == folder]
    data = {"info": {"year": 2014}, "licenses": [], "images": images, "categories": CATEGORIES}
    if with_annotations:
        data["annotations"] = [
            {"segmentation": [[1, 1, 20, 1, 20, 20]], "area": 180.5, "iscrowd": 0,
             "image_id": img["id"], "bbox": [1.0, 1.0, 19.0, 19.0], "category_id": 1 + k,
             "id": 1000 + img["id"]}
            for k, img in enumerate(images)]
    return json.dumps(data)


def karpathy_json():
    images, sentid = [], 0
    for imgid, (coco_id, folder, split, raws) in enumerate(c for c in IMAGES if c[2]):
        sentences = [{"tokens": r.lower().strip(".").split(), "raw": r, "imgid": imgid,
                      "sentid": sentid + j} for j, r in enumerate(raws)]
        sentid += len(raws)
        images.append({"filepath": folder, "sentids": [s["sentid"] for s in sentences],
                       "filename": file_name(folder, coco_id), "imgid": imgid, "split": split,
                       "sentences": sentences, "cocoid": coco_id})
    return json.dumps({"images": images, "dataset": "coco"})


def write_manual_dir(manual_dir):
    """The eight downloads coco_captions/2014 requests, tiny but in the real layout."""
    manual_dir.mkdir(parents=True)
    test_info = lambda name: json.dumps(  # noqa: E731
        {"info": {}, "licenses": [], "categories": CATEGORIES,
         "images": [{"id": 1, "file_name": f"COCO_{name}_000000000001.jpg", "height": 32,
                     "width": 32}]})
    for folder in ("train2014", "val2014"):
        write_zip(manual_dir / f"{folder}.zip",
                  {f"{folder}/{file_name(f, c)}": JPEGS[c] for c, f, _, _ in IMAGES
                   if f == folder})
    for folder in ("test2014", "test2015"):
        write_zip(manual_dir / f"{folder}.zip",
                  {f"{folder}/COCO_{folder}_000000000001.jpg": jpeg_bytes(9)})
        write_zip(manual_dir / f"image_info_{folder}.zip",
                  {f"annotations/image_info_{folder}.json": test_info(folder)})
    write_zip(manual_dir / "annotations_trainval2014.zip",
              {"annotations/instances_train2014.json": coco_json("train2014"),
               "annotations/instances_val2014.json": coco_json("val2014")})
    write_zip(manual_dir / "caption_datasets.zip",
              {"dataset_coco.json": karpathy_json(),
               "dataset_flickr8k.json": json.dumps({"images": [], "dataset": "flickr8k"})})
    assert sorted(os.listdir(manual_dir)) == sorted(coco_tfds.MANUAL_FILES)


def register_fixture_checksums(monkeypatch, manual_dir):
    """Registers the fixture files' size/SHA-256 for the URLs TFDS registers them under."""
    real = coco_captions.CocoCaptions.url_infos
    registered = {url: checksums.compute_url_info(manual_dir / info.filename)
                  for url, info in real.items() if info.filename in coco_tfds.MANUAL_FILES}
    assert sorted(i.filename for i in registered.values()) == sorted(coco_tfds.MANUAL_FILES)
    monkeypatch.setattr(coco_captions.CocoCaptions, "url_infos", registered)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Prepares coco_captions once from the fixture manual_dir; returns (manual_dir, data_dir, rows)."""
    root = tmp_path_factory.mktemp("coco_tfds")
    manual_dir, data_dir, out = root / "manual", root / "tfds", root / "out"
    write_manual_dir(manual_dir)
    with pytest.MonkeyPatch.context() as mp:
        register_fixture_checksums(mp, manual_dir)
        report = DatasetWriter(str(out), "coco_tfds").write(
            coco_tfds.records(str(manual_dir), str(data_dir)), verbose=False)
    rows = {int(r["image_id"]): r for r in read_captions_jsonl(str(out / "captions.jsonl"))}
    return manual_dir, data_dir, out, report, rows


def test_prepares_and_reads_real_builder(prepared):
    _, data_dir, out, report, rows = prepared
    builder = tfds.builder(coco_tfds.DATASET, data_dir=str(data_dir))
    assert builder.is_prepared()
    assert {name: s.num_examples for name, s in builder.info.splits.items()} == {
        "train": 2, "val": 1, "test": 1, "restval": 1}

    assert sorted(rows) == sorted(KARPATHY_SPLIT)  # 30 is not in dataset_coco.json
    for coco_id, tfds_split in KARPATHY_SPLIT.items():
        row = rows[coco_id]
        folder = "train2014" if tfds_split == "train" else "val2014"
        assert row["split"] == ("train" if tfds_split == "restval" else tfds_split)
        assert row["captions"] == CAPTIONS[coco_id]
        assert row["coco_id"] == coco_id
        assert row["image"] == f"images/{tfds_split}/{file_name(folder, coco_id)}"
        assert (out / row["image"]).read_bytes() == JPEGS[coco_id]  # stored bytes, not re-encoded
    assert dict(report.kept) == {"train": 3, "val": 1, "test": 1}
    assert report.total_skipped == 0


@pytest.mark.parametrize("restval, kept", [
    ("val", {"train": 2, "val": 2, "test": 1}),
    ("test", {"train": 2, "val": 1, "test": 2}),
    ("drop", {"train": 2, "val": 1, "test": 1}),
])
def test_restval_reuses_prepared_dataset(prepared, tmp_path, restval, kept):
    _, data_dir, _, _, _ = prepared
    # Already prepared: no manual file and no checksum registration are needed.
    out = tmp_path / "out"
    report = DatasetWriter(str(out), "coco_tfds").write(
        coco_tfds.records(str(tmp_path / "no_manual_dir"), str(data_dir), restval=restval),
        verbose=False)
    assert dict(report.kept) == kept
    rows = {int(r["image_id"]): r for r in read_captions_jsonl(str(out / "captions.jsonl"))}
    assert (74 not in rows) if restval == "drop" else (rows[74]["split"] == restval)


def test_missing_manual_files_named(tmp_path):
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    (manual_dir / "val2014.zip").write_bytes(b"PK")
    with pytest.raises(FileNotFoundError) as err:
        coco_tfds.records(str(manual_dir), str(tmp_path / "tfds"))
    msg = str(err.value)
    assert str(manual_dir) in msg
    lacks = set(msg.split(" lacks ")[1].split(";")[0].split(", "))
    assert lacks == set(coco_tfds.MANUAL_FILES) - {"val2014.zip"}


def test_checksum_mismatch_is_reported(tmp_path):
    # The real registered checksums (full-size downloads) do not match tiny files.
    manual_dir = tmp_path / "manual"
    write_manual_dir(manual_dir)
    with pytest.raises(MalformedSourceError, match="SHA-256") as err:
        coco_tfds.records(str(manual_dir), str(tmp_path / "tfds"))
    assert str(manual_dir) in str(err.value)
    assert not tfds.builder(coco_tfds.DATASET, data_dir=str(tmp_path / "tfds")).is_prepared()


def test_cli_prepare_coco_tfds(prepared, tmp_path):
    _, data_dir, _, _, _ = prepared
    source = tmp_path / "manual"
    source.mkdir()
    out = tmp_path / "cli_out"
    proc = subprocess.run(
        [sys.executable, "-m", "tfcaption.prepare", "--dataset=coco_tfds",
         f"--source_dir={source}", f"--tfds_data_dir={data_dir}", f"--out_dir={out}"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "5 images kept, 0 records skipped" in proc.stdout
    rows = read_captions_jsonl(str(out / "captions.jsonl"))
    assert sorted((int(r["image_id"]), r["split"]) for r in rows) == [
        (9, "train"), (25, "train"), (42, "val"), (73, "test"), (74, "train")]
