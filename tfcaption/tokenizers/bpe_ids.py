"""Pre-tokenized words -> BPE ids with a keras-hub ``BytePairTokenizer``'s TF tables."""

import tensorflow as tf


@tf.autograph.experimental.do_not_convert
def words_to_ids(tokenizer, words: tf.RaggedTensor) -> tf.RaggedTensor:
    """``[batch, (words)]`` pre-tokens -> ``[batch, (ids)]``, via ``tokenizer``'s BPE.

    ``tokenizer`` is a keras-hub ``BytePairTokenizer`` whose TensorFlow state is built
    (``_maybe_initialized_tf``). Words in its cache are looked up; the others are merged
    with its merge loop (which fills the cache) first. Tokens become ids of
    ``tokenizer.compute_dtype``, or stay strings when that dtype is ``"string"``.
    """
    flat = words.flat_values
    cached = tokenizer.cache.lookup(flat)
    unseen = tf.math.reduce_any(tf.equal(cached, "") & tf.not_equal(flat, ""))

    def merge_unseen():
        tokenizer._bpe_merge_and_update_cache_tf(tf.boolean_mask(flat, tf.equal(cached, "")))
        return tokenizer.cache.lookup(flat)

    merged = tf.cond(unseen, merge_unseen, lambda: cached)
    tokens = tf.strings.split(merged, sep=" ")
    if tokenizer.compute_dtype != "string":
        tokens = tf.cast(tokenizer.token_to_id_map.lookup(tokens), tokenizer.compute_dtype)
    return tf.RaggedTensor.from_row_splits(
        tokens.flat_values, tf.gather(tokens.row_splits, words.row_splits))
