"""GPT-2's pre-tokenizer (text -> words before BPE) as TensorFlow ops.

keras-hub's TensorFlow pre-tokenizer splits a run of 2+ spaces at the end of a text (or
before a special token) and treats only 4 of the 25 Unicode whitespace characters as
whitespace. :func:`split_gpt2_words` reproduces GPT-2's regex exactly (``\\s`` = Unicode
White_Space, the ``\\s+(?!\\S)`` look-ahead emulated with ragged ops).
"""

import functools

import tensorflow as tf
import tensorflow_text as tf_text

from tfcaption.tokenizers.special_token_split import split_around_special_tokens

# Unicode White_Space, the set that ``\s`` matches in GPT-2's and Hugging Face's regexes
# (RE2's ``\s`` is ASCII only), and a run of it.
UNICODE_WHITESPACE = (r"\t\n\x{0b}\x{0c}\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}"
                      r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}")
UNICODE_WHITESPACE_RUN = "[" + UNICODE_WHITESPACE + "]+"
# GPT-2's pattern without its look-ahead alternative (handled in ``_split_plain``).
_WORD = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^" + UNICODE_WHITESPACE
         + r"\p{L}\p{N}]+|" + UNICODE_WHITESPACE_RUN)


def _split_plain(plain: tf.Tensor, add_prefix_space: bool) -> tf.RaggedTensor:
    if add_prefix_space:
        needs_space = tf.not_equal(plain, "") & tf.not_equal(tf.strings.substr(plain, 0, 1), " ")
        plain = tf.where(needs_space, tf.strings.join([" ", plain]), plain)
    runs = tf_text.regex_split(plain, UNICODE_WHITESPACE_RUN, UNICODE_WHITESPACE_RUN)
    chunks = runs.flat_values  # alternating whitespace runs and non-space chunks
    row_ids = runs.value_rowids()
    pos = tf.range(tf.size(chunks, out_type=tf.int64)) - tf.gather(runs.row_starts(), row_ids)
    has_next = pos < tf.gather(runs.row_lengths(), row_ids) - 1
    n_chars = tf.strings.length(chunks, unit="UTF8_CHAR")
    head = tf.strings.substr(chunks, tf.zeros_like(n_chars), n_chars - 1, unit="UTF8_CHAR")
    last = tf.strings.substr(chunks, n_chars - 1, tf.ones_like(n_chars), unit="UTF8_CHAR")
    # A whitespace run followed by text: ``\s+(?!\S)`` takes all but its last char; a
    # last " " joins the next word (`` ?\p{L}+`` ...), any other last char stands alone.
    split_run = tf.strings.regex_full_match(chunks, UNICODE_WHITESPACE_RUN) & has_next
    lends_space = split_run & tf.equal(last, " ")
    borrows_space = tf.concat([[False], lends_space[:-1]], axis=0) & (pos > 0)
    slot_a = tf.where(split_run, head,
                      tf.where(borrows_space, tf.strings.join([" ", chunks]), chunks))
    slot_b = tf.where(split_run & ~lends_space, last, "")
    slots = tf.reshape(tf.stack([slot_a, slot_b], axis=1), [-1])
    words = tf_text.regex_split(slots, _WORD, _WORD)
    words = tf.RaggedTensor.from_uniform_row_length(words, 2).merge_dims(1, 2)
    return tf.RaggedTensor.from_row_splits(words, runs.row_splits).merge_dims(1, 2)


@tf.autograph.experimental.do_not_convert
def split_gpt2_words(text: tf.Tensor, special_tokens=(),
                     add_prefix_space: bool = False) -> tf.RaggedTensor:
    """Splits a 1-D string tensor into GPT-2 pre-tokens: ``[batch, (words)]``.

    Equivalent to GPT-2's ``'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+|
    ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`` applied to each run of text between special
    tokens; special tokens come out as words of their own. ``add_prefix_space`` prefixes
    " " to each such run that does not start with one, as Hugging Face does.
    """
    return split_around_special_tokens(
        text, special_tokens,
        functools.partial(_split_plain, add_prefix_space=add_prefix_space))
