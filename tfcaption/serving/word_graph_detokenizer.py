"""Word-vocabulary ids -> text with core TensorFlow ops only (for serving exports)."""

import tensorflow as tf


class WordGraphDetokenizer:
    """Token ids -> captions exactly as ``WordVocabulary.decode`` writes them.

    Each sequence is cut at its length and at its first ``<end>``; ``<pad>`` and
    ``<start>`` are skipped; the remaining words are joined with single spaces. Runs on
    ``tf.gather`` from a constant id -> word table and ``tf.strings.reduce_join``: core
    TensorFlow ops, no lookup-table resources.

    Args:
      vocabulary: the captioner's :class:`WordVocabulary`.
    """

    def __init__(self, vocabulary):
        self.words = list(vocabulary.tokens)
        self.pad_id = int(vocabulary.pad_id)
        self.start_id = int(vocabulary.start_id)
        self.end_id = int(vocabulary.end_id)

    def __call__(self, token_ids: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """int ``[B, T]`` ids and int ``[B]`` lengths -> tf.string ``[B]`` captions."""
        token_ids = tf.cast(token_ids, tf.int32)
        lengths = tf.cast(lengths, tf.int32)
        size = len(self.words)
        in_length = tf.sequence_mask(lengths, tf.shape(token_ids)[-1])
        ended = tf.cumsum(tf.cast(tf.equal(token_ids, self.end_id), tf.int32), axis=-1) > 0
        keep = (in_length & ~ended & tf.not_equal(token_ids, self.pad_id)
                & tf.not_equal(token_ids, self.start_id) & (token_ids >= 0)
                & (token_ids < size))
        words = tf.gather(tf.constant(self.words, tf.string),
                          tf.where(keep, token_ids, 0))
        words = tf.ragged.boolean_mask(words, keep)
        return tf.strings.reduce_join(words, axis=-1, separator=" ")
