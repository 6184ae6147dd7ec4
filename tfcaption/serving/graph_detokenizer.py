"""GPT-2 byte-level BPE ids -> text with core TensorFlow ops only (a SavedModel that
holds it needs neither keras-hub nor tensorflow-text)."""

import numpy as np
import tensorflow as tf

from tfcaption.tokenizers.bpe_files import byte_symbols

# Python's ``str.strip()`` whitespace (every character whose ``str.isspace()`` is true),
# as an RE2 class: ASCII \t \n \v \f \r, \x1c-\x1f and space, then the Unicode ones.
_SPACE = (r"[\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}"
          r"\x{2029}\x{202f}\x{205f}\x{3000}]")
_STRIP_PATTERN = rf"^{_SPACE}+|{_SPACE}+$"


def token_bytes(vocabulary: dict, table_size: int) -> np.ndarray:
    """The raw bytes each id stands for: an object array of ``table_size`` ``bytes``.

    A token's bytes are its byte-level symbols mapped back to bytes (characters outside
    the 256 symbols give nothing, as in keras-hub's ``BytePairTokenizer``); ids with no
    token (a model vocabulary larger than the tokenizer's) give ``b""``.
    """
    to_byte = {symbol: bytes([b]) for b, symbol in _byte_order()}
    table = np.full([table_size], b"", dtype=object)
    for token, index in vocabulary.items():
        if index >= table_size:
            raise ValueError(f"token {token!r} has id {index}, outside the model's "
                             f"vocabulary of {table_size} ids")
        table[index] = b"".join(to_byte.get(ch, b"") for ch in token)
    return table


def _byte_order():
    """``(byte value, symbol)`` pairs of GPT-2's byte-level alphabet."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    values = printable + [b for b in range(256) if b not in printable]
    return list(zip(values, byte_symbols()))


def python_strip(text: tf.Tensor) -> tf.Tensor:
    """``str.strip()`` of UTF-8 strings, element-wise, in the graph."""
    return tf.strings.regex_replace(text, _STRIP_PATTERN, "")


class GraphDetokenizer:
    """GPT-2 token ids -> captions exactly as ``ClipCapCaptioner.detokenize`` writes them.

    Each sequence is cut at its length, trailing ``strip_token_ids`` are dropped (all
    of them, as the captioner does), the remaining ids' bytes are joined, invalid UTF-8
    becomes U+FFFD and surrounding whitespace is stripped as Python's ``str.strip()``
    does. Runs on ``tf.gather`` from a constant id -> bytes table,
    ``tf.strings.reduce_join``, ``tf.strings.unicode_transcode`` and
    ``tf.strings.regex_replace``: core TensorFlow ops.

    Args:
      vocabulary: the tokenizer's ``{token: id}``.
      table_size: the model's vocabulary size (ids it can emit); ids without a token
        detokenize to nothing.
      strip_token_ids: ids removed from the end of a caption.
    """

    def __init__(self, vocabulary: dict, table_size: int, strip_token_ids=()):
        self.table_size = int(table_size)
        self.strip_token_ids = tuple(int(i) for i in strip_token_ids)
        self._table = token_bytes(vocabulary, self.table_size)

    def kept_lengths(self, token_ids: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """int32 ``[B]``: ``lengths`` shortened past trailing strip tokens."""
        positions = tf.range(tf.shape(token_ids)[-1], dtype=tf.int32)
        valid = positions[None, :] < lengths[:, None]
        if self.strip_token_ids:
            strip = tf.constant(self.strip_token_ids, token_ids.dtype)
            is_strip = tf.reduce_any(tf.equal(token_ids[..., None], strip), axis=-1)
            valid = tf.logical_and(valid, tf.logical_not(is_strip))
        # one past the last kept id: strip tokens before it stay, as in the captioner
        return tf.reduce_max(tf.where(valid, positions[None, :] + 1, 0), axis=-1)

    def __call__(self, token_ids: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        """int ``[B, T]`` ids and int ``[B]`` lengths -> tf.string ``[B]`` captions."""
        token_ids = tf.cast(token_ids, tf.int32)
        lengths = tf.cast(lengths, tf.int32)
        keep = tf.sequence_mask(self.kept_lengths(token_ids, lengths),
                                tf.shape(token_ids)[-1])
        in_table = tf.logical_and(token_ids >= 0, token_ids < self.table_size)
        pieces = tf.gather(tf.constant(self._table, tf.string),
                           tf.where(in_table, token_ids, 0))
        pieces = tf.where(tf.logical_and(keep, in_table), pieces, "")
        raw = tf.strings.reduce_join(pieces, axis=-1)
        text = tf.strings.unicode_transcode(raw, "UTF-8", "UTF-8", errors="replace",
                                            replacement_char=0xFFFD,
                                            replace_control_characters=False)
        return python_strip(text)
