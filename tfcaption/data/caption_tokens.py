"""Fixed-length caption token ids with an explicit padding mask."""

import tensorflow as tf


def pad_tokens(ids: tf.Tensor, max_length: int, pad_id: int, start_id=None, end_id=None):
    """1-D ids -> ``(token_ids[max_length], padding_mask[max_length])``.

    Adds the optional start/end ids and pads with ``pad_id``. Long captions are
    truncated before the end id is added, so every sequence keeps its end id
    (a model learns to stop within ``max_length``). Padding is identified only by ``padding_mask`` (True = real
    token); ``pad_id`` is a filler value, never a marker.
    """
    specials = int(start_id is not None) + int(end_id is not None)
    if max_length <= specials:
        raise ValueError(f"max_length {max_length} leaves no room for caption tokens")
    ids = tf.cast(tf.reshape(ids, [-1]), tf.int32)[:max_length - specials]
    parts = []
    if start_id is not None:
        parts.append(tf.constant([start_id], tf.int32))
    parts.append(ids)
    if end_id is not None:
        parts.append(tf.constant([end_id], tf.int32))
    ids = tf.concat(parts, axis=0)
    n = tf.shape(ids)[0]
    token_ids = tf.pad(ids, [[0, max_length - n]], constant_values=pad_id)
    mask = tf.sequence_mask(n, max_length)
    token_ids.set_shape([max_length])
    mask.set_shape([max_length])
    return token_ids, mask
