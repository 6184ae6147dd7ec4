"""Flickr8k source: the authors' text files and image folder, written in the real layout."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfcaption.data import flickr8k
from tfcaption.data.captions_file import MalformedSourceError, read_captions_jsonl
from tfcaption.data.dataset_writer import DatasetWriter

GOOD = {  # name -> (split list, captions in #index order)
    "1000268201_693b08cb0e.jpg": ("train",
                                  [f"A child in a pink dress number {i} ." for i in range(5)]),
    "1001773457_577c3a7d70.jpg": ("train", ["A black dog and a spotted dog are fighting",
                                            "Two dogs on pavement moving toward each other ."]),
    "1002674143_1b742ab4b8.jpg": ("val", ["A little girl covered in paint sits by a rainbow ."]),
    "1003163366_44323f5815.jpg": ("test", ["A man lays on a bench while his dog sits by him ."]),
}
BAD = {  # name -> (split list, skip reason in the report)
    "1007129816_e794419615.jpg": ("train", "missing_image"),
    "1007320043_627395c3d8.jpg": ("val", "empty_image"),
    "1009434119_febe49276a.jpg": ("test", "truncated_image"),
    "1012212859_01547e3f17.jpg": ("train", "no_captions"),
}
UNLISTED = "1015118661_980735411b.jpg"  # in the token file and on disk, in no split list
GHOST = "2258277193_586949ec62.jpg.1"  # in the real token file; no such image


def _jpeg_bytes(size=64, seed=0):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def make_flickr8k(root, text_in_subdir=True):
    text_dir = os.path.join(root, "Flickr8k_text") if text_in_subdir else root
    image_dir = os.path.join(root, "Flicker8k_Dataset")
    os.makedirs(text_dir, exist_ok=True)
    os.makedirs(image_dir, exist_ok=True)
    lines = []
    for name, (_, caps) in GOOD.items():
        order = list(range(len(caps)))
        if len(order) > 1:  # the index, not the line order, fixes the caption order
            order[0], order[1] = order[1], order[0]
        lines += [f"{name}#{i}\t{caps[i]}" for i in order]
    for name, (_, reason) in BAD.items():
        if reason != "no_captions":
            lines += [f"{name}#{i}\tA caption {i} of a bad image ." for i in range(5)]
    lines += [f"{UNLISTED}#{i}\tAn image in no split list ." for i in range(5)]
    lines += [f"{GHOST}#{i}\tA ghost entry of the real file ." for i in range(5)]
    with open(os.path.join(text_dir, "Flickr8k.token.txt"), "w", newline="") as f:
        f.write("\r\n".join(lines) + "\r\n")
    for split, fname in (("train", "Flickr_8k.trainImages.txt"),
                         ("val", "Flickr_8k.devImages.txt"),
                         ("test", "Flickr_8k.testImages.txt")):
        names = [n for n, v in {**GOOD, **BAD}.items() if v[0] == split]
        with open(os.path.join(text_dir, fname), "w") as f:
            f.write("\n".join(names) + "\n")
    for k, name in enumerate(list(GOOD) + [UNLISTED, "1012212859_01547e3f17.jpg"]):
        with open(os.path.join(image_dir, name), "wb") as f:
            f.write(_jpeg_bytes(seed=k))
    open(os.path.join(image_dir, "1007320043_627395c3d8.jpg"), "wb").close()
    data = _jpeg_bytes(seed=99)
    with open(os.path.join(image_dir, "1009434119_febe49276a.jpg"), "wb") as f:
        f.write(data[:int(len(data) * 0.7)])
    return root


def _check_output(out_dir, report):
    recs = {r["image_id"]: r for r in read_captions_jsonl(os.path.join(out_dir, "captions.jsonl"))}
    assert set(recs) == {os.path.splitext(n)[0] for n in GOOD}
    for name, (split, caps) in GOOD.items():
        rec = recs[os.path.splitext(name)[0]]
        assert rec["split"] == split
        assert rec["captions"] == caps
        assert rec["image"] == f"images/{name}"
        assert os.path.getsize(os.path.join(out_dir, rec["image"])) > 0
    assert report["kept"] == {"train": 2, "val": 1, "test": 1}
    expected = {}
    for _, reason in BAD.values():
        expected[reason] = expected.get(reason, 0) + 1
    assert report["skipped"] == expected
    assert report["captions"]["train"] == 7


@pytest.mark.parametrize("text_in_subdir", [True, False])
def test_records_written_and_bad_images_counted(tmp_path, text_in_subdir):
    src = make_flickr8k(str(tmp_path / "src"), text_in_subdir)
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "flickr8k").write(flickr8k.records(src), verbose=False)
    _check_output(out, report.to_dict())
    with open(os.path.join(out, "captions.jsonl")) as f:
        written = f.read()
    assert UNLISTED not in written and "2258277193_586949ec62" not in written


def test_token_file_groups_by_name_and_index(tmp_path):
    src = make_flickr8k(str(tmp_path / "src"))
    groups = flickr8k.read_token_file(os.path.join(src, "Flickr8k_text", "Flickr8k.token.txt"))
    assert groups["1000268201_693b08cb0e.jpg"] == GOOD["1000268201_693b08cb0e.jpg"][1]
    assert len(groups[GHOST]) == 5
    assert len(groups) == len(GOOD) + 3 + 2


@pytest.mark.parametrize("bad_line, what", [
    ("1000268201_693b08cb0e.jpg#5 A caption without a tab", "no TAB"),
    ("1000268201_693b08cb0e.jpg\tA caption without an index", "NAME#INDEX"),
])
def test_malformed_token_line_names_file_and_line(tmp_path, bad_line, what):
    src = make_flickr8k(str(tmp_path / "src"))
    path = os.path.join(src, "Flickr8k_text", "Flickr8k.token.txt")
    with open(path, newline="") as f:
        lines = f.read().split("\r\n")
    lines.insert(2, bad_line)
    with open(path, "w", newline="") as f:
        f.write("\r\n".join(lines))
    with pytest.raises(MalformedSourceError, match=r"Flickr8k\.token\.txt:3: ") as err:
        list(flickr8k.records(src))
    assert what in str(err.value)


def test_undecodable_caption_is_dropped_and_counted(tmp_path):
    src = make_flickr8k(str(tmp_path / "src"))
    path = os.path.join(src, "Flickr8k_text", "Flickr8k.token.txt")
    with open(path, "ab") as f:
        f.write(b"1003163366_44323f5815.jpg#1\tA man \xff\xfe on a bench .\r\n")
    writer = DatasetWriter(str(tmp_path / "out"), "flickr8k")
    report = writer.write(flickr8k.records(src), verbose=False)
    assert report.dropped_captions == 1
    assert report.kept["test"] == 1


def test_repeated_token_key_is_kept_and_counted(tmp_path):
    src = make_flickr8k(str(tmp_path / "src"))
    path = os.path.join(src, "Flickr8k_text", "Flickr8k.token.txt")
    with open(path, "rb") as f:
        num_lines = f.read().count(b"\n")
    first = 1 + sum(len(caps) for caps in [v[1] for v in GOOD.values()][:3])  # test image #0
    with open(path, "ab") as f:
        f.write(b"1003163366_44323f5815.jpg#0\tThe same key once more .\r\n")
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "flickr8k").write(flickr8k.records(src), verbose=False)
    rec, = [r for r in read_captions_jsonl(os.path.join(out, "captions.jsonl"))
            if r["split"] == "test"]
    assert rec["captions"] == GOOD["1003163366_44323f5815.jpg"][1] + ["The same key once more ."]
    saved = report.to_dict()
    assert saved["duplicate_entries"] == 1
    assert saved["duplicate_entries_examples"] == [
        f"{path}:{num_lines + 1}: 1003163366_44323f5815.jpg#0 again (first at line {first})"]


def test_split_list_bad_utf8_names_line_and_byte(tmp_path):
    src = make_flickr8k(str(tmp_path / "src"))
    path = os.path.join(src, "Flickr8k_text", "Flickr_8k.testImages.txt")
    with open(path, "ab") as f:
        f.write(b"caf\xe9.jpg\n")
    with pytest.raises(MalformedSourceError, match=r"Flickr_8k\.testImages\.txt:3: not valid "
                                                   r"UTF-8: byte 0xe9 .* at column 4"):
        list(flickr8k.records(src))


def test_missing_files_are_named(tmp_path):
    src = make_flickr8k(str(tmp_path / "src"))
    os.remove(os.path.join(src, "Flickr8k_text", "Flickr_8k.devImages.txt"))
    with pytest.raises(FileNotFoundError, match="Flickr_8k.devImages.txt"):
        list(flickr8k.records(src))


def test_split_list_with_a_path_is_rejected(tmp_path):
    src = make_flickr8k(str(tmp_path / "src"))
    with open(os.path.join(src, "Flickr8k_text", "Flickr_8k.testImages.txt"), "a") as f:
        f.write("../../escape.jpg\n")
    with pytest.raises(MalformedSourceError, match=r"Flickr_8k\.testImages\.txt:3: "):
        list(flickr8k.records(src))


def test_prepare_cli(tmp_path):
    src = make_flickr8k(str(tmp_path / "src"))
    out = str(tmp_path / "out")
    proc = subprocess.run(
        [sys.executable, "-m", "tfcaption.prepare", "--dataset=flickr8k",
         f"--source_dir={src}", f"--out_dir={out}"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "4 images kept" in proc.stdout
    with open(os.path.join(out, "prepare_report.json")) as f:
        _check_output(out, json.load(f))
