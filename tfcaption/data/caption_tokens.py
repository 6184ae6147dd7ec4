"""Fixed-length caption token ids with an explicit padding mask."""

import tensorflow as tf


def _num_specials(start_id, end_id) -> int:
    return int(start_id is not None) + int(end_id is not None)


def pad_token_batch(ids: tf.RaggedTensor, max_length: int, pad_id: int, start_id=None,
                    end_id=None):
    """Ragged ids ``[batch, (len)]`` -> ``(token_ids, padding_mask)``, both
    ``[batch, max_length]``.

    Each row is the optional start id, the row's ids truncated to leave room for the
    start/end ids, and the optional end id, then ``pad_id`` padding. ``padding_mask`` is
    True for real tokens (start, ids, end); ``pad_id`` is a filler value, never a marker.
    """
    specials = _num_specials(start_id, end_id)
    if max_length < specials:
        raise ValueError(f"max_length {max_length} leaves no room for the start/end ids")
    ids = tf.cast(ids, tf.int32)[:, :max_length - specials]
    lengths = tf.cast(ids.row_lengths(), tf.int32)
    token_ids = ids.to_tensor(default_value=pad_id, shape=[None, max_length - specials])
    if start_id is not None:
        token_ids = tf.pad(token_ids, [[0, 0], [1, 0]],
                           constant_values=tf.constant(start_id, tf.int32))
        lengths += 1
    if end_id is not None:
        token_ids = tf.pad(token_ids, [[0, 0], [0, 1]],
                           constant_values=tf.constant(pad_id, tf.int32))
        at_end = tf.equal(tf.range(max_length)[None, :], lengths[:, None])
        token_ids = tf.where(at_end, tf.constant(end_id, tf.int32), token_ids)
        lengths += 1
    return token_ids, tf.sequence_mask(lengths, max_length)


def pad_tokens(ids: tf.Tensor, max_length: int, pad_id: int, start_id=None, end_id=None):
    """1-D ids -> ``(token_ids[max_length], padding_mask[max_length])``.

    Adds the optional start/end ids and pads with ``pad_id``. Long captions are
    truncated before the end id is added, so every sequence keeps its end id
    (a model learns to stop within ``max_length``). Padding is identified only by
    ``padding_mask`` (True = real token); ``pad_id`` is a filler value, never a marker.
    """
    if max_length <= _num_specials(start_id, end_id):
        raise ValueError(f"max_length {max_length} leaves no room for caption tokens")
    row = tf.RaggedTensor.from_tensor(tf.reshape(ids, [1, -1]))
    token_ids, mask = pad_token_batch(row, max_length, pad_id, start_id, end_id)
    return token_ids[0], mask[0]
