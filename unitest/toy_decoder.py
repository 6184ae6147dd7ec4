"""A tiny seeded autoregressive "language model" for decoding tests.

Next-token logits depend on the last token, its position, the whole history (sum of all
token ids so far, modulo ``modulus``) and a per-row prefix bias, so a beam search that
reorders its cache wrongly gets different logits. ``step`` is the cached TF step
(``step_fn`` of ``tfcaption.decoding``); ``logits_of`` recomputes the same logits in numpy
from a full history, with no cache, in the same float32 summation order.
"""

import numpy as np
import tensorflow as tf


class ToyDecoder:
    """Random tables; ``stop_token`` gets a bias growing with position so stops do happen."""

    def __init__(self, vocab_size=11, max_positions=48, modulus=7, scale=1.5, stop_token=None,
                 stop_growth=0.25, seed=0):
        rng = np.random.default_rng(seed)
        self.vocab_size, self.modulus = vocab_size, modulus
        normal = lambda *shape: rng.normal(0.0, scale, shape).astype(np.float32)  # noqa: E731
        self.token_table = normal(vocab_size, vocab_size)
        self.position_table = normal(max_positions, vocab_size)
        self.history_table = normal(modulus, vocab_size)
        self.prefix_table = normal(vocab_size, vocab_size)
        if stop_token is not None:
            self.position_table[:, stop_token] += (
                stop_growth * np.arange(max_positions) - 1.0).astype(np.float32)

    def prefix_bias(self, prefix):
        """float32 ``[V]``: the row's bias from its prefix token ids."""
        return self.prefix_table[np.asarray(prefix)].sum(axis=0, dtype=np.float32)

    def logits_of(self, prefix, generated):
        """Reference next-token logits after ``prefix + generated`` (numpy, no cache)."""
        history = [int(t) for t in prefix] + [int(t) for t in generated]
        index = len(history) - 1
        total = sum(history) % self.modulus
        return (((self.token_table[history[-1]] + self.position_table[index])
                 + self.history_table[total]) + self.prefix_bias(prefix))

    def prefill(self, prefixes, max_length):
        """``(first_logits [B, V], cache, start_index)`` for equal-length prefixes ``[B, P]``."""
        prefixes = np.asarray(prefixes, np.int32)
        batch, prefix_length = prefixes.shape
        history = np.zeros([batch, prefix_length + max_length], np.int32)
        history[:, :prefix_length] = prefixes
        first = np.stack([self.logits_of(p, []) for p in prefixes])
        bias = np.stack([self.prefix_bias(p) for p in prefixes])
        cache = {"history": tf.constant(history), "state": (tf.constant(bias),)}
        return tf.constant(first), cache, prefix_length

    def step(self, token_ids, cache, index):
        """Cached step: write ``token_ids`` at ``index``, return the next logits."""
        history = cache["history"]
        positions = tf.range(tf.shape(history)[1])
        history = tf.where(tf.equal(positions, index)[None, :], token_ids[:, None], history)
        written = tf.where(positions[None, :] <= index, history, tf.zeros_like(history))
        total = tf.math.floormod(tf.reduce_sum(written, axis=1), self.modulus)
        (bias,) = cache["state"]
        logits = (((tf.gather(self.token_table, token_ids) + tf.gather(self.position_table, index))
                   + tf.gather(self.history_table, total)) + bias)
        return logits, {"history": history, "state": (bias,)}


def random_prefixes(batch, prefix_length=3, vocab_size=11, seed=1):
    """int32 ``[batch, prefix_length]`` prefix token ids."""
    return np.random.default_rng(seed).integers(0, vocab_size, [batch, prefix_length], np.int32)
