"""tfcaption.data.coco on small fixtures in the real COCO 2014 on-disk layouts."""

import io
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from tfcaption.data import coco
from tfcaption.data.captions_file import MalformedSourceError, read_captions_jsonl
from tfcaption.data.dataset_writer import DatasetWriter

# (coco id, folder, Karpathy split, raw sentences); "tokens" differ from "raw" on purpose.
KARPATHY = [
    (9, "train2014", "train", ["A red square on a table.", "Something  red."]),
    (25, "train2014", "train", ["A green giraffe.", "Tall animal", "A giraffe eating",
                                "Green thing", "An animal."]),
    (42, "val2014", "val", ["A blue bus on the road."]),
    (73, "val2014", "test", ["A yellow cat sleeping."]),
    (74, "val2014", "restval", ["A man riding a wave."]),
    (75, "val2014", "restval", ["Two dogs playing.", "Dogs in a park."]),
    (90, "train2014", "train", ["This image file is missing."]),
    (91, "val2014", "val", ["This image file is empty."]),
]
MISSING_ID, EMPTY_ID = 90, 91
COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 30), (90, 90, 90),
          (10, 120, 240)]


def file_name(folder, coco_id):
    return f"COCO_{folder}_{coco_id:012d}.jpg"


def jpeg_bytes(color):
    out = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(out, format="JPEG")
    return out.getvalue()


