"""``decode``: run the decoding method a ``DecodingConfig`` names over a model's cached step."""

import tensorflow as tf

from tfcaption.decoding.beam_search import beam_search
from tfcaption.decoding.decode_result import DecodeResult
from tfcaption.decoding.decoding_config import DecodingConfig
from tfcaption.decoding.greedy_search import greedy_search
from tfcaption.decoding.sample_search import sample_search


def decode(step_fn, first_logits, cache, start_index, config, seed=None) -> DecodeResult:
    """Generate ``config.num_return_sequences`` sequences for each of ``B`` rows.

    Traceable eagerly and inside ``tf.function(jit_compile=True)``: shapes are static and
    the tokens run in one ``tf.while_loop`` that ends early once every sequence has stopped.

    Args:
      step_fn: ``step_fn(token_ids, cache, index) -> (logits, cache)``: ``token_ids`` int32
        ``[N]`` (one new token per row), ``cache`` the nest below with ``N`` rows, ``index``
        a scalar int32 tensor, the absolute cache position the token is written at;
        ``logits`` float ``[N, V]`` are the next-token logits after that token. ``N`` is
        ``B`` (greedy), ``B * R`` (sample) or ``B * beam_size`` (beam); row order is
        ``b * repeats + r``. Finished sequences are still stepped (with a filler token) so
        shapes stay static; their logits are ignored.
      first_logits: float ``[B, V]``: next-token logits after each row's prefix.
      cache: any ``tf.nest`` of tensors whose leading dimension is ``B``, already holding the
        prefix, with room for ``start_index + config.max_length`` positions.
      start_index: scalar int32: the position where the first generated token is written.
      config: a ``DecodingConfig``, or anything ``DecodingConfig.parse`` accepts.
      seed: optional int32/int64 ``[2]`` tensor for sampling; overrides ``config.seed``, so a
        compiled caller can pass a fresh seed per call without retracing.

    Returns:
      A :class:`DecodeResult` with ``token_ids`` ``[B, R, T]``, ``lengths`` and ``scores``
      ``[B, R]`` (``T = config.max_length``, ``R = config.num_return_sequences``).
    """
    config = DecodingConfig.parse(config)
    common = dict(max_length=config.max_length, stop_token_ids=config.stop_token_ids)
    if config.method == "greedy":
        return greedy_search(step_fn, first_logits, cache, start_index, **common)
    if config.method == "beam":
        return beam_search(step_fn, first_logits, cache, start_index,
                           beam_size=config.beam_size, length_penalty=config.length_penalty,
                           temperature=config.temperature,
                           num_return_sequences=config.num_return_sequences, **common)
    return sample_search(step_fn, first_logits, cache, start_index,
                         seed=config.seed if seed is None else seed,
                         temperature=config.temperature, top_k=config.top_k, top_p=config.top_p,
                         num_return_sequences=config.num_return_sequences, **common)


def decode_sample(step_fn, first_logits, cache, start_index, seed, config="sample",
                  **overrides) -> DecodeResult:
    """Sampling for training loops (e.g. a GAN generator inside a compiled train step).

    Exactly ``decode`` with a sampling config (``config`` parsed with ``overrides``, e.g.
    ``top_p=0.9``) and a required ``seed`` tensor: pass a fresh int32 ``[2]`` seed per step
    (e.g. from ``keras.random.SeedGenerator``); changing its value never retraces.
    """
    config = DecodingConfig.parse(config, **overrides)
    if config.method != "sample":
        raise ValueError(f"decode_sample needs DecodingConfig.method 'sample', got "
                         f"{config.method!r}")
    return decode(step_fn, first_logits, cache, start_index, config, seed=seed)


def decode_from_start(forward, start_id, batch_size, cache, config, seed=None) -> DecodeResult:
    """``decode`` for a model whose decoder starts from one token: feeds ``start_id`` at
    position 0, then generates from position 1.

    Args:
      forward: ``forward(token_ids [N, T], cache, index) -> (logits [N, T, V], cache)``,
        the tokens written at positions ``index..index+T-1``.
      start_id: the first decoder input (e.g. Hugging Face's ``decoder_start_token_id``).
      batch_size: rows of the cache (images).
      cache, config, seed: as for :func:`decode`.
    """
    start = tf.fill([batch_size, 1], tf.cast(start_id, tf.int32))
    first_logits, cache = forward(start, cache, 0)

    def step(token_ids, cache, index):
        logits, cache = forward(token_ids[:, None], cache, index)
        return logits[:, 0], cache
    return decode(step, first_logits[:, 0], cache, 1, config, seed=seed)
