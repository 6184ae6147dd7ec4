"""SentencePiece ids -> text with core TensorFlow ops only (for serving exports)."""

import tensorflow as tf

WORD_START = "\u2581"  # "▁", SentencePiece's word-start mark


class PieceGraphDetokenizer:
    """Token ids -> captions as :meth:`SentencePieceTokenizer.detokenize` writes them.

    Each sequence is cut at its length and at its first ``eos``; the special ids
    (pad, eos, unk) are skipped; the pieces are joined, the word-start marks become
    spaces and the result is stripped. Core TensorFlow ops (``tf.gather`` from a constant
    id -> piece table, ``tf.strings``): a SavedModel using it loads without
    tensorflow-text. Pieces of byte fallback (``<0x..>``) are not decoded to bytes; T5's
    and Pix2Struct's vocabularies have none.

    Args:
      tokenizer: a :class:`~tfcaption.tokenizers.sentencepiece_tokenizer.
        SentencePieceTokenizer`.
    """

    def __init__(self, tokenizer):
        self.pieces = tokenizer.pieces()
        self.special_ids = tuple(int(i) for i in tokenizer.special_ids)
        self.eos_id = int(tokenizer.eos_id)

    def __call__(self, token_ids: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """int ``[B, T]`` ids and int ``[B]`` lengths -> tf.string ``[B]`` captions."""
        token_ids = tf.cast(token_ids, tf.int32)
        in_length = tf.sequence_mask(tf.cast(lengths, tf.int32), tf.shape(token_ids)[-1])
        ended = tf.cumsum(tf.cast(tf.equal(token_ids, self.eos_id), tf.int32), axis=-1) > 0
        special = tf.reduce_any(tf.equal(token_ids[..., None], list(self.special_ids)), -1)
        keep = (in_length & ~ended & ~special & (token_ids >= 0)
                & (token_ids < len(self.pieces)))
        pieces = tf.gather(tf.constant(self.pieces, tf.string), tf.where(keep, token_ids, 0))
        text = tf.strings.reduce_join(tf.ragged.boolean_mask(pieces, keep), axis=-1)
        return tf.strings.strip(tf.strings.regex_replace(text, WORD_START, " "))
