"""Beam search with length normalisation, batched over rows (ClipCap ``generate_beam``)."""

import tensorflow as tf

from tfcaption.decoding.decode_result import DecodeResult
from tfcaption.decoding.logits_processing import apply_temperature
from tfcaption.decoding.loop_ops import (gather_rows, is_stop_token, length_normaliser,
                                         repeat_rows, write_column, zero_beyond_lengths)


def _beam_log_probs(logits, temperature):
    return tf.nn.log_softmax(apply_temperature(tf.cast(logits, tf.float32), temperature), -1)


def beam_search(step_fn, first_logits, cache, start_index, max_length: int, beam_size: int,
                length_penalty: float = 1.0, temperature: float = 1.0,
                num_return_sequences: int = 1, stop_token_ids=()) -> DecodeResult:
    """``beam_size`` beams per row, ranked by ``score_sum / length ** length_penalty``.

    With ``length_penalty`` 1.0 this is the official ClipCap ``generate_beam``, run for all
    ``B`` rows at once:

    * log-probs are ``log_softmax(logits / temperature)``; the first step takes each row's
      top ``beam_size`` tokens (length 1; a stop token stops its beam at once) and repeats
      the cache ``beam_size`` times per row (row ``b``'s beam ``k`` is cache row
      ``b * beam_size + k``);
    * at each later step a stopped beam offers a single candidate, token 0 at no cost and
      no growth in length; a running beam offers ``score + log_probs`` and grows by one.
      All ``beam_size * V`` candidates of a row are ranked by ``sum / length ** alpha``;
      the winners inherit their source beam's tokens, length and stopped flag (the cache
      rows are gathered too) and stop when the new token is a stop token;
    * the loop ends after ``max_length`` tokens or when every beam of every row has stopped
      (a row whose beams have all stopped is frozen while other rows go on);
    * each row's beams are sorted by ``sum / length ** alpha``, best first, and the top
      ``num_return_sequences`` are returned with that value as their score.

    See :func:`tfcaption.decoding.decode.decode` for the arguments.
    """
    first_logits = tf.convert_to_tensor(first_logits)
    vocab_size = first_logits.shape[-1]
    if vocab_size is None:
        raise ValueError("beam search needs a static vocabulary size (first_logits.shape[-1])")
    if not 1 <= num_return_sequences <= beam_size <= vocab_size:
        raise ValueError(f"need 1 <= num_return_sequences ({num_return_sequences}) <= "
                         f"beam_size ({beam_size}) <= vocabulary size ({vocab_size})")
    stops = tuple(stop_token_ids)
    rows = tf.shape(first_logits)[0]
    start_index = tf.cast(start_index, tf.int32)
    scores, first_tokens = tf.math.top_k(_beam_log_probs(first_logits, temperature), beam_size)
    token_ids = write_column(tf.zeros([rows, beam_size, max_length], tf.int32), 0, first_tokens)
    lengths = tf.ones([rows, beam_size], tf.int32)
    stopped = is_stop_token(first_tokens, stops)
    cache = repeat_rows(cache, beam_size)
    beam_ids = tf.range(beam_size)[None, :]
    row_offsets = tf.range(rows)[:, None] * beam_size
    stopped_candidates = tf.where(tf.equal(tf.range(vocab_size), 0), 0.0, -float("inf"))

    def keep_going(step, last, token_ids, lengths, scores, stopped, cache):
        return tf.logical_not(tf.reduce_all(stopped))

    def one_token(step, last, token_ids, lengths, scores, stopped, cache):
        logits, cache = step_fn(tf.reshape(last, [-1]), cache, start_index + step - 1)
        log_probs = tf.reshape(_beam_log_probs(logits, temperature),
                               [rows, beam_size, vocab_size])
        candidates = scores[..., None] + tf.where(stopped[..., None], stopped_candidates,
                                                  log_probs)
        grown = lengths + tf.cast(tf.logical_not(stopped), tf.int32)
        ranked = candidates / length_normaliser(grown, length_penalty)[..., None]
        best, flat = tf.math.top_k(tf.reshape(ranked, [rows, beam_size * vocab_size]),
                                   beam_size)
        row_done = tf.reduce_all(stopped, axis=1, keepdims=True)
        source = tf.where(row_done, beam_ids, flat // vocab_size)
        new_tokens = tf.where(row_done, 0, flat % vocab_size)
        lengths = tf.gather(grown, source, batch_dims=1)
        scores = tf.where(row_done, scores, best * length_normaliser(lengths, length_penalty))
        stopped = tf.logical_or(tf.gather(stopped, source, batch_dims=1),
                                is_stop_token(new_tokens, stops))
        token_ids = write_column(tf.gather(token_ids, source, batch_dims=1), step, new_tokens)
        cache = gather_rows(cache, tf.reshape(source + row_offsets, [-1]))
        return step + 1, new_tokens, token_ids, lengths, scores, stopped, cache

    loop_vars = (tf.constant(1, tf.int32), first_tokens, token_ids, lengths, scores, stopped,
                 cache)
    _, _, token_ids, lengths, scores, _, _ = tf.while_loop(
        keep_going, one_token, loop_vars, maximum_iterations=max_length - 1)
    normalised = scores / length_normaliser(lengths, length_penalty)
    best_scores, order = tf.math.top_k(normalised, num_return_sequences)
    lengths = tf.gather(lengths, order, batch_dims=1)
    token_ids = zero_beyond_lengths(tf.gather(token_ids, order, batch_dims=1), lengths)
    return DecodeResult(token_ids, lengths, best_scores)
