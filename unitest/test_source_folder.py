"""Folder source: a user's images with captions.jsonl or captions.csv."""

import collections
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfcaption.data import folder
from tfcaption.data.captions_file import MalformedSourceError, read_captions_jsonl
from tfcaption.data.dataset_writer import DatasetWriter


def _image_bytes(fmt="JPEG", size=64, seed=0):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


def _write(path, data: bytes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def make_images(root):
    _write(os.path.join(root, "cats", "1.jpg"), _image_bytes(seed=1))
    _write(os.path.join(root, "dogs", "2.png"), _image_bytes("PNG", size=16, seed=2))
    _write(os.path.join(root, "birds", "3.jpg"), _image_bytes(seed=3))
    _write(os.path.join(root, "bad", "empty.jpg"), b"")
    data = _image_bytes(seed=4)
    _write(os.path.join(root, "bad", "cut.jpg"), data[:int(len(data) * 0.7)])
    return root


JSONL_LINES = [
    {"image": "cats/1.jpg", "captions": ["a cat", "a grey cat"], "split": "train"},
    {"image": "dogs/2.png", "caption": "a dog", "image_id": "dog-2", "source": "phone"},
    {"image": "./cats/1.jpg", "caption": "a sleepy cat", "rating": 5},
    {"image": "birds/3.jpg", "captions": ["a bird"], "split": "validation"},
    {"image": "bad/missing.jpg", "caption": "not there", "split": "test"},
    {"image": "bad/empty.jpg", "caption": "zero bytes", "split": "test"},
    {"image": "bad/cut.jpg", "caption": "cut short", "split": "test"},
]


def make_jsonl(root, lines=JSONL_LINES):
    make_images(root)
    with open(os.path.join(root, "captions.jsonl"), "w") as f:
        for obj in lines:
            f.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")
        f.write("\n")
    return root


CSV_TEXT = (
    "\ufeffimage,caption,split,photographer\n"
    "cats/1.jpg,a cat,train,ann\n"
    "dogs/2.png,\"a dog, sitting\",,bob\n"
    "cats/1.jpg,a grey cat,train,\n"
    "birds/3.jpg,a bird,test,cy\n"
    "\n"
    "dogs/2.png,\"a dog\non two lines\",,bob\n"
    "bad/missing.jpg,gone,val,\n"
    "bad/empty.jpg,zero,val,\n"
    "bad/cut.jpg,cut,val,\n"
)


def make_csv(root, text=CSV_TEXT):
    make_images(root)
    with open(os.path.join(root, "captions.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return root


def _read(out):
    return {r["image_id"]: r for r in read_captions_jsonl(os.path.join(out, "captions.jsonl"))}


def _check_counted(report, reasons=("missing_image", "empty_image", "truncated_image")):
    assert report.skipped == {r: 1 for r in reasons}


def test_jsonl_records(tmp_path):
    src = make_jsonl(str(tmp_path / "src"))
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "folder").write(folder.records(src), verbose=False)
    recs = _read(out)
    assert set(recs) == {"cats/1.jpg", "dog-2", "birds/3.jpg"}
    assert recs["cats/1.jpg"]["captions"] == ["a cat", "a grey cat", "a sleepy cat"]
    assert recs["cats/1.jpg"]["rating"] == 5 and recs["cats/1.jpg"]["split"] == "train"
    assert recs["dog-2"] == {"image": "images/dogs/2.png", "captions": ["a dog"],
                             "split": "train", "image_id": "dog-2", "source": "phone"}
    assert recs["birds/3.jpg"]["split"] == "val"
    for rec in recs.values():
        assert os.path.getsize(os.path.join(out, rec["image"])) > 0
    assert report.kept == {"train": 2, "val": 1}
    _check_counted(report)


def test_csv_rows_grouped(tmp_path):
    src = make_csv(str(tmp_path / "src"))
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "folder").write(folder.records(src), verbose=False)
    recs = _read(out)
    assert set(recs) == {"cats/1.jpg", "dogs/2.png", "birds/3.jpg"}
    assert recs["cats/1.jpg"]["captions"] == ["a cat", "a grey cat"]
    assert recs["dogs/2.png"]["captions"] == ["a dog, sitting", "a dog on two lines"]
    assert recs["cats/1.jpg"]["photographer"] == "ann"
    assert [recs[k]["split"] for k in ("cats/1.jpg", "dogs/2.png", "birds/3.jpg")] == ["train", "train", "test"]
    assert report.kept == {"train": 2, "test": 1}
    _check_counted(report)


def test_hash_split_is_deterministic_and_follows_fractions():
    names = [f"photos/{i:04d}.jpg" for i in range(2000)]
    first = [folder.hash_split(n, 0.2, 0.1, seed=0) for n in names]
    assert first == [folder.hash_split(n, 0.2, 0.1, seed=0) for n in names]
    counts = collections.Counter(first)
    assert abs(counts["val"] / 2000 - 0.2) < 0.04
    assert abs(counts["test"] / 2000 - 0.1) < 0.03
    reseeded = [folder.hash_split(n, 0.2, 0.1, seed=1) for n in names]
    assert sum(a != b for a, b in zip(first, reseeded)) > 200
    assert {folder.hash_split(n, 0.0, 0.0, seed=3) for n in names} == {"train"}


def test_images_without_split_use_the_hash(tmp_path):
    src = str(tmp_path / "src")
    names = [f"img/{i}.png" for i in range(12)]
    for i, name in enumerate(names):
        _write(os.path.join(src, name), _image_bytes("PNG", size=8, seed=i))
    lines = [{"image": n, "caption": f"picture {i}"} for i, n in enumerate(names)]
    lines[0]["split"] = "test"
    with open(os.path.join(src, "captions.jsonl"), "w") as f:
        f.write("".join(json.dumps(obj) + "\n" for obj in lines))
    got = {r.image_name: r.split for r in folder.records(src, 0.4, 0.3, seed=5)}
    want = {n: folder.hash_split(n, 0.4, 0.3, 5) for n in names}
    want[names[0]] = "test"
    assert got == want
    assert len(set(want.values())) == 3


@pytest.mark.parametrize("line, message", [
    ('{"image": "cats/1.jpg", "caption": "a cat"', "not valid JSON"),
    ('{"captions": ["no image"]}', "missing key 'image'"),
    ('{"image": "cats/1.jpg"}', "'captions' (a list) or 'caption'"),
    ('{"image": "cats/1.jpg", "captions": "a cat"}', "'captions' must be a list"),
    ('{"image": "cats/1.jpg", "caption": "x", "split": "holdout"}', "split 'holdout'"),
    ('{"image": "../outside.jpg", "caption": "x"}', "is not inside"),
    ('["cats/1.jpg", "a cat"]', "expected a JSON object"),
])
def test_jsonl_malformed_names_file_and_line(tmp_path, line, message):
    src = make_jsonl(str(tmp_path / "src"), JSONL_LINES[:2] + [line])
    with pytest.raises(MalformedSourceError) as err:
        folder.records(src)
    assert "captions.jsonl:3: " in str(err.value)
    assert message in str(err.value)


def test_jsonl_contradicting_split_is_an_error(tmp_path):
    lines = JSONL_LINES[:1] + [{"image": "cats/1.jpg", "caption": "x", "split": "test"}]
    src = make_jsonl(str(tmp_path / "src"), lines)
    with pytest.raises(MalformedSourceError, match=r"captions\.jsonl:2: split 'test'.*"
                                                   r"captions\.jsonl:1"):
        folder.records(src)


@pytest.mark.parametrize("text, where, message", [
    ("image,text\ncats/1.jpg,a cat\n", "captions.csv:1: ", "['caption']"),
    ("image,caption\ncats/1.jpg,a cat\ndogs/2.png,a dog,extra\n", "captions.csv:3: ",
     "3 field(s)"),
    ("image,caption,split\ncats/1.jpg,a cat,train\ndogs/2.png,a dog,later\n",
     "captions.csv:3: ", "split 'later'"),
])
def test_csv_malformed_names_file_and_line(tmp_path, text, where, message):
    src = make_csv(str(tmp_path / "src"), text)
    with pytest.raises(MalformedSourceError) as err:
        folder.records(src)
    assert where in str(err.value)
    assert message in str(err.value)


def _csv_with_bad_byte(rows_before):
    """A captions.csv whose bad byte (0xe9, Latin-1 'é') sits on line rows_before + 2."""
    body = "".join(f"cats/1.jpg,caption number {i} of a long file\n" for i in range(rows_before))
    return ("\ufeffimage,caption\n" + body).encode("utf-8") + b"dogs/2.png,caf\xe9 au lait\n"


@pytest.mark.parametrize("rows_before, line", [(3, 5), (400, 402)])
def test_csv_bad_utf8_names_its_line(tmp_path, rows_before, line):
    # 400 rows put the bad byte past the text reader's first 8 KiB chunk.
    src = make_images(str(tmp_path / "src"))
    _write(os.path.join(src, "captions.csv"), _csv_with_bad_byte(rows_before))
    with pytest.raises(MalformedSourceError) as err:
        folder.records(src)
    message = str(err.value)
    assert f"captions.csv:{line}: not valid UTF-8: byte 0xe9" in message
    assert "at column 15," in message and "after 'dogs/2.png,caf'" in message


def test_csv_bad_utf8_after_a_caption_on_two_lines(tmp_path):
    src = make_images(str(tmp_path / "src"))
    text = b'image,caption\ncats/1.jpg,"a cat\r\non two lines"\r\nbirds/3.jpg,\xff\n'
    _write(os.path.join(src, "captions.csv"), text)
    with pytest.raises(MalformedSourceError, match=r"captions\.csv:4: not valid UTF-8: "
                                                   r"byte 0xff .* at column 13, file offset 60"):
        folder.records(src)
    assert text.index(b"\xff") == 60


def test_jsonl_bad_utf8_names_line_column_and_offset(tmp_path):
    src = make_jsonl(str(tmp_path / "src"), JSONL_LINES[:2])
    path = os.path.join(src, "captions.jsonl")
    with open(path, "rb") as f:
        before = f.read()
    bad = b'{"image": "birds/3.jpg", "caption": "a \xff bird"}\n'
    assert bad.index(b"\xff") == 39
    with open(path, "ab") as f:  # line 4: make_jsonl ends with a blank line 3
        f.write(bad)
    with pytest.raises(MalformedSourceError) as err:
        folder.records(src)
    assert (f"captions.jsonl:4: not valid UTF-8: byte 0xff (invalid start byte) at column 40, "
            f"file offset {len(before) + 39}") in str(err.value)


def test_jsonl_duplicate_entries_are_merged_and_counted(tmp_path):
    lines = JSONL_LINES + [{"image": "dogs/2.png", "caption": "a dog again"}]
    src = make_jsonl(str(tmp_path / "src"), lines)
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "folder").write(folder.records(src), verbose=False)
    recs = _read(out)
    assert recs["cats/1.jpg"]["captions"] == ["a cat", "a grey cat", "a sleepy cat"]
    assert recs["dog-2"]["captions"] == ["a dog", "a dog again"]
    path = os.path.join(src, "captions.jsonl")
    with open(os.path.join(out, "prepare_report.json")) as f:
        saved = json.load(f)
    assert saved["duplicate_entries"] == 2 == report.duplicate_entries
    assert saved["duplicate_entries_examples"] == [
        f"{path}:3: cats/1.jpg again (first at line 1)",
        f"{path}:8: dogs/2.png again (first at line 2)"]
    _check_counted(report)  # merged, not skipped


