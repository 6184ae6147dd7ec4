"""The sequences produced by one decoding run."""

from typing import NamedTuple

import tensorflow as tf


class DecodeResult(NamedTuple):
    """Generated sequences, ``R`` per input row.

    Attributes:
      token_ids: int32 ``[B, R, T]``, ``T = max_length``. Positions at or beyond ``lengths``
        hold 0, which is a real token id for most vocabularies: read them only through
        :meth:`padding_mask`.
      lengths: int32 ``[B, R]``: generated tokens per sequence, the stop token included when
        one was produced.
      scores: float32 ``[B, R]``: greedy/sample: sum of the chosen tokens' log-probabilities;
        beam: that sum divided by ``length ** length_penalty``. Sequences are ordered best
        first for beam search.
    """

    token_ids: tf.Tensor
    lengths: tf.Tensor
    scores: tf.Tensor

    def padding_mask(self) -> tf.Tensor:
        """bool ``[B, R, T]``: True where ``token_ids`` holds a generated token."""
        return tf.sequence_mask(self.lengths, tf.shape(self.token_ids)[-1])
