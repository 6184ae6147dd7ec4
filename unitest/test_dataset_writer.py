import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfcaption.data import image_ops
from tfcaption.data.captions_file import MalformedSourceError, read_captions_jsonl
from tfcaption.data.dataset_writer import MAX_CAPTION_CHARS, DatasetWriter
from tfcaption.data.source_record import SourceRecord


def _jpeg(path, size=(24, 20), mode="RGB", fmt="JPEG"):
    Image.new(mode, size, color=(10, 200, 30) if mode == "RGB" else None).save(path, format=fmt)


def _rec(path, i, captions=("a caption",), split="train"):
    return SourceRecord(image_name=os.path.basename(path), captions=list(captions),
                        split=split, image_id=str(i), image_path=path)


@pytest.fixture
def broken_source(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    good = []
    for i in range(5):
        p = str(src / f"good{i}.jpg")
        _jpeg(p)
        good.append(_rec(p, i, split=("train", "val", "test", "train", "train")[i]))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    buf = io.BytesIO()
    noise.save(buf, format="JPEG")
    full = buf.getvalue()
    (src / "trunc.jpg").write_bytes(full[: len(full) // 2])
    (src / "zero.jpg").write_bytes(b"")
    (src / "corrupt.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    bad = [_rec(str(src / "trunc.jpg"), 10), _rec(str(src / "zero.jpg"), 11),
           _rec(str(src / "corrupt.jpg"), 12), _rec(str(src / "missing.jpg"), 13)]
    p = str(src / "nocap.jpg")
    _jpeg(p)
    bad.append(_rec(p, 14, captions=["   ", b"\xff\xfe"]))
    return good, bad


def test_bad_records_are_skipped_and_counted_and_good_ones_survive(tmp_path, broken_source):
    good, bad = broken_source
    out = str(tmp_path / "out")
    mixed = [good[0], bad[0], good[1], bad[1], bad[2], good[2], bad[3], good[3], bad[4], good[4]]
    report = DatasetWriter(out, "t").write(mixed, verbose=False)
    assert dict(report.skipped) == {"truncated_image": 1, "empty_image": 1, "corrupt_image": 1,
                                    "missing_image": 1, "no_captions": 1}
    assert report.dropped_captions == 2
    recs = read_captions_jsonl(os.path.join(out, "captions.jsonl"))
    assert [r["image_id"] for r in recs] == ["0", "1", "2", "3", "4"]
    assert [r["split"] for r in recs] == ["train", "val", "test", "train", "train"]
    for r in recs:
        assert Image.open(os.path.join(out, r["image"])).size == (24, 20)
    on_disk = json.load(open(os.path.join(out, "prepare_report.json")))
    assert on_disk["skipped"]["truncated_image"] == 1 and on_disk["kept"]["train"] == 3
    assert any("trunc.jpg" in e for e in on_disk["skipped_examples"]["truncated_image"])


def test_summary_is_printed(tmp_path, broken_source, capsys):
    good, bad = broken_source
    DatasetWriter(str(tmp_path / "o"), "t").write(good + bad)
    text = capsys.readouterr().out
    assert "5 images kept, 5 records skipped" in text and "truncated_image" in text


@pytest.mark.parametrize("mode", ["copy", "symlink", "hardlink"])
def test_image_modes(tmp_path, mode):
    p = str(tmp_path / "a.jpg")
    _jpeg(p)
    out = tmp_path / "out"
    DatasetWriter(str(out), "t", image_mode=mode).write([_rec(p, 0)], verbose=False)
    dst = out / "images" / "a.jpg"
    assert dst.read_bytes() == open(p, "rb").read()
    assert dst.is_symlink() == (mode == "symlink")


def test_formats_tf_cannot_decode_are_reencoded_as_png(tmp_path):
    webp, cmyk = str(tmp_path / "w.webp"), str(tmp_path / "c.jpg")
    _jpeg(webp, fmt="WEBP")
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(cmyk, format="JPEG")
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "t").write([_rec(webp, 0), _rec(cmyk, 1)], verbose=False)
    recs = read_captions_jsonl(os.path.join(out, "captions.jsonl"))
    assert report.reencoded == 2
    assert [r["image"] for r in recs] == ["images/w.webp.png", "images/c.jpg.png"]
    for r in recs:
        im = Image.open(os.path.join(out, r["image"]))
        assert im.format == "PNG" and im.mode == "RGB"


@pytest.mark.parametrize("mode", ["P", "1"])
def test_bmps_tensorflow_misreads_are_reencoded(tmp_path, mode):
    path = str(tmp_path / "p.bmp")
    arr = np.random.default_rng(0).integers(0, 255, (12, 12, 3), np.uint8)
    Image.fromarray(arr).convert(mode).save(path, format="BMP")
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "t").write([_rec(path, 0)], verbose=False)
    rec, = read_captions_jsonl(os.path.join(out, "captions.jsonl"))
    assert report.reencoded == 1 and rec["image"] == "images/p.bmp.png"
    want = np.asarray(Image.open(path).convert("RGB"))
    got = image_ops.decode_image(tf.constant(open(os.path.join(out, rec["image"]), "rb").read()))
    np.testing.assert_array_equal(got.numpy(), want)


def test_png_cut_before_its_end_chunk_is_caught_at_prepare_time(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (16, 16, 3), np.uint8)).save(
        buf, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[:-3])
    report = DatasetWriter(str(tmp_path / "out"), "t").write([_rec(str(path), 0)], verbose=False)
    assert dict(report.skipped) == {"undecodable_image": 1}


