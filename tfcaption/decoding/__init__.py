"""Batched, compiled autoregressive decoding (greedy, sampling, beam) over a model's cached step.

A model plugs in through ``step_fn(token_ids, cache, index) -> (logits, cache)``; see
:func:`tfcaption.decoding.decode.decode`.
"""
