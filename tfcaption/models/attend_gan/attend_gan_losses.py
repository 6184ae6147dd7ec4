"""The ATTEND-GAN losses as small pure functions (TensorFlow ops, XLA-compilable)."""

import tensorflow as tf


def mask_through_end(token_ids, end_id):
    """bool ``[..., T]``: True up to and including each sequence's first ``end_id`` (all
    ``T`` when it has none)."""
    is_end = tf.cast(tf.equal(tf.cast(token_ids, tf.int32), int(end_id)), tf.int32)
    ends_before = tf.cumsum(is_end, axis=-1, exclusive=True)
    return tf.equal(ends_before, 0)


def attention_regularizer(attention, padding_mask, target=1.0):
    """The doubly stochastic attention term of Show-Attend-Tell:
    ``mean_b sum_i (target - sum_t alpha_bti)^2`` over the real steps ``t`` (``attention``
    ``[B, T, R]``, ``padding_mask`` ``[B, T]``). ``target`` 1 asks every region to be
    attended once over the caption (the paper); the reference re-implementation uses
    ``T / R``."""
    weights = tf.cast(padding_mask, tf.float32)[..., None]
    total = tf.reduce_sum(tf.cast(attention, tf.float32) * weights, axis=1)  # [B, R]
    return tf.reduce_mean(tf.reduce_sum(tf.square(target - total), axis=-1))


def token_log_probs(logits, token_ids):
    """``log p(token_ids[:, t])`` under ``logits[:, t]``: ``[B, T]`` float32."""
    logits = tf.cast(logits, tf.float32)
    flat = tf.reshape(logits, [-1, tf.shape(logits)[-1]])
    picked = -tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.reshape(tf.cast(token_ids, tf.int32), [-1]), logits=flat)
    return tf.reshape(picked, tf.shape(token_ids))


def policy_gradient_loss(log_probs, rewards, padding_mask):
    """``L1 = mean_b (- sum_t log p(y_bt) R_bt)`` over the real steps (``rewards`` are
    constants: the caller stops their gradient)."""
    weights = tf.cast(padding_mask, tf.float32)
    per_caption = -tf.reduce_sum(log_probs * tf.stop_gradient(rewards) * weights, axis=-1)
    return tf.reduce_mean(per_caption)


def batch_mean_baseline(rewards, padding_mask):
    """``R_bt - mean_b' R_b't`` (the mean over the batch's captions still running at step
    ``t``): the same expected gradient with less variance."""
    weights = tf.cast(padding_mask, tf.float32)
    mean = tf.math.divide_no_nan(tf.reduce_sum(rewards * weights, axis=0),
                                 tf.reduce_sum(weights, axis=0))
    return rewards - mean[None, :]


def discriminator_loss(real_logits, fake_logits):
    """Binary cross-entropy: dataset captions are 1, generated ones 0 (mean of both
    halves' means)."""
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return 0.5 * (tf.reduce_mean(real) + tf.reduce_mean(fake))
