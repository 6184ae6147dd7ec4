"""Splits text around special tokens before a tokenizer's own word splitting."""

import re
from typing import Callable, Sequence

import tensorflow as tf
import tensorflow_text as tf_text


@tf.autograph.experimental.do_not_convert
def split_around_special_tokens(
        text: tf.Tensor, special_tokens: Sequence[str],
        split_plain: Callable[[tf.Tensor], tf.RaggedTensor]) -> tf.RaggedTensor:
    """1-D strings -> words ``[batch, (words)]``.

    Each text is cut into runs of plain text and the ``special_tokens`` (longest match
    first). Special tokens come out unchanged as words of their own; ``split_plain``
    maps a 1-D tensor of plain runs to their words, ``[runs, (words)]`` (it also gets
    ``""`` in place of each special token and must give it no words).
    """
    text = tf.convert_to_tensor(text, tf.string)
    if special_tokens:
        ordered = sorted(special_tokens, key=len, reverse=True)
        pattern = "|".join(re.escape(t) for t in ordered)
        pieces = tf_text.regex_split(text, pattern, pattern)
        flat = pieces.flat_values
        is_special = tf.reduce_any(
            tf.equal(flat[:, None], tf.constant(ordered)[None, :]), axis=1)
        piece_splits = pieces.row_splits
    else:
        flat = text
        is_special = tf.zeros(tf.shape(text), tf.bool)
        piece_splits = tf.range(tf.size(text, out_type=tf.int64) + 1)
    words = split_plain(tf.where(is_special, "", flat))
    specials = tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(flat, is_special), tf.cast(is_special, tf.int64))
    words = tf.concat([words, specials], axis=1)  # a piece is either special or plain
    return tf.RaggedTensor.from_row_splits(words, piece_splits).merge_dims(1, 2)