def write_images(source_dir, entries):
    """Writes a tiny JPEG per entry, except a missing one and a zero-byte one."""
    for k, (coco_id, folder, *_rest) in enumerate(entries):
        path = source_dir / folder / file_name(folder, coco_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        if coco_id == MISSING_ID:
            continue
        path.write_bytes(b"" if coco_id == EMPTY_ID else jpeg_bytes(COLORS[k % len(COLORS)]))


def karpathy_json(entries):
    images, sentid = [], 0
    for imgid, (coco_id, folder, split, raws) in enumerate(entries):
        sentences = []
        for raw in raws:
            tokens = raw.lower().strip(".").split()
            sentences.append({"tokens": tokens, "raw": raw, "imgid": imgid, "sentid": sentid})
            sentid += 1
        images.append({"filepath": folder, "sentids": [s["sentid"] for s in sentences],
                       "filename": file_name(folder, coco_id), "imgid": imgid, "split": split,
                       "sentences": sentences, "cocoid": coco_id})
    return {"images": images, "dataset": "coco"}


@pytest.fixture
def karpathy_dir(tmp_path):
    source = tmp_path / "coco"
    write_images(source, KARPATHY)
    (source / "dataset_coco.json").write_text(json.dumps(karpathy_json(KARPATHY)))
    return source


def write_raw(source_dir, annotations_subdir="annotations"):
    """Official captions_{train,val}2014.json; image 30 has no caption."""
    entries = [(9, "train2014"), (25, "train2014"), (30, "train2014"),
               (42, "val2014"), (73, "val2014")]
    write_images(source_dir, entries)
    caps = {9: ["A red square.", "Red."], 25: ["A giraffe."], 42: ["A bus."],
            73: ["A cat.", "Cat sleeping.", "A sleepy cat."]}
    ann_id = 1
    for folder in ("train2014", "val2014"):
        images, anns = [], []
        for coco_id, f in entries:
            if f != folder:
                continue
            images.append({"license": 1, "file_name": file_name(folder, coco_id),
                           "coco_url": "", "height": 32, "width": 32,
                           "date_captured": "2013-11-14 16:28:13", "flickr_url": "",
                           "id": coco_id})
            for c in caps.get(coco_id, []):
                anns.append({"image_id": coco_id, "id": ann_id, "caption": c})
                ann_id += 1
        data = {"info": {"year": 2014}, "images": images, "licenses": [], "annotations": anns}
        path = source_dir / annotations_subdir / f"captions_{folder}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
    return caps


def prepare(source_dir, out_dir, **kwargs):
    report = DatasetWriter(str(out_dir), "coco").write(coco.records(str(source_dir), **kwargs),
                                                       verbose=False)
    rows = read_captions_jsonl(str(out_dir / "captions.jsonl"))
    return report, {int(r["image_id"]): r for r in rows}


def test_karpathy_default_restval_to_train(karpathy_dir, tmp_path):
    out = tmp_path / "out"
    report, rows = prepare(karpathy_dir, out)

    expected = {c: (folder, "train" if s == "restval" else s, raws)
                for c, folder, s, raws in KARPATHY if c not in (MISSING_ID, EMPTY_ID)}
    assert sorted(rows) == sorted(expected)
    for coco_id, (folder, split, raws) in expected.items():
        row = rows[coco_id]
        assert row["split"] == split
        assert row["captions"] == [" ".join(r.split()) for r in raws]
        assert row["coco_id"] == coco_id
        assert row["image"] == f"images/{folder}/{file_name(folder, coco_id)}"
        image = out / row["image"]
        assert image.read_bytes() == (karpathy_dir / folder / file_name(folder, coco_id)).read_bytes()
    assert rows[9]["captions"][1] == "Something red."  # raw text, whitespace-normalised

    assert dict(report.kept) == {"train": 4, "val": 1, "test": 1}
    assert dict(report.skipped) == {"missing_image": 1, "empty_image": 1}
    saved = json.loads((out / "prepare_report.json").read_text())
    assert saved["skipped"] == {"missing_image": 1, "empty_image": 1}
    assert saved["skipped_examples"]["missing_image"][0].endswith(file_name("train2014", 90))
    assert saved["skipped_examples"]["empty_image"][0].endswith(file_name("val2014", 91))


@pytest.mark.parametrize("restval, kept", [
    ("val", {"train": 2, "val": 3, "test": 1}),
    ("test", {"train": 2, "val": 1, "test": 3}),
    ("drop", {"train": 2, "val": 1, "test": 1}),
])
def test_karpathy_restval_options(karpathy_dir, tmp_path, restval, kept):
    report, rows = prepare(karpathy_dir, tmp_path / "out", restval=restval)
    assert dict(report.kept) == kept
    if restval == "drop":
        assert 74 not in rows and 75 not in rows
    else:
        assert rows[74]["split"] == restval and rows[75]["split"] == restval


def test_karpathy_json_elsewhere(karpathy_dir, tmp_path):
    moved = tmp_path / "splits" / "my_karpathy.json"
    moved.parent.mkdir()
    os.replace(karpathy_dir / "dataset_coco.json", moved)
    _, rows = prepare(karpathy_dir, tmp_path / "out", karpathy_json=str(moved))
    assert rows[73]["split"] == "test"
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        coco.records(str(karpathy_dir), karpathy_json=str(tmp_path / "nowhere.json"))


@pytest.mark.parametrize("annotation_format, subdir", [("raw", "annotations"), ("auto", ""),
                                                       ("auto", "annotations")])
def test_raw_format(tmp_path, annotation_format, subdir):
    source = tmp_path / "coco"
    caps = write_raw(source, subdir)
    out = tmp_path / "out"
    report, rows = prepare(source, out, annotation_format=annotation_format)

    assert sorted(rows) == [9, 25, 42, 73]
    for coco_id, captions in caps.items():
        folder = "train2014" if coco_id < 40 else "val2014"
        assert rows[coco_id]["captions"] == captions
        assert rows[coco_id]["split"] == ("train" if folder == "train2014" else "val")
        assert rows[coco_id]["image"] == f"images/{folder}/{file_name(folder, coco_id)}"
        assert (out / rows[coco_id]["image"]).is_file()
    assert dict(report.kept) == {"train": 2, "val": 2}
    assert dict(report.skipped) == {"no_captions": 1}  # image 30 has no annotation
    assert report.examples["no_captions"][0].endswith(file_name("train2014", 30))


def test_auto_prefers_karpathy_over_raw(karpathy_dir, tmp_path):
    write_raw(karpathy_dir)
    report, rows = prepare(karpathy_dir, tmp_path / "out")
    assert rows[73]["split"] == "test"  # only the Karpathy split has a test split
    assert rows[42]["captions"] == ["A blue bus on the road."]
    _, raw_rows = prepare(karpathy_dir, tmp_path / "out_raw", annotation_format="raw")
    assert raw_rows[42]["captions"] == ["A bus."] and raw_rows[73]["split"] == "val"


def test_no_annotations_names_paths(tmp_path):
    source = tmp_path / "empty"
    source.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        coco.records(str(source))
    msg = str(err.value)
    assert str(source / "dataset_coco.json") in msg
    assert str(source / "annotations" / "captions_train2014.json") in msg
    assert str(source / "captions_val2014.json") in msg
    with pytest.raises(FileNotFoundError, match="captions_val2014.json"):
        coco.records(str(source), annotation_format="raw")
    with pytest.raises(ValueError, match="restval"):
        coco.records(str(source), restval="bogus")


def test_invalid_json_names_file(karpathy_dir):
    path = karpathy_dir / "dataset_coco.json"
    path.write_text('{"images": [')
    with pytest.raises(MalformedSourceError, match="not valid JSON") as err:
        coco.records(str(karpathy_dir))
    assert str(path) in str(err.value)


def _indented(data):
    """The JSON text over many lines, as the real files are often re-saved."""
    return json.dumps(data, indent=1)


def _line_of(text, needle):
    return text[:text.index(needle)].count("\n") + 1


def test_bad_utf8_in_karpathy_json_names_its_line(karpathy_dir):
    path = karpathy_dir / "dataset_coco.json"
    text = _indented(karpathy_json(KARPATHY))
    line = _line_of(text, "A yellow cat sleeping.")
    path.write_bytes(text.encode().replace(b"A yellow cat", b"A yellow \xff cat"))
    with pytest.raises(MalformedSourceError) as err:
        coco.records(str(karpathy_dir))
    message = str(err.value)
    assert f"{path}:{line}: not valid UTF-8: byte 0xff (invalid start byte)" in message
    assert """after '     "raw": "A yellow '""" in message


def test_bad_utf8_in_raw_captions_names_its_line(tmp_path):
    source = tmp_path / "coco"
    write_raw(source)
    path = source / "annotations" / "captions_val2014.json"
    text = _indented(json.loads(path.read_text()))
    line = _line_of(text, "Cat sleeping.")
    path.write_bytes(text.encode().replace(b"Cat sleeping.", b"Cat sle\xe9ping."))
    with pytest.raises(MalformedSourceError,
                       match=rf"captions_val2014\.json:{line}: not valid UTF-8: byte 0xe9"):
        coco.records(str(source))


def test_invalid_json_names_file_and_line(karpathy_dir):
    path = karpathy_dir / "dataset_coco.json"
    text = _indented(karpathy_json(KARPATHY))
    line = _line_of(text, '"cocoid": 42')
    path.write_text(text.replace('"cocoid": 42', '"cocoid": 42,,'))
    with pytest.raises(MalformedSourceError, match=rf"dataset_coco\.json:{line}: not valid JSON"):
        coco.records(str(karpathy_dir))


@pytest.mark.parametrize("index, drop_key, expected", [
    (1, "sentences", r"images\[1\] \(COCO_train2014_000000000025.jpg\): missing key 'sentences'"),
    (2, "filename", r"images\[2\]: missing key 'filename'"),
    (3, "cocoid", r"images\[3\] \(COCO_val2014_000000000073.jpg\): missing key 'cocoid'"),
])
def test_karpathy_missing_key(karpathy_dir, index, drop_key, expected):
    path = karpathy_dir / "dataset_coco.json"
    data = karpathy_json(KARPATHY)
    del data["images"][index][drop_key]
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedSourceError, match=expected) as err:
        coco.records(str(karpathy_dir))
    assert str(path) in str(err.value)


