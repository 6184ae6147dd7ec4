"""Greedy decoding: the most probable token at every step."""

import tensorflow as tf

from tfcaption.decoding.decode_result import DecodeResult
from tfcaption.decoding.loop_ops import gather_log_probs
from tfcaption.decoding.token_loop import run_token_loop


def greedy_choice(logits, step):
    """argmax token (lowest id on ties) and its ``log_softmax`` of the raw logits."""
    del step
    token_ids = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return token_ids, gather_log_probs(tf.nn.log_softmax(logits, axis=-1), token_ids)


def greedy_search(step_fn, first_logits, cache, start_index, max_length: int,
                  stop_token_ids=()) -> DecodeResult:
    """Greedy decoding of ``B`` rows; one sequence per row (``R = 1``).

    See :func:`tfcaption.decoding.decode.decode` for the arguments. ``scores`` is the sum of
    the chosen tokens' log-probabilities (of the raw, unscaled logits).
    """
    token_ids, lengths, scores = run_token_loop(step_fn, first_logits, cache, start_index,
                                                max_length, tuple(stop_token_ids),
                                                greedy_choice)
    return DecodeResult(token_ids[:, None, :], lengths[:, None], scores[:, None])
