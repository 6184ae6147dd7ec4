"""Stochastic decoding: temperature, top-k and nucleus (top-p) sampling, stateless RNG."""

import numpy as np
import tensorflow as tf

from tfcaption.decoding.decode_result import DecodeResult
from tfcaption.decoding.logits_processing import filter_logits
from tfcaption.decoding.loop_ops import gather_log_probs, repeat_rows
from tfcaption.decoding.token_loop import run_token_loop

_TINY = float(np.finfo(np.float32).tiny)


def seed_tensor(seed):
    """An int ``[2]`` stateless seed from a Python int (``[seed, 0]``) or a ``[2]`` tensor."""
    if isinstance(seed, (int, np.integer)):
        return tf.constant([int(seed), 0], tf.int32)
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        raise ValueError(f"seed must be an int32 or int64 tensor of shape [2], got {seed.dtype}")
    if seed.shape.rank is not None and seed.shape.as_list() != [2]:
        raise ValueError(f"seed must have shape [2], got {seed.shape}")
    return seed


def sample_tokens(logits, seed):
    """One token per row drawn from ``softmax(logits)`` (Gumbel-max with a stateless seed);
    ``-inf`` logits are never drawn."""
    uniform = tf.random.stateless_uniform(tf.shape(logits), seed, minval=_TINY, maxval=1.0)
    gumbel = -tf.math.log(-tf.math.log(uniform))
    return tf.argmax(logits + gumbel, axis=-1, output_type=tf.int32)


def sample_search(step_fn, first_logits, cache, start_index, max_length: int, seed,
                  temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                  num_return_sequences: int = 1, stop_token_ids=()) -> DecodeResult:
    """Sample ``num_return_sequences`` independent sequences per row.

    Each row (and its cache) is repeated ``R`` times. At generated position ``step`` the
    noise comes from ``stateless_fold_in(seed, step)``, so a fixed seed reproduces the
    output in the same execution mode (eager and XLA use different random bit generators).
    ``scores`` sums the log-probabilities of the sampled tokens under the filtered,
    temperature-scaled distribution. See :func:`tfcaption.decoding.decode.decode`.
    """
    seed = seed_tensor(seed)
    repeats = num_return_sequences

    def choose(logits, step):
        filtered = filter_logits(logits, temperature, top_k, top_p)
        token_ids = sample_tokens(filtered, tf.random.experimental.stateless_fold_in(seed, step))
        return token_ids, gather_log_probs(tf.nn.log_softmax(filtered, axis=-1), token_ids)

    first_logits = tf.convert_to_tensor(first_logits)
    if repeats > 1:
        first_logits = tf.repeat(first_logits, repeats, axis=0)
        cache = repeat_rows(cache, repeats)
    token_ids, lengths, scores = run_token_loop(step_fn, first_logits, cache, start_index,
                                                max_length, tuple(stop_token_ids), choose)
    return DecodeResult(tf.reshape(token_ids, [-1, repeats, max_length]),
                        tf.reshape(lengths, [-1, repeats]), tf.reshape(scores, [-1, repeats]))
