"""SciCap source: the authors' JSON + image folders, and Hugging Face parquet files."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tfcaption.data import scicap
from tfcaption.data.captions_file import MalformedSourceError, read_captions_jsonl
from tfcaption.data.dataset_writer import DatasetWriter

# figure-ID -> (split, contains-subfigure, image kind written to disk)
FIGURES = {
    "1001.0025v1-Figure2-1.png": ("train", False, "good"),
    "1001.0025v1-Figure3-1.png": ("train", True, "good"),
    "1105.1234v2-Figure1-1.png": ("train", False, "missing"),
    "1203.0001v1-Figure4-1.png": ("val", False, "empty"),
    "1203.0001v1-Figure5-1.png": ("val", False, "good"),
    "1304.5678v1-Figure1-1.png": ("test", False, "truncated"),
    "1304.5678v1-Figure2-1.png": ("test", True, "good"),
    "1304.5678v1-Figure3-1.png": ("test", True, "empty"),
}
FIELD_TEXT = {
    "original": "Figure {n}: Accuracy (%) of model {n} vs. 10 epochs.",
    "lowercase": "accuracy ( % ) of model {n} vs. 10 epochs .",
    "normalized_basic": "accuracy ( % ) of model NUM-TK{n} vs. NUM-TK epochs .",
    "normalized_advanced": "accuracy BRACKET-TK of model NUM-TK{n} vs. NUM-TK epochs .",
}
REASONS = {"missing": "missing_image", "empty": "empty_image", "truncated": "truncated_image"}


def _png_bytes(size=8, seed=0):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _truncated_png():
    data = _png_bytes(size=64, seed=7)
    return data[:int(len(data) * 0.7)]


def _image_data(kind, seed):
    return {"good": _png_bytes(seed=seed), "empty": b"", "truncated": _truncated_png()}[kind]


def _figure_json(fig_id, has_subfig, n):
    text = {k: v.format(n=n) for k, v in FIELD_TEXT.items()}

    def block(caption):
        return {"caption": caption, "sentence": [caption], "token": caption.split()}

    return {
        "contains-subfigure": has_subfig,
        "paper-ID": fig_id.split("-")[0],
        "figure-ID": fig_id,
        "figure-type": "Graph Plot",
        "0-originally-extracted": text["original"],
        "1-lowercase-and-token-and-remove-figure-index": block(text["lowercase"]),
        "2-normalized": {
            "2-1-basic-num": block(text["normalized_basic"]),
            "2-2-advanced-euqation-bracket": block(text["normalized_advanced"]),
        },
        "Img-text": ["(b)", "accuracy", str(n)],
    }


def make_original(root, split_dir=str):
    """Writes the release layout; ``split_dir`` maps a split to its folder name."""
    for n, (fig_id, (split, has_subfig, kind)) in enumerate(FIGURES.items()):
        cap_dir = os.path.join(root, "SciCap-Caption-All", split_dir(split))
        os.makedirs(cap_dir, exist_ok=True)
        with open(os.path.join(cap_dir, fig_id[:-len(".png")] + ".json"), "w") as f:
            json.dump(_figure_json(fig_id, has_subfig, n), f)
        img_root = "SciCap-Yes-Subfig-Img" if has_subfig else "SciCap-No-Subfig-Img"
        img_dir = os.path.join(root, img_root, split_dir(split))
        os.makedirs(img_dir, exist_ok=True)
        if kind != "missing":
            with open(os.path.join(img_dir, fig_id), "wb") as f:
                f.write(_image_data(kind, n))
    return root


def _selected(subfig):
    return {f: v for f, v in FIGURES.items()
            if subfig == "all" or v[1] == (subfig == "yes")}


def _expected_report(subfig):
    kept, skipped = {}, {}
    for split, _, kind in _selected(subfig).values():
        if kind == "good":
            kept[split] = kept.get(split, 0) + 1
        else:
            skipped[REASONS[kind]] = skipped.get(REASONS[kind], 0) + 1
    return kept, skipped


def _check_original(out, report, caption_field, subfig):
    recs = {r["image_id"]: r for r in read_captions_jsonl(os.path.join(out, "captions.jsonl"))}
    good = {f: v for f, v in _selected(subfig).items() if v[2] == "good"}
    assert set(recs) == {f[:-len(".png")] for f in good}
    for fig_id, (split, has_subfig, _) in good.items():
        n = list(FIGURES).index(fig_id)
        rec = recs[fig_id[:-len(".png")]]
        assert rec["split"] == split
        assert rec["image"] == f"images/{split}/{fig_id}"
        assert rec["captions"] == [FIELD_TEXT[caption_field].format(n=n)]
        assert rec["Img-text"] == ["(b)", "accuracy", str(n)]
        assert rec["contains_subfigure"] is has_subfig
        assert rec["paper_id"] == fig_id.split("-")[0]
        assert os.path.getsize(os.path.join(out, rec["image"])) > 0
    kept, skipped = _expected_report(subfig)
    assert report["kept"] == kept
    assert report["skipped"] == skipped


@pytest.mark.parametrize("caption_field", list(FIELD_TEXT))
def test_original_caption_fields(tmp_path, caption_field):
    src = make_original(str(tmp_path / "src"))
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "scicap").write(
        scicap.records(src, caption_field=caption_field), verbose=False)
    _check_original(out, report.to_dict(), caption_field, "no")


@pytest.mark.parametrize("subfig", ["no", "yes", "all"])
def test_original_subfig_selection(tmp_path, subfig):
    src = make_original(str(tmp_path / "src"))
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "scicap").write(
        scicap.records(src, subfig=subfig, source_format="original"), verbose=False)
    _check_original(out, report.to_dict(), "normalized_basic", subfig)


def test_original_capitalised_split_folders_inside_scicap_data(tmp_path):
    src = str(tmp_path / "src")
    make_original(os.path.join(src, "scicap_data"), split_dir=str.capitalize)
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "scicap").write(scicap.records(src, subfig="all"), verbose=False)
    _check_original(out, report.to_dict(), "normalized_basic", "all")


def _pop_split_dir(cap_root, split):
    """Removes the original's one-file-per-figure folder of ``split``; returns its figures
    (for the one-list-file-per-split form)."""
    split_dir = os.path.join(cap_root, split)
    figures = []
    for n in sorted(os.listdir(split_dir)):
        with open(os.path.join(split_dir, n)) as f:
            figures.append(json.load(f))
        os.remove(os.path.join(split_dir, n))
    os.rmdir(split_dir)
    return figures


def test_original_one_list_file_per_split(tmp_path):
    src = make_original(str(tmp_path / "src"))
    cap_root = os.path.join(src, "SciCap-Caption-All")
    for split in ("train", "val", "test"):
        figures = _pop_split_dir(cap_root, split)
        with open(os.path.join(cap_root, f"SciCap-Caption-All-{split}.json"), "w") as f:
            json.dump(figures, f)
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "scicap").write(scicap.records(src, subfig="all"), verbose=False)
    _check_original(out, report.to_dict(), "normalized_basic", "all")


def test_original_bad_json_names_file(tmp_path):
    src = make_original(str(tmp_path / "src"))
    bad = os.path.join(src, "SciCap-Caption-All", "val", "1203.0001v1-Figure5-1.json")
    with open(bad, "w") as f:
        f.write('{"figure-ID": "1203.0001v1-Figure5-1.png", ')
    with pytest.raises(MalformedSourceError,
                       match=r"1203\.0001v1-Figure5-1\.json:1: not valid JSON"):
        list(scicap.records(src))


def test_original_bad_utf8_names_file_and_line(tmp_path):
    src = make_original(str(tmp_path / "src"))
    path = os.path.join(src, "SciCap-Caption-All", "val", "1203.0001v1-Figure5-1.json")
    with open(path) as f:
        text = json.dumps(json.load(f), indent=2)
    at = text.index("Accuracy (%)") + len("Accuracy (")
    line = text[:at].count("\n") + 1
    column = at - text.rindex("\n", 0, at)
    assert text.splitlines()[line - 1].lstrip().startswith('"0-originally-extracted"')
    with open(path, "wb") as f:
        f.write(text.encode().replace(b"Accuracy (%)", b"Accuracy (\xb5%)"))
    with pytest.raises(MalformedSourceError,
                       match=rf"1203\.0001v1-Figure5-1\.json:{line}: not valid UTF-8: "
                             rf"byte 0xb5 .* at column {column},"):
        list(scicap.records(src))


def test_original_list_file_bad_utf8_names_its_line(tmp_path):
    src = make_original(str(tmp_path / "src"))
    cap_root = os.path.join(src, "SciCap-Caption-All")
    figures = _pop_split_dir(cap_root, "test")
    text = "[\n" + ",\n".join(json.dumps(fig) for fig in figures) + "\n]\n"  # one figure a line
    with open(os.path.join(cap_root, "SciCap-Caption-All-test.json"), "wb") as f:
        f.write(text.encode().replace(b"model 7 vs", b"model \xff7 vs"))
    assert text.index("model 7 vs") > text.index("model 6 vs")  # figure 7 is the third line
    with pytest.raises(MalformedSourceError, match=r"SciCap-Caption-All-test\.json:4: not valid "
                                                   r"UTF-8: byte 0xff"):
        list(scicap.records(src, subfig="all"))


def test_original_missing_key_names_file_and_key(tmp_path):
    src = make_original(str(tmp_path / "src"))
    path = os.path.join(src, "SciCap-Caption-All", "test", "1304.5678v1-Figure1-1.json")
    with open(path) as f:
        obj = json.load(f)
    del obj["2-normalized"]["2-2-advanced-euqation-bracket"]
    with open(path, "w") as f:
        json.dump(obj, f)
    records = scicap.records(src, caption_field="normalized_advanced")
    with pytest.raises(MalformedSourceError) as err:
        list(records)
    assert "1304.5678v1-Figure1-1.json" in str(err.value)
    assert "'2-2-advanced-euqation-bracket'" in str(err.value)
    # the basic field is still there, so that choice reads the same file fine
    assert len(list(scicap.records(src, caption_field="normalized_basic"))) == 5


def test_bad_arguments_and_empty_dir(tmp_path):
    with pytest.raises(ValueError, match="caption_field"):
        scicap.records(str(tmp_path), caption_field="normalised")
    with pytest.raises(ValueError, match="subfig"):
        scicap.records(str(tmp_path), subfig="maybe")
    with pytest.raises(FileNotFoundError, match=r"SciCap-Caption-All.*parquet"):
        scicap.records(str(tmp_path))


# ---------------------------------------------------------------- parquet

HF_FEATURES = {"info": {"features": {
    "image": {"_type": "Image"},
    "folder": {"dtype": "string", "_type": "Value"},
    "caption": {"dtype": "string", "_type": "Value"},
}}}
SCHEMA = pa.schema(
    [("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
     ("folder", pa.string()), ("caption", pa.string())],
    metadata={"huggingface": json.dumps(HF_FEATURES)})


def _write_parquet(path, rows, schema=SCHEMA):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path, row_group_size=16)


def _row(name, data, folder="SciCap-No-Subfig-Img", caption=None):
    return {"image": {"bytes": data, "path": name}, "folder": folder,
            "caption": caption if caption is not None else f"caption of {name}"}


def make_parquet(root):
    train_a = [_row(f"2001.{i:05d}v1-Figure1-1.png", _png_bytes(seed=i)) for i in range(70)]
    train_b = [_row("2101.00001v1-Figure1-1.png", _png_bytes(seed=100), "SciCap-Yes-Subfig-Img"),
               _row("2101.00002v1-Figure1-1.png", b""),
               {"image": {"bytes": None, "path": "2101.00003v1-Figure1-1.png"},
                "folder": "SciCap-No-Subfig-Img", "caption": "an image left out of the file"}]
    val = [_row("2201.00001v1-Figure2-1.png", _png_bytes(seed=200)),
           _row("2201.00002v1-Figure2-1.png", _truncated_png())]
    test = [_row("2301.00001v1-Figure3-1.png", _png_bytes(seed=300)),
            _row("2301.00002v1-Figure3-1.png", _png_bytes(seed=301), "SciCap-Yes-Subfig-Img")]
    _write_parquet(os.path.join(root, "data", "train-00000-of-00002.parquet"), train_a)
    _write_parquet(os.path.join(root, "data", "train-00001-of-00002.parquet"), train_b)
    _write_parquet(os.path.join(root, "data", "val-00000-of-00001.parquet"), val)
    _write_parquet(os.path.join(root, "data", "test-00000-of-00001.parquet"), test)
    return root


def _check_parquet(out, report, subfig):
    recs = {r["image_id"]: r for r in read_captions_jsonl(os.path.join(out, "captions.jsonl"))}
    no_subfig = {f"2001.{i:05d}v1-Figure1-1" for i in range(70)} | {
        "2201.00001v1-Figure2-1", "2301.00001v1-Figure3-1"}
    yes_subfig = {"2101.00001v1-Figure1-1", "2301.00002v1-Figure3-1"}
    expected = {"no": no_subfig, "yes": yes_subfig, "all": no_subfig | yes_subfig}[subfig]
    assert set(recs) == expected
    rec = recs.get("2201.00001v1-Figure2-1") or recs["2301.00002v1-Figure3-1"]
    assert rec["captions"] == [f"caption of {rec['image_id']}.png"]
    assert rec["image"] == f"images/{rec['split']}/{rec['image_id']}.png"
    with open(os.path.join(out, rec["image"]), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert rec["folder"].startswith("SciCap-")
    kept = {"no": {"train": 70, "val": 1, "test": 1}, "yes": {"train": 1, "test": 1},
            "all": {"train": 71, "val": 1, "test": 2}}[subfig]
    assert report["kept"] == kept
    skipped = {} if subfig == "yes" else {
        "empty_image": 1, "missing_image": 1, "truncated_image": 1}
    assert report["skipped"] == skipped


@pytest.mark.parametrize("subfig", ["no", "yes", "all"])
def test_parquet_records(tmp_path, subfig):
    src = make_parquet(str(tmp_path / "src"))
    out = str(tmp_path / "out")
    report = DatasetWriter(out, "scicap").write(
        scicap.records(src, subfig=subfig), verbose=False)
    _check_parquet(out, report.to_dict(), subfig)


def test_parquet_missing_column_names_file_and_column(tmp_path):
    src = make_parquet(str(tmp_path / "src"))
    schema = pa.schema([("image", SCHEMA.field("image").type), ("folder", pa.string())])
    bad = os.path.join(src, "data", "val-00000-of-00001.parquet")
    _write_parquet(bad, [{"image": {"bytes": _png_bytes(), "path": "x.png"}, "folder": "f"}],
                   schema)
    with pytest.raises(MalformedSourceError, match=r"val-00000-of-00001\.parquet: missing "
                                                   r"column\(s\) \['caption'\]"):
        list(scicap.records(src, subfig="all"))


def test_parquet_bad_value_names_file_and_row(tmp_path):
    src = str(tmp_path / "src")
    schema = pa.schema([("image", SCHEMA.field("image").type), ("caption", pa.int64())])
    rows = [{"image": {"bytes": _png_bytes(), "path": f"{i}.png"}, "caption": i} for i in range(3)]
    _write_parquet(os.path.join(src, "test-00000-of-00001.parquet"), rows, schema)
    with pytest.raises(MalformedSourceError, match=r"test-00000-of-00001\.parquet: row 0"):
        list(scicap.records(src))


def test_parquet_unreadable_or_unnamed_file(tmp_path):
    src = str(tmp_path / "src")
    os.makedirs(src)
    with open(os.path.join(src, "train-00000-of-00001.parquet"), "wb") as f:
        f.write(b"not a parquet file at all")
    with pytest.raises(MalformedSourceError, match=r"train-00000-of-00001\.parquet: not a "
                                                   r"readable parquet"):
        list(scicap.records(src, source_format="parquet"))
    os.remove(os.path.join(src, "train-00000-of-00001.parquet"))
    _write_parquet(os.path.join(src, "shard-0.parquet"), [_row("a.png", _png_bytes())])
    with pytest.raises(MalformedSourceError, match=r"shard-0\.parquet: cannot tell the split"):
        list(scicap.records(src))


def test_prepare_cli(tmp_path):
    src = make_original(str(tmp_path / "src"))
    out = str(tmp_path / "out")
    proc = subprocess.run(
        [sys.executable, "-m", "tfcaption.prepare", "--dataset=scicap", f"--source_dir={src}",
         f"--out_dir={out}", "--scicap_caption=original", "--scicap_subfig=all"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    with open(os.path.join(out, "prepare_report.json")) as f:
        _check_original(out, json.load(f), "original", "all")
