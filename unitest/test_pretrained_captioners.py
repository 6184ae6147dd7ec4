"""Every captioner shipped in pretrained_models/ loads and still reaches the scores of its
metrics.json, on the same 250 test images (the test split of ``python -m tfcaption.prepare
--dataset=shapes`` with its defaults)."""

import json
import os

import pytest

from tfcaption.backbones.model_dir import CONFIG_FILE, TYPE_KEY
from tfcaption.data import shapes
from tfcaption.data.captions_file import read_captions_jsonl
from tfcaption.data.dataset_writer import DatasetWriter
from tfcaption.data.shapes_scorer import score_dataset
from tfcaption.models.load_captioner import captioner_types, load_captioner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(ROOT, "pretrained_models")
# All-correct captions may differ from the shipped value by this much (5 of 250 images):
# decoding on another machine may flip a near-tie.
TOLERANCE = 0.02
# The floor each shipped captioner must stay above, whatever its metrics.json says.
FLOORS = {"clipcap_shapes": 0.85, "cgtgan_shapes": 0.65, "wgan_shapes": 0.3,
          "wgan_shapes_faithful": 0.3, "show_tell_shapes": 0.7, "vit_gpt2_shapes": 0.5,
          "attend_gan_shapes": 0.5}
# Shipped captioners of other built-in datasets, re-evaluated by their own test modules.
OTHER_DATASETS = {"pix2struct_charts": "test_pix2struct_readme.py"}


def shipped_captioners():
    names = []
    for name in sorted(os.listdir(PRETRAINED)):
        config = os.path.join(PRETRAINED, name, CONFIG_FILE)
        if os.path.isfile(config) and json.load(open(config)).get(TYPE_KEY) in captioner_types():
            names.append(name)
    return names


def test_the_shipped_captioners_are_those_named_here():
    assert shipped_captioners() == sorted([*FLOORS, *OTHER_DATASETS])


@pytest.fixture(scope="session")
def shapes_test_split(tmp_path_factory):
    """The 250 test images of ``prepare --dataset=shapes`` (2,000 / 250 / 250 at 224 px,
    seed 0), rendered alone: each image depends only on the seed and its index."""
    out = str(tmp_path_factory.mktemp("shapes_default"))
    DatasetWriter(out, "shapes").write(
        shapes.generate(2000, 250, 250, image_size=224, seed=0, splits=("test",)), verbose=False)
    return out


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_shipped_captioner_reaches_its_stated_score(name, shapes_test_split):
    model_dir = os.path.join(PRETRAINED, name)
    shipped = json.load(open(os.path.join(model_dir, "metrics.json")))
    settings = shipped["settings"]
    # the shipped scores are those of the default shapes test split
    assert settings["data_dir"] == "data/shapes" and settings["split"] == "test"
    assert shipped["num_images"] == shipped["shapes"]["num_images"] == 250

    records = read_captions_jsonl(os.path.join(shapes_test_split, "captions.jsonl"), "test")
    assert len(records) == 250
    captioner = load_captioner(model_dir)
    captions = captioner.generate([os.path.join(shapes_test_split, r["image"]) for r in records],
                                  settings["decoding"], batch_size=settings["batch_size"])
    predictions = {r["image_id"]: c for r, c in zip(records, captions)}
    score = score_dataset(predictions, records)

    assert score["num_images"] == 250
    assert score["all_correct"] == pytest.approx(shipped["shapes"]["all_correct"],
                                                 abs=TOLERANCE), score
    assert score["object_recall"] == pytest.approx(shipped["shapes"]["object_recall"],
                                                   abs=TOLERANCE), score
    assert score["all_correct"] >= FLOORS[name], score
    # the same images: the shipped sample captions are those of the same image ids
    same = [s["caption"] == predictions[s["image_id"]] for s in shipped["samples"]]
    assert sum(same) >= len(same) - 1, (shipped["samples"], predictions)
