"""CLIPScore / RefCLIPScore follow the paper's formula on the model's own embeddings."""

import os

import numpy as np
import pytest
from PIL import Image

from tfcaption.backbones.clip_loader import load_clip
from tfcaption.evaluation.clip_score import (clip_s, harmonic_mean, ref_clip_s,
                                             reference_similarity)
from tfcaption.evaluation.clip_scorer import DEFAULT_PREFIX, ClipScorer, clip_score

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "pretrained_models", "clip_shapes")

PREDICTIONS = {"i0": "a red circle", "i1": "two blue squares on the right", 2: "a green star"}
REFERENCES = {"i0": ["a large red circle", "a red circle in the middle"],
              "i1": ["two blue squares"],
              2: ["a small green star", "a green star at the top", "one star"]}


@pytest.fixture(scope="module")
def clip():
    return load_clip(MODEL)


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory):
    out = tmp_path_factory.mktemp("clip_images")
    rng = np.random.default_rng(0)
    paths = {}
    for k, image_id in enumerate(PREDICTIONS):
        pixels = rng.integers(0, 256, size=(80 + 8 * k, 96, 3), dtype=np.uint8)
        pixels[20:50, 30:60] = [(220, 30, 30), (30, 30, 220), (30, 200, 30)][k]
        path = str(out / f"image_{k}.png")
        Image.fromarray(pixels).save(path)
        paths[image_id] = path
    return paths


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x)


def _reference_numbers(clip, image_paths, prefix="A photo depicts "):
    """Embeddings from the model in one batch each, and the formula by hand."""
    ids = list(PREDICTIONS)
    length = clip.model.text_max_sequence_length
    images = np.stack([clip.preprocessor.from_bytes(open(image_paths[i], "rb").read()).numpy()
                       for i in ids])
    v = clip.model.encode_image(images).numpy()
    c = clip.model.encode_text(clip.tokenizer.pack([prefix + PREDICTIONS[i] for i in ids],
                                                   length)).numpy()
    clip_scores, ref_scores = [], []
    for k, i in enumerate(ids):
        s = 2.5 * max(float(_unit(v[k]) @ _unit(c[k])), 0.0)
        refs = clip.model.encode_text(clip.tokenizer.pack(
            [prefix + r for r in REFERENCES[i]], length)).numpy()
        t = max(max(float(_unit(r) @ _unit(c[k])) for r in refs), 0.0)
        clip_scores.append(s)
        ref_scores.append(2 * s * t / (s + t) if s + t > 0 else 0.0)
    return v, c, np.array(clip_scores), np.array(ref_scores)


def test_scores_match_the_formula_on_model_embeddings(clip, image_paths):
    _, _, expected_clip, expected_ref = _reference_numbers(clip, image_paths)
    scorer = ClipScorer(clip, batch_size=2)  # several batches
    metrics, per_image = scorer.score(PREDICTIONS, image_paths, REFERENCES,
                                      return_per_image=True)
    got_clip = [per_image[i]["CLIPScore"] for i in PREDICTIONS]
    got_ref = [per_image[i]["RefCLIPScore"] for i in PREDICTIONS]
    np.testing.assert_allclose(got_clip, expected_clip, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_ref, expected_ref, rtol=1e-5, atol=1e-6)
    assert metrics["CLIPScore"] == pytest.approx(expected_clip.mean(), rel=1e-5)
    assert metrics["RefCLIPScore"] == pytest.approx(expected_ref.mean(), rel=1e-5)
    assert len(set(np.round(got_clip, 6))) == 3  # not a constant


def test_precomputed_embeddings_give_the_same_scores(clip, image_paths):
    v, _, expected_clip, _ = _reference_numbers(clip, image_paths)
    ids = list(PREDICTIONS)
    by_id = clip_score(clip, PREDICTIONS, {i: v[k] for k, i in enumerate(ids)},
                       return_per_image=True)[1]
    as_array = ClipScorer(clip).score(PREDICTIONS, v, return_per_image=True)[1]
    for k, i in enumerate(ids):
        assert by_id[i]["CLIPScore"] == pytest.approx(expected_clip[k], rel=1e-5, abs=1e-6)
        assert as_array[i]["CLIPScore"] == by_id[i]["CLIPScore"]
        assert "RefCLIPScore" not in by_id[i]