def test_karpathy_bad_values(karpathy_dir):
    path = karpathy_dir / "dataset_coco.json"
    data = karpathy_json(KARPATHY)
    del data["images"][4]["sentences"][0]["raw"]
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedSourceError, match=r"images\[4\] .*sentences\[0\]: missing key 'raw'"):
        coco.records(str(karpathy_dir))
    data = karpathy_json(KARPATHY)
    data["images"][0]["split"] = "training"
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedSourceError, match=r"images\[0\] .*'split' is 'training'"):
        coco.records(str(karpathy_dir))
    data = karpathy_json(KARPATHY)
    data["images"][0]["filepath"] = "../outside"
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedSourceError, match=r"images\[0\] .*relative path"):
        coco.records(str(karpathy_dir))
    path.write_text(json.dumps({"dataset": "coco"}))
    with pytest.raises(MalformedSourceError, match="top level: missing key 'images'"):
        coco.records(str(karpathy_dir))


def test_raw_malformed(tmp_path):
    source = tmp_path / "coco"
    write_raw(source)
    path = source / "annotations" / "captions_val2014.json"
    data = json.loads(path.read_text())
    data["annotations"][1]["image_id"] = 12345
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedSourceError, match=r"annotations\[1\]: image_id 12345 is not in") as err:
        coco.records(str(source))
    assert str(path) in str(err.value)
    del data["annotations"]
    path.write_text(json.dumps(data))
    with pytest.raises(MalformedSourceError, match="missing key 'annotations'"):
        coco.records(str(source))


def test_cli_prepare_coco(karpathy_dir, tmp_path):
    out = tmp_path / "cli_out"
    proc = subprocess.run(
        [sys.executable, "-m", "tfcaption.prepare", "--dataset=coco",
         f"--source_dir={karpathy_dir}", f"--out_dir={out}", "--coco_restval=drop"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "4 images kept, 2 records skipped" in proc.stdout
    rows = read_captions_jsonl(str(out / "captions.jsonl"))
    assert sorted((int(r["image_id"]), r["split"]) for r in rows) == [
        (9, "train"), (25, "train"), (42, "val"), (73, "test")]
    for r in rows:
        assert (out / r["image"]).is_file()
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["kept"] == {"train": 2, "val": 1, "test": 1}
