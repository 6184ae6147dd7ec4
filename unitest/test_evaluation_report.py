"""Markdown table and atomic report files."""

import json
import os

import numpy as np
import pytest

from tfcaption.evaluation import report
from tfcaption.evaluation.report import (markdown_table, metrics_json, write_metrics_json,
                                         write_predictions_jsonl)


def test_markdown_table_formats_and_footnotes():
    table = markdown_table({"Bleu_4": 0.123456, "num_images": 3, "SPICE": None,
                            "SPICE_unavailable": "missing lib/x.jar",
                            "most_common_caption": "a | b", "novel_fraction": None,
                            "novel_fraction_unavailable": "no training captions given",
                            "CLIPScore": np.float32(0.5)})
    assert table == (
        "| metric | value |\n"
        "|---|---|\n"
        "| Bleu_4 | 0.1235 |\n"
        "| num_images | 3 |\n"
        "| SPICE | n/a [1] |\n"
        "| most_common_caption | a \\| b |\n"
        "| novel_fraction | n/a [2] |\n"
        "| CLIPScore | 0.5000 |\n"
        "\n"
        "- [1] SPICE: missing lib/x.jar\n"
        "- [2] novel_fraction: no training captions given\n")


def test_markdown_table_digits_and_reason_without_value():
    table = markdown_table({"CIDEr": 1.0, "SPICE_unavailable": "why"}, digits=2)
    assert "| CIDEr | 1.00 |" in table and "| SPICE | n/a [1] |" in table
    with pytest.raises(TypeError, match="'per_image'"):
        markdown_table({"per_image": {"a": 1.0}})


def test_metrics_json_round_trip_and_nan(tmp_path):
    path = tmp_path / "out" / "metrics.json"  # the folder is created
    write_metrics_json(str(path), {"CIDEr": np.float64(0.75), "count": np.int64(4),
                                   "SPICE": float("nan"), "per_image": {"a": [np.float32(1)]}})
    data = json.loads(path.read_text())
    assert data == {"CIDEr": 0.75, "count": 4, "SPICE": None,
                    "SPICE_unavailable": "the computed value was nan",
                    "per_image": {"a": [1.0]}}
    assert "NaN" not in path.read_text()
    assert os.listdir(tmp_path / "out") == ["metrics.json"]  # no temporary file left


def test_markdown_file_holds_the_table(tmp_path):
    md = tmp_path / "m.md"
    metrics = {"CIDEr": 0.5, "SPICE": None, "SPICE_unavailable": "no jars"}
    write_metrics_json(str(tmp_path / "m.json"), metrics, markdown_path=str(md))
    assert md.read_text() == markdown_table(metrics)
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.md"]
    with pytest.raises(TypeError, match="'per_image'"):  # checked before anything is written
        write_metrics_json(str(tmp_path / "n.json"), {"per_image": {"a": 1.0}},
                           markdown_path=str(tmp_path / "n.md"))
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.md"]


def test_predictions_jsonl(tmp_path):
    path = tmp_path / "predictions.jsonl"
    write_predictions_jsonl(str(path), {"b": "a dog", 3: "un chat"},
                            {"b": ["a dog running"], 3: ["a cat", "un chat"]})
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [{"image_id": "b", "caption": "a dog", "references": ["a dog running"]},
                     {"image_id": 3, "caption": "un chat", "references": ["a cat", "un chat"]}]
    write_predictions_jsonl(str(path), {"b": "x"})
    assert json.loads(path.read_text()) == {"image_id": "b", "caption": "x"}


def test_bad_predictions_write_nothing(tmp_path):
    path = tmp_path / "p.jsonl"
    with pytest.raises(ValueError, match="'c'"):
        write_predictions_jsonl(str(path), {"b": "x", "c": "y"}, {"b": ["x"]})
    assert not path.exists()


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_metrics_json(str(path), {"CIDEr": 1.0})
    before = path.read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_metrics_json(str(path), {"CIDEr": 2.0})
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_metrics_json_reuses_atomic_write(monkeypatch, tmp_path):
    written = []
    monkeypatch.setattr(report, "atomic_write_text", lambda p, t: written.append((p, t)))
    write_metrics_json(str(tmp_path / "m.json"), {"a": 1})
    assert written == [(str(tmp_path / "m.json"), metrics_json({"a": 1}))]
