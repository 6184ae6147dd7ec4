"""Show-and-Tell model: the merge architecture's shapes, step decoding against the
teacher-forced forward pass, the captioner's greedy decoding, config round trip."""

import numpy as np
import pytest
import tensorflow as tf

from tfcaption.models.show_tell.show_tell_captioner import ShowTellCaptioner
from tfcaption.models.show_tell.show_tell_model import ShowTellModel
from tfcaption.tokenizers.word_vocabulary import WordVocabulary


def _inputs(batch=3, feature_dim=12, steps=7, vocabulary_size=30, seed=0):
    rng = np.random.default_rng(seed)
    return {"features": rng.normal(size=(batch, feature_dim)).astype("float32"),
            "token_ids": rng.integers(0, vocabulary_size, (batch, steps)).astype("int32")}


def test_merge_architecture_of_the_reference_sizes():
    model = ShowTellModel(100, feature_dim=1920)
    shapes = {w.path: tuple(w.shape) for w in model.weights}
    assert shapes["image_dense/kernel"] == (1920, 256)
    assert shapes["embedding/embeddings"] == (100, 256)
    assert shapes["dense/kernel"] == (256, 128)
    assert shapes["to_logits/kernel"] == (128, 100)
    lstm = [s for p, s in shapes.items() if "lstm" in p]
    assert sorted(lstm) == sorted([(256, 1024), (256, 1024), (1024,)])
    expected = (1920 * 256 + 256) + 100 * 256 + 4 * (256 * 256 * 2 + 256) \
        + (256 * 128 + 128) + (128 * 100 + 100)
    assert model.count_params() == expected
    logits = model(_inputs(2, 1920, 5, 100))
    assert logits.shape == (2, 5, 100)


@pytest.mark.parametrize("merge", ["add", "none"])
def test_step_decoding_equals_the_teacher_forced_forward(merge):
    model = ShowTellModel(30, feature_dim=12, embedding_dim=16, hidden_dim=16, dense_dim=8,
                          merge=merge)
    inputs = _inputs()
    full = model(inputs, training=False).numpy()
    cache = model.initial_cache(inputs["features"])
    steps = []
    for t in range(inputs["token_ids"].shape[1]):
        logits, cache = model.step(tf.constant(inputs["token_ids"][:, t]), cache)
        steps.append(logits.numpy())
    np.testing.assert_allclose(np.stack(steps, axis=1), full, atol=1e-5, rtol=1e-5)
    assert np.abs(full).max() > 1e-3


def test_merge_add_feeds_the_image_to_the_output_and_none_does_not():
    inputs = _inputs()
    added = ShowTellModel(30, feature_dim=12, embedding_dim=16, hidden_dim=16, merge="add")
    plain = ShowTellModel(30, feature_dim=12, embedding_dim=16, hidden_dim=16, merge="none")
    plain.set_weights(added.get_weights())
    assert not np.allclose(added(inputs).numpy(), plain(inputs).numpy())
    with pytest.raises(ValueError, match="embedding_dim 16.*hidden_dim 24"):
        ShowTellModel(30, feature_dim=12, embedding_dim=16, hidden_dim=24, merge="add")
    ShowTellModel(30, feature_dim=12, embedding_dim=16, hidden_dim=24, merge="none")
    with pytest.raises(ValueError, match="'concat'"):
        ShowTellModel(30, merge="concat")


def test_training_dropout_changes_outputs_and_inference_is_deterministic():
    model = ShowTellModel(30, feature_dim=12, embedding_dim=16, hidden_dim=16)
    inputs = _inputs()
    np.testing.assert_array_equal(model(inputs).numpy(), model(inputs).numpy())
    assert not np.allclose(model(inputs, training=True).numpy(), model(inputs).numpy())


def test_config_round_trip():
    model = ShowTellModel(30, feature_dim=12, embedding_dim=8, hidden_dim=10, dense_dim=6,
                          dropout=0.25, merge="none")
    clone = ShowTellModel.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in model.weights]


def test_greedy_captions_are_the_argmax_of_the_forward_pass():
    vocabulary = WordVocabulary([f"w{i}" for i in range(26)])
    model = ShowTellModel(len(vocabulary), feature_dim=12, embedding_dim=16, hidden_dim=16)
    captioner = ShowTellCaptioner(model, vocabulary, max_length=6, jit_compile=False)
    features = _inputs()["features"]
    out = captioner.generate(features, return_ids=True)
    for row, (ids,) in zip(features, out["token_ids"]):
        inputs = [vocabulary.start_id] + list(ids[:-1])
        logits = model({"features": row[None], "token_ids": np.array([inputs], "int32")})
        assert list(np.argmax(logits.numpy()[0], -1)) == list(ids)
    beam = captioner.generate(features, "beam", beam_size=1)
    assert beam == out["captions"]
