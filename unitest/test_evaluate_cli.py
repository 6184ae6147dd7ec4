"""``python -m tfcaption.evaluate`` and ``evaluate_captioner``: report files and metrics."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from tiny_captioner import CLIP_SHAPES, make_tiny_clipcap_dir

from tfcaption.data.captions_file import read_captions_jsonl
from tfcaption.evaluation.coco_metrics import coco_metrics
from tfcaption.evaluation.evaluate_model import evaluate_captioner
from tfcaption.evaluation.evaluation_report import evaluation_markdown
from tfcaption.models.load_captioner import load_captioner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


@pytest.fixture(scope="module")
def model_dir(shapes_dir, tmp_path_factory):
    return make_tiny_clipcap_dir(str(tmp_path_factory.mktemp("tiny") / "model"), shapes_dir)


@pytest.fixture(scope="module")
def data_dir(shapes_dir, tmp_path_factory):
    """The shapes fixture with its third test image corrupted."""
    out = str(tmp_path_factory.mktemp("data") / "shapes")
    shutil.copytree(shapes_dir, out)
    test = read_captions_jsonl(os.path.join(out, "captions.jsonl"), "test")
    with open(os.path.join(out, test[2]["image"]), "wb") as f:
        f.write(b"garbage, not an image")
    return out


def test_evaluate_writes_metrics_predictions_and_markdown(model_dir, data_dir, tmp_path):
    out = str(tmp_path / "report" / "eval_test.json")
    res = subprocess.run(
        [sys.executable, "-m", "tfcaption.evaluate", f"--model={model_dir}", f"--data={data_dir}",
         "--split=test", f"--out={out}", f"--clip={CLIP_SHAPES}", "--max_length=6",
         "--batch_size=4"], capture_output=True, text=True, timeout=600, cwd=ROOT, env=ENV)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    metrics = json.load(open(out))
    test = read_captions_jsonl(os.path.join(data_dir, "captions.jsonl"), "test")
    assert metrics["num_images"] == 7 and metrics["num_unreadable"] == 1
    bad, = metrics["unreadable_images"]
    assert bad["image_id"] == test[2]["image_id"] and bad["image"] == test[2]["image"]
    assert bad["error"].startswith(os.path.join(data_dir, test[2]["image"]) +
                                   ": not a readable image (")

    predictions = [json.loads(line) for line in open(str(tmp_path / "report" /
                                                         "eval_test.predictions.jsonl"))]
    assert [p["image_id"] for p in predictions] == [r["image_id"] for r in test
                                                    if r is not test[2]]
    assert all(p["references"] == r["captions"] for p, r in
               zip(predictions, [r for r in test if r is not test[2]]))
    recomputed = coco_metrics({p["image_id"]: p["caption"] for p in predictions},
                              {p["image_id"]: p["references"] for p in predictions})
    assert metrics["coco"] == recomputed

    clip = metrics["clip_score"]
    assert 0 <= clip["CLIPScore"] <= 2.5 and 0 <= clip["RefCLIPScore"] <= 2.5
    assert set(metrics["shapes"]) == {"object_recall", "all_correct", "hallucination_rate",
                                      "num_images"} and metrics["shapes"]["num_images"] == 7
    diversity = metrics["diversity"]
    assert 0 <= diversity["novel_fraction"] <= 1 and diversity["num_captions"] == 7
    assert 0 < diversity["reference_distinct_1"] <= 1
    assert diversity["reference_num_captions"] == 7  # each image's first reference
    settings = metrics["settings"]
    assert settings["model"] == model_dir and settings["decoding"]["max_length"] == 6
    assert settings["num_records"] == 8 and settings["split"] == "test"

    markdown = open(str(tmp_path / "report" / "eval_test.md")).read()
    assert markdown == evaluation_markdown(metrics)
    assert f"| CIDEr | {metrics['coco']['CIDEr']:.4f} |" in markdown
    assert "### Unreadable images (skipped)" in markdown and bad["error"] in markdown

    # what it prints: the summary (key metrics, time, samples, files), not the report
    assert "### " not in res.stdout
    assert (f"Split test of {data_dir}: 7 images, greedy decoding (1 unreadable images "
            f"skipped)\n") in res.stdout
    for label, value in (("BLEU-4", metrics["coco"]["Bleu_4"]),
                         ("METEOR", metrics["coco"]["METEOR"]),
                         ("CIDEr-D", metrics["coco"]["CIDEr"]),
                         ("CLIPScore", clip["CLIPScore"]),
                         ("shapes all_correct", metrics["shapes"]["all_correct"]),
                         ("shapes object_recall", metrics["shapes"]["object_recall"])):
        assert re.search(rf"^  {label} +{value:.4f}$", res.stdout, flags=re.M), label
    assert re.search(r"^  time +(\d+ min )?\d+ s$", res.stdout, flags=re.M), res.stdout
    for p in predictions[:5]:
        assert f"  {p['image_id']}  {p['caption']}\n" in res.stdout
        assert f"(reference: {p['references'][0]})\n" in res.stdout
    assert f"Wrote {out} (all metrics), " in res.stdout and "eval_test.md (report)" in res.stdout


@pytest.fixture(scope="module")
def captioner(model_dir):
    return load_captioner(model_dir, jit_compile=False)


def test_without_clip_or_training_split_those_metrics_are_unavailable(captioner, data_dir,
                                                                      monkeypatch):
    from tfcaption.evaluation import evaluate_model

    seen = {}  # COCO metrics are checked above; skip their Java start here
    monkeypatch.setattr(evaluate_model, "coco_metrics",
                        lambda p, r, spice: seen.update(p=p, r=r, spice=spice) or {"CIDEr": 0})
    result = evaluate_captioner(captioner, data_dir, "val", max_length=4, max_images=3,
                                train_split=None, spice=False, verbose=0)
    metrics = result.metrics
    assert metrics["num_images"] == 3 and metrics["settings"]["max_images"] == 3
    assert list(result.predictions) == list(result.references) == list(result.images)
    assert seen == {"p": result.predictions, "r": result.references, "spice": False}
    for key in ("CLIPScore", "RefCLIPScore"):
        assert metrics["clip_score"][key] is None
        assert "no CLIP model given" in metrics["clip_score"][key + "_unavailable"]
    assert metrics["diversity"]["novel_fraction"] is None
    assert "no training split given" in metrics["diversity"]["novel_fraction_unavailable"]
    assert "| CLIPScore | n/a [1] |" in evaluation_markdown(metrics)


def test_evaluation_errors_name_the_problem(captioner, data_dir, tmp_path):
    with pytest.raises(ValueError, match=r"captions.jsonl has no record of split 'dev'"):
        evaluate_captioner(captioner, data_dir, "dev", verbose=0)
    with pytest.raises(ValueError, match="num_return_sequences must be 1, got 2"):
        evaluate_captioner(captioner, data_dir, "test", "beam", num_return_sequences=2,
                           verbose=0)
    broken = str(tmp_path / "broken")
    shutil.copytree(data_dir, broken)
    for record in read_captions_jsonl(os.path.join(broken, "captions.jsonl"), "val")[:2]:
        os.remove(os.path.join(broken, record["image"]))
    with pytest.raises(ValueError, match=r"none of the 2 images of split 'val' .* could be "
                                         r"read; first error: .*No such file"):
        evaluate_captioner(captioner, broken, "val", max_images=2, max_length=3, verbose=0)
