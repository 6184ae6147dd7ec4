"""Word vocabulary for the LSTM/GRU captioners (Show-and-Tell, WGAN-GP, ATTEND-GAN).

Words are the whitespace-separated tokens of cleaned captions
(``tfcaption.data.text_ops.clean_captions``). Ids: ``<pad>`` = 0, ``<start>`` = 1,
``<end>`` = 2, ``<unk>`` = 3, then the words, most frequent first (ties in code point
order of the word), so building is deterministic.

File format (``save`` / ``load``): UTF-8 text, one token per line, line ``n`` holds id
``n - 1``; the first four lines are the special tokens in the order pad, start, end,
unk. Written atomically (temporary file + rename).

``encode`` / ``decode`` are TensorFlow ops over ``tf.lookup.StaticHashTable`` and work
eagerly and inside ``tf.data.Dataset.map``.
"""

import collections
import os
import re
from typing import Dict, Iterable, List, Optional

import tensorflow as tf

from tfcaption.file_io import atomic_write_text

# tf.strings.split(sep=None) splits on exactly these (ASCII) whitespace characters.
_SPLIT = re.compile(r"[ \t\n\x0b\x0c\r]+")
_DEFAULT_SPECIALS = {"pad_token": "<pad>", "start_token": "<start>",
                     "end_token": "<end>", "unk_token": "<unk>"}
_NUM_SPECIALS = len(_DEFAULT_SPECIALS)