def test_csv_repeated_rows_are_counted_but_further_captions_are_not(tmp_path):
    text = (CSV_TEXT + "cats/1.jpg,a  cat,train,\n"  # line 12 repeats line 2 (spaces aside)
            + '"dogs/2.png","a dog\non two lines",,bob\n')  # 13-14 repeat the row at 7-8
    src = make_csv(str(tmp_path / "src"), text)
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "folder").write(folder.records(src))
    recs = _read(out)
    assert recs["cats/1.jpg"]["captions"] == ["a cat", "a grey cat", "a cat"]
    assert recs["dogs/2.png"]["captions"] == ["a dog, sitting", "a dog on two lines",
                                              "a dog on two lines"]
    path = os.path.join(src, "captions.csv")
    assert report.to_dict()["duplicate_entries"] == 2
    assert report.to_dict()["duplicate_entries_examples"] == [
        f"{path}:12: cats/1.jpg with the same caption again (first at line 2)",
        f"{path}:13: dogs/2.png with the same caption again (first at line 7)"]
    _check_counted(report)


def test_duplicate_entries_are_in_the_printed_summary(tmp_path, capsys):
    src = make_jsonl(str(tmp_path / "src"))
    DatasetWriter(str(tmp_path / "out"), "folder").write(folder.records(src))
    text = capsys.readouterr().out
    assert ("merged 1 duplicate entry into the image's first entry, captions kept "
            "(duplicate_entries), e.g. " + os.path.join(src, "captions.jsonl") + ":3: "
            "cats/1.jpg again (first at line 1)") in text