def test_reencoded_name_never_clashes_with_a_real_png(tmp_path):
    webp, png = str(tmp_path / "x.webp"), str(tmp_path / "x.png")
    Image.new("RGB", (8, 8), (255, 0, 0)).save(webp, format="WEBP")
    Image.new("RGB", (8, 8), (0, 0, 255)).save(png, format="PNG")
    out = str(tmp_path / "out")
    DatasetWriter(out, "t").write([_rec(webp, 0, ["red"]), _rec(png, 1, ["blue"])],
                                  verbose=False)
    recs = {r["captions"][0]: r for r in read_captions_jsonl(os.path.join(out, "captions.jsonl"))}
    for caption, rgb in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        px = np.asarray(Image.open(os.path.join(out, recs[caption]["image"])).convert("RGB"))[4, 4]
        assert np.abs(px.astype(int) - rgb).max() < 10


def test_duplicate_image_ids_are_skipped_and_counted(tmp_path):
    a, b = str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")
    _jpeg(a)
    _jpeg(b)
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "t").write([_rec(a, 7), _rec(b, 7)], verbose=False)
    assert report.skipped["duplicate_image_id"] == 1 and report.total_kept == 1


def test_bytes_records_and_duplicates(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    recs = [SourceRecord("d/x.png", ["c"], "val", "1", image_bytes=buf.getvalue(),
                         extra={"ocr": ["a"]}),
            SourceRecord("d/x.png", ["c"], "val", "2", image_bytes=buf.getvalue())]
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "t").write(recs, verbose=False)
    assert report.skipped["duplicate_image"] == 1
    rec, = read_captions_jsonl(os.path.join(out, "captions.jsonl"))
    assert rec["image"] == "images/d/x.png" and rec["ocr"] == ["a"]


def test_source_record_validation():
    with pytest.raises(ValueError, match="exactly one"):
        SourceRecord("a.jpg", ["c"], "train", "1")
    with pytest.raises(ValueError, match="'dev'"):
        SourceRecord("a.jpg", ["c"], "dev", "1", image_path="a.jpg")
    for bad in ("../x.jpg", "/abs/x.jpg", "a/../../x.jpg", ""):
        with pytest.raises(ValueError, match="stays under images/"):
            SourceRecord(bad, ["c"], "train", "1", image_path="a.jpg")
    with pytest.raises(ValueError, match="clash"):
        SourceRecord("a.jpg", ["c"], "train", "1", image_path="a.jpg", extra={"split": "x"})


def test_malformed_captions_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "captions.jsonl"
    ok = json.dumps({"image": "images/a.jpg", "captions": ["x"], "split": "train", "image_id": 1})
    path.write_text(ok + "\n\n{not json\n")
    with pytest.raises(MalformedSourceError, match=r"captions.jsonl:3: not valid JSON"):
        read_captions_jsonl(str(path))
    path.write_text(ok + "\n" + json.dumps({"image": "images/b.jpg", "split": "train",
                                             "image_id": 2}) + "\n")
    with pytest.raises(MalformedSourceError, match=r"captions.jsonl:2: missing key\(s\) \['captions'\]"):
        read_captions_jsonl(str(path))
    path.write_text(json.dumps({"image": "a", "captions": [], "split": "dev", "image_id": 1}))
    with pytest.raises(MalformedSourceError, match=r":1: 'split' is 'dev'"):
        read_captions_jsonl(str(path))
    path.write_text(ok + "\n")
    assert read_captions_jsonl(str(path))[0]["image_id"] == "1"


