"""The README's Pix2Struct commands as written: the charts dataset and its training recipe
(smoke-sized unless TFCAPTION_FULL_RECIPES=1; the recipe's targets are then asserted on
the shipped model the full command produced, which is re-evaluated here), and converting a
random-weight checkpoint in the released layout, captioning with the model dir (beam 4) and
with the hub id served by a loopback stand-in for the hub."""

import json
import os
import re

import pytest
from pix2struct_checkpoint import make_tiny_hf_pix2struct
from readme_checkpoint_commands import check_convert_caption_and_hub, run_command
from readme_sections import section_command, section_commands, smoke_recipe

from tfcaption.backbones.model_dir import TYPE_KEY
from tfcaption.models.load_captioner import load_captioner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_RECIPES = os.environ.get("TFCAPTION_FULL_RECIPES") == "1"
SMOKE_FLAGS = {"--dataset=charts": " --num_train=64 --num_val=8 --num_test=8",
               "hparams/pix2struct_charts.json": (" --set train.epochs=1 --set "
                                                  "data.pairing=sample --set "
                                                  "train.warmup_steps=2")}
SHIPPED = os.path.join(ROOT, "pretrained_models", "pix2struct_charts")
# The targets on the charts test split.
CHART_TYPE_TARGET, TREND_TARGET = 0.9, 0.7


def run(cmd, cwd):
    return run_command(cmd, cwd, timeout=1800)


def recipe(cmd):
    return smoke_recipe(cmd, SMOKE_FLAGS)


def _command(word):
    return section_command("Pix2Struct", word)


@pytest.fixture(scope="module")
def charts_workdir(tmp_path_factory):
    """A directory where the README's charts ``prepare`` command has run."""
    cwd = tmp_path_factory.mktemp("pix2struct_readme")
    os.symlink(os.path.join(ROOT, "hparams"), cwd / "hparams")
    printed = run(recipe(_command("tfcaption.prepare")), cwd)
    assert "chart types:" in printed
    return cwd


def test_charts_recipe_trains_and_reports_the_chart_scores(charts_workdir):
    cmd = _command("tfcaption.train")
    out = run(recipe(cmd), charts_workdir)
    run_dir = charts_workdir / re.search(r"--workdir=(\S+)", cmd).group(1)
    assert f"Wrote {os.path.relpath(run_dir, charts_workdir)}/metrics.json" in out
    metrics = json.load(open(run_dir / "metrics.json"))
    config = json.load(open(run_dir / "model" / "config.json"))
    assert config[TYPE_KEY] == "pix2struct" and config["preprocessor"]["policy"] == "patches"
    charts = metrics["charts"]
    assert charts["num_images"] == metrics["num_images"] > 0
    assert set(charts) >= {"chart_type_accuracy", "trend_accuracy", "ocr_copy_rate",
                           "reference_ocr_copy_rate"}
    result = metrics if FULL_RECIPES else json.load(open(os.path.join(SHIPPED,
                                                                      "metrics.json")))
    assert result["charts"]["chart_type_accuracy"] >= CHART_TYPE_TARGET, result["charts"]
    assert result["charts"]["trend_accuracy"] >= TREND_TARGET, result["charts"]


def test_shipped_charts_model_reaches_its_stated_scores(tmp_path):
    """pretrained_models/pix2struct_charts on the test split of ``prepare --dataset=charts``
    with its defaults (rendered alone: each figure depends only on the seed and index)."""
    from tfcaption.data import charts
    from tfcaption.data.captions_file import read_captions_jsonl
    from tfcaption.data.charts_scorer import score_dataset
    from tfcaption.data.dataset_writer import DatasetWriter

    shipped = json.load(open(os.path.join(SHIPPED, "metrics.json")))
    assert shipped["settings"]["data_dir"] == "data/charts"
    DatasetWriter(str(tmp_path), "charts").write(charts.generate(splits=("test",)),
                                                 verbose=False)
    records = read_captions_jsonl(str(tmp_path / "captions.jsonl"), "test")
    assert len(records) == shipped["num_images"]
    captioner = load_captioner(SHIPPED)
    captions = captioner.generate([str(tmp_path / r["image"]) for r in records],
                                  batch_size=125)
    scores = score_dataset({r["image_id"]: c for r, c in zip(records, captions)}, records)
    for key in ("chart_type_accuracy", "trend_accuracy"):
        assert scores[key] >= shipped["charts"][key] - 0.02, (key, scores)
    assert scores["ocr_copy_rate"] <= shipped["charts"]["ocr_copy_rate"] + 0.02


def test_convert_caption_and_hub_id_commands(charts_workdir, tmp_path):
    commands = [c for c in section_commands("Pix2Struct")
                if "tfcaption.train" not in c and "tfcaption.prepare" not in c]
    data = str(charts_workdir / "data/charts")
    os.symlink(charts_workdir / "data", tmp_path / "data")
    check_convert_caption_and_hub(commands, lambda d: make_tiny_hf_pix2struct(d, data),
                                  "Pix2Struct encoder 2 layers x 32", tmp_path)
