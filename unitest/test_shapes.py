import json
import os

import numpy as np
import pytest
from PIL import Image

from tfcaption.data import shapes
from tfcaption.data.shapes_captions import make_captions
from tfcaption.data.shapes_scorer import score_caption, score_dataset


def _records(n=30, seed=0):
    return list(shapes.generate(n, 0, 0, image_size=96, seed=seed))


def test_generation_is_deterministic_and_seed_dependent():
    a, b, c = _records(seed=5), _records(seed=5), _records(seed=6)
    assert [r.image_bytes for r in a] == [r.image_bytes for r in b]
    assert [r.captions for r in a] == [r.captions for r in b]
    assert [r.captions for r in a] != [r.captions for r in c]


def test_objects_are_valid_and_do_not_overlap():
    for rec in _records(60):
        objs = rec.extra["objects"]
        assert 1 <= len(objs) <= 3
        cells = {(o["position"]["col"], o["position"]["row"]) for o in objs}
        assert len(cells) == len(objs)
        for i, a in enumerate(objs):
            assert a["shape"] in shapes.SHAPES and a["colour"] in shapes.COLOURS
            assert a["size"] in shapes.SIZES
            for b in objs[i + 1:]:
                ax0, ay0, ax1, ay1 = a["bbox"]
                bx0, by0, bx1, by1 = b["bbox"]
                assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0


def test_rendered_object_has_its_colour_at_its_centre():
    for rec in _records(20):
        im = np.asarray(Image.open(__import__("io").BytesIO(rec.image_bytes)).convert("RGB"))
        for o in rec.extra["objects"]:
            if o["shape"] in ("circle", "square"):
                x0, y0, x1, y1 = o["bbox"]
                px = im[int((y0 + y1) / 2), int((x0 + x1) / 2)].astype(int)
                assert np.abs(px - np.array(shapes.COLOURS[o["colour"]])).max() < 45


def test_every_reference_caption_is_fully_correct_under_the_scorer():
    for rec in _records(80):
        assert len(rec.captions) == 5 and len(set(rec.captions)) == 5
        for cap in rec.captions:
            s = score_caption(cap, rec.extra["objects"])
            assert s["correct"] == 1.0, (cap, rec.extra["objects"])


def test_background_captions_state_the_true_background():
    recs = _records(200)
    stated = [(r.extra["background"], c) for r in recs for c in r.captions if "background" in c]
    assert stated
    for truth, cap in stated:
        assert f"on a {truth} background" in cap


def test_too_small_images_are_a_clear_error():
    with pytest.raises(ValueError, match="image_size must be at least 48 px, got 37"):
        list(shapes.generate(1, 0, 0, image_size=37))


def test_relations_appear_for_multi_object_images():
    caps = [c for r in _records(120) if len(r.extra["objects"]) >= 2 for c in r.captions]
    assert any(" to the left of " in c or " to the right of " in c for c in caps)
    assert any(" above " in c or " below " in c for c in caps)


def test_scorer_counts_wrong_and_missing_objects():
    objs = [{"colour": "red", "shape": "circle"}, {"colour": "blue", "shape": "square"}]
    assert score_caption("a red circle", objs)["recall"] == 0.5
    assert score_caption("a red circle and a blue square", objs)["correct"] == 1.0
    wrong = score_caption("a red circle and a green square", objs)
    assert wrong["recall"] == 0.5 and wrong["hallucinated"] == 1.0 and wrong["correct"] == 0.0
    assert score_caption("a red circle, a blue square and a star", objs)["hallucinated"] == 1.0
    twice = score_caption("a red circle and a red circle and a blue square", objs)
    assert twice["hallucinated"] == 1.0
    same = [{"colour": "red", "shape": "star"}] * 2
    assert score_caption("a red star and a red star", same)["correct"] == 1.0
    assert score_caption("two red stars", same)["correct"] == 1.0
    crosses = [{"colour": "red", "shape": "cross"}] * 3
    assert score_caption("three small red crosses", crosses)["correct"] == 1.0
    assert score_caption("two red crosses", crosses)["recall"] == 2 / 3
    assert score_caption("four red crosses", crosses)["hallucinated"] == 1.0


def test_score_dataset_averages_and_rejects_no_match():
    recs = [{"image_id": "a", "objects": [{"colour": "red", "shape": "star"}]},
            {"image_id": "b", "objects": [{"colour": "green", "shape": "cross"}]}]
    s = score_dataset({"a": "a red star", "b": "a blue cross"}, recs)
    assert s["all_correct"] == 0.5 and s["object_recall"] == 0.5 and s["num_images"] == 2
    with pytest.raises(ValueError, match="no prediction"):
        score_dataset({"z": "x"}, recs)


def test_articles_are_grammatical():
    rng = np.random.default_rng(0)
    objs = [{"shape": "circle", "colour": "orange", "size": "large",
             "position": {"col": "left", "row": "top"}}]
    caps = make_captions(objs, rng, "plain", k=8)
    assert all("a orange" not in c for c in caps)
    assert any("an orange circle" in c for c in caps)


def test_prepared_shapes_records_carry_ground_truth(shapes_dir):
    with open(os.path.join(shapes_dir, "captions.jsonl")) as f:
        recs = [json.loads(line) for line in f]
    assert [sum(r["split"] == s for r in recs) for s in ("train", "val", "test")] == [40, 8, 8]
    for r in recs:
        assert os.path.isfile(os.path.join(shapes_dir, r["image"]))
        assert r["objects"] and r["background"] in ("plain", "textured")
        assert Image.open(os.path.join(shapes_dir, r["image"])).size == (64, 64)


def test_rendering_only_some_splits_gives_the_same_images():
    full = [r for r in shapes.generate(6, 2, 3, image_size=48, seed=5) if r.split == "test"]
    only = list(shapes.generate(6, 2, 3, image_size=48, seed=5, splits=("test",)))
    assert [r.image_id for r in only] == ["test_00000", "test_00001", "test_00002"]
    assert [r.image_bytes for r in only] == [r.image_bytes for r in full]
    assert [r.captions for r in only] == [r.captions for r in full]
