"""The Show-and-Tell caption cleaning, as TensorFlow string ops."""

import tensorflow as tf

from tfcaption.data.text_ops import clean_captions

# Words the Flickr8k merge-model notebooks wrap captions in; the vocabulary's own start and
# end tokens play their part, so they are dropped from text that already carries them.
SEQUENCE_TAGS = ("startseq", "endseq")


@tf.autograph.experimental.do_not_convert
def clean_show_tell(text):
    """Lower-case, punctuation and symbols removed, words with digits and one-character
    words dropped (:func:`clean_captions`' defaults), and ``startseq`` / ``endseq`` words
    removed. A string tensor of any shape in, the same shape out; eager or in
    ``tf.data``."""
    cleaned = clean_captions(text)
    flat = tf.reshape(cleaned, [-1])
    words = tf.strings.split(flat, sep=" ")
    keep = tf.ones_like(words, tf.bool)
    for tag in SEQUENCE_TAGS:
        keep = keep & tf.not_equal(words, tag)
    joined = tf.strings.reduce_join(tf.ragged.boolean_mask(words, keep), axis=-1,
                                    separator=" ")
    return tf.reshape(joined, tf.shape(cleaned))
