"""Small shape-static tensor operations shared by the decoding loops (all XLA-friendly)."""

import tensorflow as tf


def repeat_rows(nest, times: int):
    """Repeat every tensor of a nest ``times`` times along axis 0 (row ``b`` -> rows
    ``b * times ... b * times + times - 1``)."""
    return tf.nest.map_structure(lambda x: tf.repeat(x, times, axis=0), nest)


def gather_rows(nest, rows):
    """Take rows ``rows`` (int32 ``[N]``) of every tensor of a nest, along axis 0."""
    return tf.nest.map_structure(lambda x: tf.gather(x, rows, axis=0), nest)


def is_stop_token(token_ids, stop_token_ids):
    """bool, shaped like ``token_ids``: True where the id is one of ``stop_token_ids``."""
    if not stop_token_ids:
        return tf.zeros_like(token_ids, tf.bool)
    stops = tf.constant(stop_token_ids, token_ids.dtype)
    return tf.reduce_any(tf.equal(token_ids[..., None], stops), axis=-1)


def write_column(buffer, position, values):
    """``buffer[..., position] = values`` for a ``[..., T]`` buffer and ``[...]`` values,
    with a scalar tensor position (no scatter, so shapes stay static)."""
    hit = tf.equal(tf.range(tf.shape(buffer)[-1]), position)
    return tf.where(hit, values[..., None], buffer)


def zero_beyond_lengths(token_ids, lengths):
    """Set ``token_ids[..., t]`` to 0 wherever ``t >= lengths``."""
    keep = tf.sequence_mask(lengths, tf.shape(token_ids)[-1])
    return tf.where(keep, token_ids, tf.zeros_like(token_ids))


def length_normaliser(lengths, length_penalty: float):
    """float32 ``lengths ** length_penalty``; exact division by length for 1.0, ones for 0.0."""
    lengths = tf.cast(lengths, tf.float32)
    if length_penalty == 1.0:
        return lengths
    if length_penalty == 0.0:
        return tf.ones_like(lengths)
    return tf.pow(lengths, length_penalty)


def gather_log_probs(log_probs, token_ids):
    """``log_probs[n, token_ids[n]]`` for ``[N, V]`` log-probs and int32 ``[N]`` ids."""
    return tf.gather(log_probs, token_ids, axis=1, batch_dims=1)
