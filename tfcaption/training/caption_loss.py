"""Masked next-token cross-entropy on caption tokens (padding given by a mask, never by id)."""

import tensorflow as tf


def caption_loss(logits, token_ids, padding_mask):
    """Mean cross-entropy over the real tokens.

    Args:
      logits: float ``[B, L, V]``; ``logits[:, t]`` predicts ``token_ids[:, t]``.
      token_ids: int ``[B, L]``.
      padding_mask: bool ``[B, L]``, True for real tokens (the end token included).

    Returns:
      ``(loss, token_accuracy, num_tokens)`` scalars; a batch without real tokens gives 0.
    """
    logits = tf.cast(logits, tf.float32)
    token_ids = tf.cast(token_ids, tf.int32)
    weights = tf.cast(padding_mask, tf.float32)
    # Rank-2 logits: for [B, L, V] with an unknown B, TensorFlow adds a shape Assert that
    # XLA cannot compile ("Ignoring Assert operator").
    per_token = tf.reshape(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.reshape(token_ids, [-1]),
        logits=tf.reshape(logits, [-1, tf.shape(logits)[-1]])), tf.shape(token_ids))
    count = tf.reduce_sum(weights)
    loss = tf.math.divide_no_nan(tf.reduce_sum(per_token * weights), count)
    hits = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), token_ids), tf.float32)
    accuracy = tf.math.divide_no_nan(tf.reduce_sum(hits * weights), count)
    return loss, accuracy, count