def test_prefix_is_the_papers_and_is_applied(clip, image_paths):
    assert DEFAULT_PREFIX == "A photo depicts"
    v = _reference_numbers(clip, image_paths)[0]
    default = ClipScorer(clip).score(PREDICTIONS, v, REFERENCES)
    spaced = ClipScorer(clip, prefix="A photo depicts ").score(PREDICTIONS, v, REFERENCES)
    bare = ClipScorer(clip, prefix="").score(PREDICTIONS, v, REFERENCES)
    assert spaced == default
    assert bare["CLIPScore"] != pytest.approx(default["CLIPScore"], rel=1e-4)
    _, _, expected_bare, expected_bare_ref = _reference_numbers(clip, image_paths, prefix="")
    assert bare["CLIPScore"] == pytest.approx(expected_bare.mean(), rel=1e-5)
    assert bare["RefCLIPScore"] == pytest.approx(expected_bare_ref.mean(), rel=1e-5)


def test_clamp_and_harmonic_mean_with_the_model(clip, image_paths):
    """An image embedding opposite to the caption's scores 0 (and so RefCLIP-S 0);
    one equal to it scores w, and RefCLIP-S is the harmonic mean with the text term."""
    _, c, _, _ = _reference_numbers(clip, image_paths)
    ids = list(PREDICTIONS)
    opposite = ClipScorer(clip).score(PREDICTIONS, -c, REFERENCES, return_per_image=True)[1]
    same = ClipScorer(clip, w=2.0).score(PREDICTIONS, c, REFERENCES, return_per_image=True)[1]
    length = clip.model.text_max_sequence_length
    for k, i in enumerate(ids):
        assert opposite[i] == {"CLIPScore": 0.0, "RefCLIPScore": 0.0}
        assert same[i]["CLIPScore"] == pytest.approx(2.0, rel=1e-6)
        refs = clip.model.encode_text(clip.tokenizer.pack(
            ["A photo depicts " + r for r in REFERENCES[i]], length)).numpy()
        t = max(max(float(_unit(r) @ _unit(c[k])) for r in refs), 0.0)
        assert same[i]["RefCLIPScore"] == pytest.approx(2 * 2.0 * t / (2.0 + t), rel=1e-5)


def test_formula_functions_by_hand():
    image = np.array([[1.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    caption = np.array([[1.0, 1.0], [0.0, -2.0], [2.0, 0.0]])
    np.testing.assert_allclose(clip_s(image, caption), [2.5 / np.sqrt(2), 0.0, 2.5])
    refs = [np.array([[1.0, 0.0], [-1.0, -1.0]]), np.array([[0.0, 1.0]]),
            np.array([[-1.0, 0.0], [0.0, 1.0]])]
    # max cosine per caption: 1/sqrt(2); -1 clamped to 0; 0.
    np.testing.assert_allclose(reference_similarity(caption, refs), [1 / np.sqrt(2), 0.0, 0.0])
    a = 2.5 / np.sqrt(2)
    b = 1 / np.sqrt(2)
    np.testing.assert_allclose(ref_clip_s(clip_s(image, caption), caption, refs),
                               [2 * a * b / (a + b), 0.0, 0.0])
    np.testing.assert_allclose(harmonic_mean([0.0, 1.0, 3.0], [0.0, 0.0, 1.0]), [0, 0, 1.5])


def test_bad_inputs(clip, image_paths):
    scorer = ClipScorer(clip)
    partial = {i: p for i, p in image_paths.items() if i != 2}
    with pytest.raises(ValueError, match="have no image: 2"):
        scorer.score(PREDICTIONS, partial)
    with pytest.raises(ValueError, match="dimensions"):
        scorer.score(PREDICTIONS, np.ones((3, 7)))
    with pytest.raises(ValueError, match="'i1'"):
        scorer.score(PREDICTIONS, image_paths, {"i0": ["x"], 2: ["y"]})
    with pytest.raises(ValueError, match="zero"):
        clip_s(np.zeros((1, 2)), np.ones((1, 2)))
    with pytest.raises(FileNotFoundError):
        scorer.score({"x": "a dog"}, {"x": image_paths["i0"] + ".missing"})
