"""Pure logits transforms used by sampling: temperature, top-k and top-p (nucleus) filters.

Each works on the last axis of a float tensor of static rank and puts ``-inf`` on the
logits it removes, so a softmax of the result is the filtered distribution.
"""

import tensorflow as tf


def apply_temperature(logits, temperature: float):
    """``logits / temperature`` (``temperature`` > 0; 1.0 returns ``logits`` unchanged)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if temperature == 1.0:
        return logits
    return logits / tf.cast(temperature, logits.dtype)


def top_k_filter(logits, top_k: int):
    """Keep the logits >= the ``top_k``-th largest of their row; ``top_k`` 0 disables.

    Ties with the ``top_k``-th value are all kept; ``top_k`` above the vocabulary size keeps
    every logit.
    """
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 = off), got {top_k}")
    vocab_size = logits.shape[-1]
    if top_k == 0 or (vocab_size is not None and top_k >= vocab_size):
        return logits
    kth = tf.math.top_k(logits, k=top_k, sorted=True).values[..., -1:]
    return tf.where(logits < kth, tf.constant(-float("inf"), logits.dtype), logits)


def top_p_filter(logits, top_p: float):
    """Nucleus filter: keep the smallest set of most probable tokens whose total
    probability is >= ``top_p``; ``top_p`` 1.0 disables.

    A token is kept when the probability of the tokens ranked before it (descending,
    ties broken by lower id first) is below ``top_p``, so the most probable token is
    always kept. Probabilities are ``softmax(logits)`` of the given (already scaled,
    possibly top-k filtered) logits.
    """
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_p == 1.0:
        return logits
    order = tf.argsort(logits, axis=-1, direction="DESCENDING", stable=True)
    batch_dims = logits.shape.rank - 1
    sorted_logits = tf.gather(logits, order, batch_dims=batch_dims)
    probs_before = tf.math.cumsum(tf.nn.softmax(sorted_logits, axis=-1), axis=-1,
                                  exclusive=True)
    keep_sorted = probs_before < tf.cast(top_p, probs_before.dtype)
    inverse = tf.argsort(order, axis=-1, stable=True)
    keep = tf.gather(keep_sorted, inverse, batch_dims=batch_dims)
    return tf.where(keep, logits, tf.constant(-float("inf"), logits.dtype))


def filter_logits(logits, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0):
    """Temperature, then top-k, then top-p: the distribution that sampling draws from."""
    return top_p_filter(top_k_filter(apply_temperature(logits, temperature), top_k), top_p)