def test_csv_error_in_a_caption_on_two_lines_names_its_first_line(tmp_path):
    text = 'image,caption,split\ncats/1.jpg,a cat,train\ndogs/2.png,"a dog\non two lines",later\n'
    src = make_csv(str(tmp_path / "src"), text)
    with pytest.raises(MalformedSourceError, match=r"captions\.csv:3: split 'later'"):
        folder.records(src)


def test_missing_or_ambiguous_caption_file_and_bad_fractions(tmp_path):
    src = make_images(str(tmp_path / "src"))
    with pytest.raises(FileNotFoundError, match=r"captions\.jsonl.*captions\.csv"):
        folder.records(src)
    make_jsonl(src)
    make_csv(src)
    with pytest.raises(ValueError, match="both"):
        folder.records(src)
    with pytest.raises(ValueError, match="exceeds 1"):
        folder.records(src, val_fraction=0.7, test_fraction=0.5)


def test_prepare_cli(tmp_path):
    src = make_csv(str(tmp_path / "src"), CSV_TEXT.replace(",test,cy", ",,cy"))
    out = str(tmp_path / "out")
    proc = subprocess.run(
        [sys.executable, "-m", "tfcaption.prepare", "--dataset=folder", f"--source_dir={src}",
         f"--out_dir={out}", "--val_fraction=0.5", "--test_fraction=0.5", "--seed=3"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    recs = _read(out)
    assert set(recs) == {"cats/1.jpg", "dogs/2.png", "birds/3.jpg"}
    assert recs["cats/1.jpg"]["split"] == "train"
    for key in ("dogs/2.png", "birds/3.jpg"):
        assert recs[key]["split"] == folder.hash_split(key, 0.5, 0.5, 3) != "train"
    with open(os.path.join(out, "prepare_report.json")) as f:
        report = json.load(f)
    assert report["skipped"] == {"missing_image": 1, "empty_image": 1, "truncated_image": 1}
    assert report["duplicate_entries"] == 0 and report["long_captions"] == 0
