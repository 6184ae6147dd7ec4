"""The shipped shapes CLIP loads and meets its retrieval target on its own test split."""

import json
import os

import pytest

from tfcaption.backbones.clip_loader import load_clip
from tfcaption.data import shapes
from tfcaption.data.dataset_writer import DatasetWriter
from tfcaption.models.clip.clip_training import evaluate_retrieval

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "pretrained_models", "clip_shapes")


@pytest.fixture(scope="module")
def test_split(tmp_path_factory):
    """The test split of ``prepare --dataset=shapes --num_train=10000`` (as in the hparams)."""
    description = json.load(open(os.path.join(ROOT, "hparams", "clip_shapes.json")))["description"]
    assert "--num_train=10000" in description
    out = str(tmp_path_factory.mktemp("shapes_clip"))
    DatasetWriter(out, "shapes").write(
        shapes.generate(10000, 250, 250, image_size=224, seed=0, splits=("test",)), verbose=False)
    return out


def test_shipped_clip_meets_the_retrieval_target(test_split):
    loaded = load_clip(MODEL)
    assert loaded.model_type == "clip"
    metrics = evaluate_retrieval(loaded.model, loaded.tokenizer, loaded.preprocessor, test_split,
                                 "test", loaded.config["text_max_sequence_length"])
    shipped = json.load(open(os.path.join(MODEL, "metrics.json")))
    assert metrics["num_candidates"] == 250
    assert metrics["R@1"] == pytest.approx(shipped["R@1"], abs=0.009)  # within 2 of 250 images
    assert metrics["R@1"] >= 0.8 and metrics["R@5"] >= metrics["R@1"]