def test_long_captions_are_dropped_and_counted(tmp_path):
    paths = [str(tmp_path / f"{n}.jpg") for n in ("a", "b", "c")]
    for p in paths:
        _jpeg(p)
    huge = "word " * 20_000  # the user's 100 KB caption
    at_cap = "x" * MAX_CAPTION_CHARS
    over_cap = "y  " * 500 + "y" * (MAX_CAPTION_CHARS - 999)  # 1,001 chars once spaces collapse
    recs = [_rec(paths[0], 0, ["a short one", huge, at_cap]),
            _rec(paths[1], 1, [huge]),
            _rec(paths[2], 2, [over_cap, "fine", "   "])]
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "t").write(recs, verbose=False)
    rows = read_captions_jsonl(os.path.join(out, "captions.jsonl"))
    kept = {r["image_id"]: r["captions"] for r in rows}
    assert kept == {"0": ["a short one", at_cap], "2": ["fine"]}
    assert dict(report.skipped) == {"no_captions": 1}  # its only caption was too long
    assert report.dropped_captions == 1  # the blank one; long ones are counted apart
    with open(os.path.join(out, "prepare_report.json")) as f:
        saved = json.load(f)
    assert saved["long_captions"] == 3 == report.long_captions
    assert saved["max_caption_chars"] == MAX_CAPTION_CHARS == 1000
    assert saved["long_captions_examples"] == [
        f"{paths[0]} (id 0) caption 1: 99999 chars, {huge[:40]!r}...",
        f"{paths[1]} (id 1) caption 0: 99999 chars, {huge[:40]!r}...",
        f"{paths[2]} (id 2) caption 0: 1001 chars, {'y ' * 20!r}..."]
    assert saved["dropped_captions"] == 1 and saved["duplicate_entries"] == 0


def test_caption_cap_is_a_writer_parameter(tmp_path):
    p = str(tmp_path / "a.jpg")
    _jpeg(p)
    report = DatasetWriter(str(tmp_path / "o1"), "t", max_caption_chars=5).write(
        [_rec(p, 0, ["12345", "123456"])], verbose=False)
    assert report.long_captions == 1 and report.captions == {"train": 1}
    report = DatasetWriter(str(tmp_path / "o2"), "t", max_caption_chars=None).write(
        [_rec(p, 0, ["z" * 200_000])], verbose=False)
    assert report.long_captions == 0 and report.captions == {"train": 1}
    assert report.to_dict()["max_caption_chars"] is None
    for bad in (0, -1, 2.5, True, "1000"):
        with pytest.raises(ValueError, match="max_caption_chars"):
            DatasetWriter(str(tmp_path / "o3"), "t", max_caption_chars=bad)


def test_long_captions_and_duplicates_are_in_the_printed_summary(tmp_path, capsys):
    p = str(tmp_path / "a.jpg")
    _jpeg(p)
    rec = SourceRecord("a.jpg", ["ok", "q" * 1500], "train", "7", image_path=p,
                       duplicates=["src.jsonl:4: a.jpg again (first at line 1)",
                                   "src.jsonl:9: a.jpg again (first at line 1)"])
    report = DatasetWriter(str(tmp_path / "o"), "t").write([rec])
    text = capsys.readouterr().out
    assert (f"dropped 1 caption(s) longer than 1000 characters (long_captions), e.g. "
            f"{p} (id 7) caption 1: 1500 chars, ") in text
    assert ("merged 2 duplicate entries into the image's first entry, captions kept "
            "(duplicate_entries), e.g. src.jsonl:4: a.jpg again (first at line 1), "
            "src.jsonl:9: a.jpg again (first at line 1)") in text
    assert report.duplicate_entries == 2


def test_duplicate_entries_of_a_skipped_record_are_still_counted(tmp_path):
    rec = SourceRecord("gone.jpg", ["c"], "train", "1", image_path=str(tmp_path / "gone.jpg"),
                       duplicates=["f.csv:3: gone.jpg with the same caption again "
                                   "(first at line 2)"])
    report = DatasetWriter(str(tmp_path / "o"), "t").write([rec], verbose=False)
    assert dict(report.skipped) == {"missing_image": 1}
    saved = report.to_dict()
    assert saved["duplicate_entries"] == 1
    assert saved["duplicate_entries_examples"] == [
        "f.csv:3: gone.jpg with the same caption again (first at line 2)"]
