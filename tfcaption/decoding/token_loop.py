"""The one-sequence-per-row decoding loop shared by greedy search and sampling."""

import tensorflow as tf

from tfcaption.decoding.loop_ops import is_stop_token, write_column


def run_token_loop(step_fn, first_logits, cache, start_index, max_length: int,
                   stop_token_ids, choose):
    """Generate up to ``max_length`` tokens per row, one ``tf.while_loop`` over tokens.

    Args:
      step_fn: ``step_fn(token_ids [N], cache, index) -> (logits [N, V], cache)``.
      first_logits: float ``[N, V]``: next-token logits after each row's prefix.
      cache: nest of tensors with ``N`` rows, room for ``start_index + max_length``
        positions.
      start_index: scalar int: the cache position of the first generated token.
      max_length: static int >= 1.
      stop_token_ids: tuple of ints ending a row.
      choose: ``choose(logits [N, V] float32, step scalar int32) -> (token_ids int32 [N],
        log_probs float32 [N])``: the token picked at generated position ``step`` and its
        log-probability.

    Returns:
      ``(token_ids [N, T], lengths [N], scores [N])``. A row is finished once it emits a
      stop token: later positions hold 0 and its length and score stop changing. The loop
      ends early when every row is finished; ``step_fn`` is called for all rows (finished
      rows are fed token 0) so shapes stay static.
    """
    first_logits = tf.cast(first_logits, tf.float32)
    rows = tf.shape(first_logits)[0]
    start_index = tf.cast(start_index, tf.int32)
    token_ids, scores = choose(first_logits, tf.constant(0, tf.int32))
    buffer = write_column(tf.zeros([rows, max_length], tf.int32), 0, token_ids)
    lengths = tf.ones([rows], tf.int32)
    finished = is_stop_token(token_ids, stop_token_ids)

    def keep_going(step, last, buffer, lengths, scores, finished, cache):
        return tf.logical_not(tf.reduce_all(finished))

    def one_token(step, last, buffer, lengths, scores, finished, cache):
        logits, cache = step_fn(last, cache, start_index + step - 1)
        chosen, log_probs = choose(tf.cast(logits, tf.float32), step)
        active = tf.logical_not(finished)
        chosen = tf.where(active, chosen, tf.zeros_like(chosen))
        buffer = write_column(buffer, step, chosen)
        lengths += tf.cast(active, tf.int32)
        scores += tf.where(active, log_probs, tf.zeros_like(log_probs))
        finished = tf.logical_or(finished, tf.logical_and(active, is_stop_token(
            chosen, stop_token_ids)))
        return step + 1, chosen, buffer, lengths, scores, finished, cache

    loop_vars = (tf.constant(1, tf.int32), token_ids, buffer, lengths, scores, finished, cache)
    _, _, buffer, lengths, scores, _, _ = tf.while_loop(
        keep_going, one_token, loop_vars, maximum_iterations=max_length - 1)
    return buffer, lengths, scores