def split_words(text) -> List[str]:
    """Whitespace split identical to the one ``encode`` does in TensorFlow."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if not isinstance(text, str):
        raise TypeError(f"captions must be str or bytes, got {type(text).__name__}")
    return [w for w in _SPLIT.split(text) if w]


class WordVocabulary:
    """Maps words to ids and back; specials ``<pad>`` (0), ``<start>``, ``<end>``, ``<unk>``.

    Args:
      words: the ordinary words, in id order (ids start at 4); no specials, no
        duplicates, no whitespace.
      pad_token, start_token, end_token, unk_token: the special token strings.
    """

    def __init__(self, words: Iterable[str], pad_token: str = "<pad>",
                 start_token: str = "<start>", end_token: str = "<end>",
                 unk_token: str = "<unk>"):
        self.words = list(words)
        self.pad_token = pad_token
        self.start_token = start_token
        self.end_token = end_token
        self.unk_token = unk_token
        tokens = [pad_token, start_token, end_token, unk_token] + self.words
        seen = set()
        for i, token in enumerate(tokens):
            if not isinstance(token, str) or not token or split_words(token) != [token]:
                raise ValueError(f"token {token!r} (id {i}) must be a non-empty string "
                                 "without whitespace")
            if token in seen:
                raise ValueError(f"token {token!r} (id {i}) appears twice")
            seen.add(token)
        self._tokens = tokens
        self._index = {t: i for i, t in enumerate(tokens)}
        ids = tf.range(len(tokens), dtype=tf.int64)
        self._to_id = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(tokens), ids),
            default_value=self.unk_id)
        self._to_token = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(ids, tf.constant(tokens)),
            default_value="")

    # ----------------------------------------------------------------- building
    @classmethod
    def build(cls, captions: Iterable, min_count: int = 1, max_size: Optional[int] = None,
              **special_tokens) -> "WordVocabulary":
        """Counts words of (cleaned) captions and keeps the frequent ones.

        Args:
          captions: iterable of caption strings (str or UTF-8 bytes), already cleaned;
            special tokens in them (e.g. ``<start>`` tags) are not counted.
          min_count: keep words seen at least this many times.
          max_size: if set, the total vocabulary size, specials included (>= 4); the
            most frequent words are kept, ties broken by code point order.
          **special_tokens: ``pad_token`` / ``start_token`` / ``end_token`` / ``unk_token``.
        """
        if isinstance(captions, (str, bytes)):
            raise TypeError("captions must be an iterable of strings, not a single string")
        if min_count < 1:
            raise ValueError(f"min_count={min_count}: must be >= 1")
        if max_size is not None and max_size < _NUM_SPECIALS:
            raise ValueError(f"max_size={max_size}: must be >= {_NUM_SPECIALS} (the specials)")
        counts = collections.Counter()
        for caption in captions:
            counts.update(split_words(caption))
        unknown = set(special_tokens) - set(_DEFAULT_SPECIALS)
        if unknown:
            raise TypeError(f"unknown special token arguments: {sorted(unknown)}")
        specials = {special_tokens.get(k, d) for k, d in _DEFAULT_SPECIALS.items()}
        words = sorted((w for w, c in counts.items() if c >= min_count and w not in specials),
                       key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[:max_size - _NUM_SPECIALS]
        return cls(words, **special_tokens)

    # ------------------------------------------------------------------ lookups
    @property
    def pad_id(self) -> int:
        return 0

    @property
    def start_id(self) -> int:
        return 1

    @property
    def end_id(self) -> int:
        return 2

    @property
    def unk_id(self) -> int:
        return 3

    @property
    def tokens(self) -> List[str]:
        """All tokens in id order, specials first."""
        return list(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def token_to_id(self, token: str) -> int:
        return self._index.get(token, self.unk_id)

    def id_to_token(self, idx: int) -> str:
        if not 0 <= idx < len(self._tokens):
            raise ValueError(f"id {idx} is out of the vocabulary (size {len(self)})")
        return self._tokens[idx]

    # ---------------------------------------------------------------- TF ops
    @tf.autograph.experimental.do_not_convert
    def encode(self, text):
        """Whitespace-split text -> int32 ids (unknown words -> ``<unk>``).

        A scalar gives a 1-D tensor; a 1-D batch gives a ``RaggedTensor [batch, (len)]``.
        No start/end ids are added: tag the text (``clean_captions(add_tags=True)``).
        """
        text = tf.convert_to_tensor(text, tf.string)
        if text.shape.rank is None or text.shape.rank > 1:
            raise ValueError(f"encode() takes a string or a 1-D batch, got {text.shape}")
        words = tf.strings.split(text)
        return tf.cast(tf.ragged.map_flat_values(self._to_id.lookup, words), tf.int32)

    @tf.autograph.experimental.do_not_convert
    def decode(self, ids):
        """Ids -> text, stopping at the first ``<end>`` and skipping ``<pad>``/``<start>``.

        1-D ids give a scalar string; ``[batch, len]`` ids (dense or ragged) give 1-D.
        Ids outside the vocabulary raise ``InvalidArgumentError``.
        """
        if isinstance(ids, (list, tuple)):
            ids = tf.ragged.constant(ids, dtype=tf.int64)
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.convert_to_tensor(ids)
        if ids.shape.rank not in (1, 2):
            raise ValueError(f"decode() takes 1-D or 2-D ids, got shape {ids.shape}")
        single = ids.shape.rank == 1
        if single:
            ids = ids[None]
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(ids)
        ids = tf.cast(ids, tf.int64)
        flat = ids.flat_values
        checks = [tf.debugging.assert_equal(
            tf.reduce_all((flat >= 0) & (flat < len(self._tokens))), True,
            message=f"decode(): ids must be in [0, {len(self._tokens)})")]
        with tf.control_dependencies(checks):
            ends = tf.cumsum(tf.cast(tf.equal(flat, self.end_id), tf.int64))
        # Number of <end> ids seen before each row starts, to count ends per row.
        before_row = tf.gather(tf.concat([[0], ends], axis=0), ids.row_starts())
        ends_so_far = ends - tf.gather(before_row, ids.value_rowids())
        keep = ((ends_so_far == 0) & tf.not_equal(flat, self.pad_id)
                & tf.not_equal(flat, self.start_id))
        words = ids.with_flat_values(self._to_token.lookup(flat))
        kept = tf.ragged.boolean_mask(words, ids.with_flat_values(keep))
        text = tf.strings.reduce_join(kept, axis=-1, separator=" ")
        return text[0] if single else text

    # ------------------------------------------------------------ persistence
    def save(self, path: str) -> None:
        """Writes the vocabulary (one token per line, id order) atomically."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        atomic_write_text(path, "".join(f"{t}\n" for t in self._tokens))

    @classmethod
    def load(cls, path: str) -> "WordVocabulary":
        """Reads a file written by ``save``; errors name the file and line."""
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: not UTF-8 text ({e})") from None
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        seen: Dict[str, int] = {}
        for line_no, token in enumerate(lines, start=1):
            if not token or split_words(token) != [token]:
                raise ValueError(f"{path}:{line_no}: expected one token without "
                                 f"whitespace, got {token!r}")
            if token in seen:
                raise ValueError(f"{path}:{line_no}: token {token!r} already on line "
                                 f"{seen[token]}")
            seen[token] = line_no
        if len(lines) < _NUM_SPECIALS:
            raise ValueError(f"{path}:{len(lines) + 1}: expected the {_NUM_SPECIALS} special "
                             "tokens (pad, start, end, unk) first, file ends early")
        pad, start, end, unk = lines[:_NUM_SPECIALS]
        return cls(lines[_NUM_SPECIALS:], pad_token=pad, start_token=start,
                   end_token=end, unk_token=unk)

    # ---------------------------------------------------------- serialisation
    def get_config(self) -> dict:
        return {"words": list(self.words), "pad_token": self.pad_token,
                "start_token": self.start_token, "end_token": self.end_token,
                "unk_token": self.unk_token}

    @classmethod
    def from_config(cls, config: dict) -> "WordVocabulary":
        return cls(**config)

    def __repr__(self) -> str:
        return f"WordVocabulary(size={len(self)})"
