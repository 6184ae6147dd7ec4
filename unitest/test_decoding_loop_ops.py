import numpy as np
import tensorflow as tf

from tfcaption.decoding.decode_result import DecodeResult
from tfcaption.decoding.loop_ops import (gather_log_probs, gather_rows, is_stop_token,
                                         length_normaliser, repeat_rows, write_column,
                                         zero_beyond_lengths)


def test_repeat_and_gather_rows_over_a_nest():
    nest = {"a": tf.constant([[1, 2], [3, 4]]), "b": (tf.constant([5.0, 6.0]),)}
    repeated = repeat_rows(nest, 3)
    np.testing.assert_array_equal(repeated["a"][:, 0], [1, 1, 1, 3, 3, 3])
    np.testing.assert_array_equal(repeated["b"][0], [5, 5, 5, 6, 6, 6])
    picked = gather_rows(repeated, tf.constant([5, 0]))
    np.testing.assert_array_equal(picked["a"], [[3, 4], [1, 2]])
    np.testing.assert_array_equal(picked["b"][0], [6, 5])


def test_is_stop_token():
    ids = tf.constant([[0, 3, 7], [7, 1, 2]])
    np.testing.assert_array_equal(is_stop_token(ids, (7, 2)),
                                  [[False, False, True], [True, False, True]])
    assert not is_stop_token(ids, ()).numpy().any()


def test_write_column_and_zero_beyond_lengths():
    buffer = tf.constant([[1, 1, 1, 1], [2, 2, 2, 2]])
    written = write_column(buffer, tf.constant(2), tf.constant([8, 9]))
    np.testing.assert_array_equal(written, [[1, 1, 8, 1], [2, 2, 9, 2]])
    np.testing.assert_array_equal(zero_beyond_lengths(written, tf.constant([1, 3])),
                                  [[1, 0, 0, 0], [2, 2, 9, 0]])


def test_length_normaliser():
    lengths = tf.constant([1, 4, 9])
    np.testing.assert_array_equal(length_normaliser(lengths, 1.0), [1, 4, 9])
    np.testing.assert_array_equal(length_normaliser(lengths, 0.0), [1, 1, 1])
    np.testing.assert_allclose(length_normaliser(lengths, 0.5), [1, 2, 3], rtol=1e-6)


def test_gather_log_probs():
    log_probs = tf.constant([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    np.testing.assert_allclose(gather_log_probs(log_probs, tf.constant([2, 0])), [0.3, 0.4])


def test_padding_mask():
    result = DecodeResult(tf.zeros([2, 1, 4], tf.int32), tf.constant([[0], [3]]),
                          tf.zeros([2, 1]))
    np.testing.assert_array_equal(result.padding_mask()[:, 0],
                                  [[False] * 4, [True, True, True, False]])
