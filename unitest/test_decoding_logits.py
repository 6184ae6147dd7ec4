import numpy as np
import pytest
import tensorflow as tf

from decoding_reference import filter_reference
from tfcaption.decoding.logits_processing import (apply_temperature, filter_logits,
                                                  top_k_filter, top_p_filter)


def _logits(rows=6, vocab=11, seed=0):
    return np.random.default_rng(seed).normal(0.0, 2.0, [rows, vocab]).astype(np.float32)


def _assert_same_support_and_values(got, want):
    got = np.asarray(got)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-6)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_apply_temperature(temperature):
    x = _logits()
    np.testing.assert_allclose(apply_temperature(tf.constant(x), temperature), x / temperature,
                               rtol=1e-6)


def test_apply_temperature_rejects_non_positive():
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(tf.constant(_logits()), 0.0)


@pytest.mark.parametrize("top_k", [0, 1, 3, 10, 11, 50])
def test_top_k_filter_matches_numpy(top_k):
    x = _logits()
    want = np.stack([filter_reference(row, top_k=top_k) for row in x])
    got = top_k_filter(tf.constant(x), top_k).numpy()
    _assert_same_support_and_values(got, want)
    if 0 < top_k < 11:
        assert (np.isfinite(got).sum(axis=1) == top_k).all()


def test_top_k_filter_keeps_ties_and_rejects_negative():
    got = top_k_filter(tf.constant([[1.0, 2.0, 2.0, 3.0, 0.0]]), 2).numpy()
    np.testing.assert_array_equal(np.isfinite(got), [[False, True, True, True, False]])
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(tf.constant([[1.0]]), -1)


@pytest.mark.parametrize("top_p", [1e-4, 0.3, 0.6, 0.9, 0.99, 1.0])
def test_top_p_filter_matches_numpy(top_p):
    x = _logits(rows=32)
    want = np.stack([filter_reference(row, top_p=top_p) for row in x])
    got = top_p_filter(tf.constant(x), top_p).numpy()
    _assert_same_support_and_values(got, want)
    # the most probable token is always kept; the kept mass reaches top_p
    assert np.isfinite(got[np.arange(32), x.argmax(axis=1)]).all()
    kept_mass = np.where(np.isfinite(got), tf.nn.softmax(x).numpy(), 0).sum(axis=1)
    assert (kept_mass >= top_p - 1e-6).all()


def test_top_p_filter_on_top_k_filtered_logits_and_rank_3_and_xla():
    x = _logits(rows=12).reshape(3, 4, 11)
    want = np.stack([filter_reference(row, 1.7, 5, 0.8) for row in x.reshape(12, 11)])
    fn = lambda t: filter_logits(t, temperature=1.7, top_k=5, top_p=0.8)  # noqa: E731
    eager = fn(tf.constant(x)).numpy().reshape(12, 11)
    compiled = tf.function(fn, jit_compile=True)(tf.constant(x)).numpy().reshape(12, 11)
    _assert_same_support_and_values(eager, want)
    _assert_same_support_and_values(compiled, want)


def test_top_p_rejects_out_of_range():
    for top_p in (0.0, 1.5):
        with pytest.raises(ValueError, match="top_p"):
            top_p_filter(tf.constant(_logits()), top_p)
