"""CLIP BPE tokenizer that runs inside TensorFlow graphs, with Hugging Face's ids.

Reads a tokenizer directory in the real CLIP / Hugging Face format:

- ``vocab.json``: ``{token: id}``; the 256 byte-level symbols, the same 256 with the
  ``"</w>"`` end-of-word suffix, merged tokens, ``<|startoftext|>`` and
  ``<|endoftext|>`` (ids 49406 / 49407 in the real 49,408-token vocabulary).
- ``merges.txt``: an optional ``#version`` header, then ``"left right"`` rules, highest
  priority first.

:class:`ClipTokenizer` subclasses ``keras_hub.tokenizers.CLIPTokenizer`` (so keras-hub
preprocessors accept it; ``start_token_id`` / ``end_token_id`` come from the vocabulary)
and fixes its TensorFlow path, found by parity tests against ``transformers``'
``CLIPTokenizer`` (in transformers 5 ``CLIPTokenizerFast`` is the same class):

1. keras-hub 0.32 runs eager calls on the ``tokenizers`` library (ids match Hugging
   Face) but calls inside ``tf.data`` / ``tf.function`` on a TensorFlow path that
   uses GPT-2's pre-tokenizer and no normalisation: it does not lower-case, keeps digit
   runs together (``"2023"`` is one word; CLIP splits every digit) and treats Unicode
   spaces (``\\xa0``, ``\\u3000``, ...) as text. Eager and graph ids then differ.
2. Here every call takes one TensorFlow path that reproduces Hugging Face's pipeline:
   special tokens are split off the raw text, the rest is NFC-normalised, every run of
   Unicode whitespace becomes one space, text is lower-cased (Unicode), then split with
   CLIP's pattern ``'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+``;
   keras-hub's byte mapping, ``"</w>"`` suffix, BPE merge loop and cache are reused.

Known residual differences: TensorFlow's ICU lower-casing predates Unicode 14, so about
95 recently added capital letters (e.g. U+2C2F) are not lower-cased as Hugging Face
does; a special token written in upper case (``"<|ENDOFTEXT|>"``) becomes the special
token here but plain BPE pieces in Hugging Face. OpenAI's original tokenizer also ran
``ftfy.fix_text`` and ``html.unescape``; Hugging Face's tokenizer (the reference) and
this one do not.

:meth:`ClipTokenizer.pack` turns a batch of strings into the fixed ``[B, L]`` int32
ids CLIP's text encoder takes: ``<|startoftext|>``, text ids (truncated), and
``<|endoftext|>``, padded with ``<|endoftext|>`` as Hugging Face pads CLIP. The padding
value is a real id; that is harmless for CLIP because its text encoder is causal and
pools at the first ``<|endoftext|>``, and ``return_padding_mask=True`` gives the
explicit mask where one is needed.
"""

import json
import os
import re
from typing import Dict, List, Tuple

import keras
import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text

from tfcaption.tokenizers.gpt2_tokenizer import byte_symbols

VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"
START_OF_TEXT = "<|startoftext|>"
END_OF_TEXT = "<|endoftext|>"
END_OF_WORD = "</w>"
DEFAULT_SEQUENCE_LENGTH = 77

# What Hugging Face's ``\s`` (Oniguruma, Unicode) matches: Unicode White_Space.
_WS_RUN = (r"[\t\n\x{0b}\x{0c}\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}"
           r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+")
# CLIP's pre-tokenizer pattern, applied after whitespace runs became single spaces.
_CLIP_WORD = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"
              r"[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+")


def _read_text(path: str, what: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: CLIP {what} file not found (a CLIP tokenizer directory holds "
            f"{VOCAB_FILE} and {MERGES_FILE})")
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None


def read_clip_vocabulary(path: str) -> Dict[str, int]:
    """Reads and checks a CLIP ``vocab.json``."""
    try:
        vocab = json.loads(_read_text(path, "vocabulary"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(vocab, dict) or not vocab:
        raise ValueError(f"{path}: expected a non-empty JSON object mapping tokens to ids")
    seen = {}
    for token, idx in vocab.items():
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
            raise ValueError(f"{path}: id of token {token!r} is {idx!r}, not an int >= 0")
        if idx in seen:
            raise ValueError(f"{path}: tokens {seen[idx]!r} and {token!r} share id {idx}")
        seen[idx] = token
    for special in (START_OF_TEXT, END_OF_TEXT):
        if special not in vocab:
            raise ValueError(f"{path}: special token {special!r} is missing")
    symbols = byte_symbols()
    missing = [s for s in symbols + [s + END_OF_WORD for s in symbols] if s not in vocab]
    if missing:
        raise ValueError(f"{path}: {len(missing)} of the 512 byte-level symbols (with and "
                         f"without {END_OF_WORD!r}) are missing (first: {missing[:5]}); "
                         f"not a CLIP BPE vocabulary")
    return vocab


def read_clip_merges(path: str, vocab: Dict[str, int]) -> List[str]:
    """Reads and checks a CLIP ``merges.txt`` against ``vocab``; drops the header."""
    lines = _read_text(path, "merges").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    merges = []
    for line_no, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        if line_no == 1 and line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError(f"{path}:{line_no}: expected two tokens separated by one "
                             f"space, got {line!r}")
        for token in (parts[0], parts[1], parts[0] + parts[1]):
            if token not in vocab:
                raise ValueError(f"{path}:{line_no}: token {token!r} of merge {line!r} is "
                                 f"not in {VOCAB_FILE}")
        merges.append(line)
    return merges


def read_clip_files(directory: str) -> Tuple[Dict[str, int], List[str]]:
    """Returns ``(vocabulary, merges)`` read and checked from a CLIP directory."""
    vocab = read_clip_vocabulary(os.path.join(directory, VOCAB_FILE))
    return vocab, read_clip_merges(os.path.join(directory, MERGES_FILE), vocab)


@tf.autograph.experimental.do_not_convert
def split_clip_words(text: tf.Tensor, special_tokens=()) -> tf.RaggedTensor:
    """1-D strings -> CLIP pre-tokens ``[batch, (words)]``, normalised as Hugging Face.

    Special tokens are split off the raw text first and come out unchanged; every
    other run is NFC-normalised, whitespace-collapsed, lower-cased and split with
    CLIP's pattern (whitespace between pieces is dropped).
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
    plain = tf.where(is_special, "", flat)
    plain = tf_text.normalize_utf8(plain, "NFC")
    plain = tf.strings.regex_replace(plain, _WS_RUN, " ")
    plain = tf.strings.lower(plain, encoding="utf-8")
    words = tf_text.regex_split(plain, _CLIP_WORD, _CLIP_WORD)
    # Keep only pattern matches: the gaps between them are single spaces.
    words = tf.ragged.boolean_mask(words, tf.not_equal(tf.strings.strip(words), ""))
    specials = tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(flat, is_special), tf.cast(is_special, tf.int64))
    words = tf.concat([words, specials], axis=1)  # a piece is either special or plain
    return tf.RaggedTensor.from_row_splits(words, piece_splits).merge_dims(1, 2)


@keras.saving.register_keras_serializable(package="tfcaption")
class ClipTokenizer(keras_hub.tokenizers.CLIPTokenizer):
    """CLIP BPE tokenizer with identical ids to Hugging Face, eagerly and in graphs.

    Args:
      vocabulary: dict token -> id (or a JSON file path, read unchecked by keras-hub).
      merges: list of ``"left right"`` rules (or a file path, read unchecked).
      **kwargs: keras-hub ``CLIPTokenizer`` arguments (``dtype``, ``name``, ...);
        ``sequence_length`` must stay None (use :meth:`pack` for fixed-length ids).

    ``tokenize`` returns ids without start/end tokens, like keras-hub: 1-D for a scalar
    string, ``tf.RaggedTensor`` for a 1-D batch.
    """

    def __init__(self, vocabulary=None, merges=None, **kwargs):
        if kwargs.get("sequence_length") is not None:
            raise ValueError("ClipTokenizer does not pad in tokenize(): sequence_length "
                             "must be None; use pack(texts, sequence_length)")
        kwargs["_allow_python_workflow"] = False  # one TF path, eager and in graphs
        super().__init__(vocabulary=vocabulary, merges=merges, **kwargs)

    @classmethod
    def from_directory(cls, directory: str, **kwargs) -> "ClipTokenizer":
        """Builds the tokenizer from ``directory/vocab.json`` + ``directory/merges.txt``."""
        vocab, merges = read_clip_files(directory)
        return cls(vocabulary=vocab, merges=merges, **kwargs)

    def set_vocabulary_and_merges(self, vocabulary, merges):
        self._eager_tokenize = None  # traced against the old tables
        super().set_vocabulary_and_merges(vocabulary, merges)

    def call(self, inputs, *args, training=None, **kwargs):
        return self.tokenize(inputs)

    def save_to_directory(self, directory: str) -> None:
        """Writes ``vocab.json`` + ``merges.txt`` in the Hugging Face / OpenAI format
        (keras-hub's ``save_assets`` writes ``vocabulary.json`` instead)."""
        self._check_vocabulary()
        os.makedirs(directory, exist_ok=True)
        vocab = dict(sorted(self.vocabulary.items(), key=lambda item: item[1]))
        with open(os.path.join(directory, VOCAB_FILE), "w", encoding="utf-8") as f:
            json.dump(vocab, f, ensure_ascii=False)
        with open(os.path.join(directory, MERGES_FILE), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            f.writelines(merge + "\n" for merge in self.merges)

    @tf.autograph.experimental.do_not_convert
    def tokenize(self, inputs):
        """Strings -> int32 ids: 1-D for a scalar, ``RaggedTensor`` for a 1-D batch."""
        self._check_vocabulary()
        self._maybe_initialized_tf()
        text = tf.convert_to_tensor(inputs, tf.string)
        if text.shape.rank is None or text.shape.rank > 1:
            raise ValueError(f"tokenize() takes a string or a 1-D batch of strings, "
                             f"got shape {text.shape}")
        scalar = text.shape.rank == 0
        text = tf.reshape(text, [-1])
        if tf.executing_eagerly():
            # One traced graph per tokenizer: eager BPE would retrace its merge loop
            # on every call.
            if getattr(self, "_eager_tokenize", None) is None:
                self._eager_tokenize = tf.function(
                    self._tokenize_batch, input_signature=[tf.TensorSpec([None], tf.string)])
            out = self._eager_tokenize(text)
        else:
            out = self._tokenize_batch(text)
        return out[0] if scalar else out

    @tf.autograph.experimental.do_not_convert
    def _tokenize_batch(self, text):
        with tf.device("/cpu:0"):
            words = split_clip_words(text, self.unsplittable_tokens)
            flat = words.flat_values
            cached = self.cache.lookup(flat)
            unseen = tf.math.reduce_any(tf.equal(cached, "") & tf.not_equal(flat, ""))

            def merge_unseen():
                self._bpe_merge_and_update_cache_tf(tf.boolean_mask(flat, tf.equal(cached, "")))
                return self.cache.lookup(flat)

            merged = tf.cond(unseen, merge_unseen, lambda: cached)
            tokens = tf.strings.split(merged, sep=" ")
            if self.compute_dtype != "string":
                tokens = tf.cast(self.token_to_id_map.lookup(tokens), self.compute_dtype)
            return tf.RaggedTensor.from_row_splits(
                tokens.flat_values, tf.gather(tokens.row_splits, words.row_splits))

    @tf.autograph.experimental.do_not_convert
    def pack(self, texts, sequence_length: int = DEFAULT_SEQUENCE_LENGTH,
             return_padding_mask: bool = False):
        """A 1-D batch of strings -> ``[B, sequence_length]`` int32 model input.

        Each row is ``<|startoftext|>``, the text's ids (truncated to
        ``sequence_length - 2``) and ``<|endoftext|>``, then ``<|endoftext|>`` padding,
        as Hugging Face's ``CLIPTokenizer(..., padding="max_length", truncation=True)``.
        Works eagerly and inside ``tf.data.Dataset.map``. With
        ``return_padding_mask=True`` also returns the bool mask (True = start, text or
        the first end token).
        """
        sequence_length = int(sequence_length)
        if sequence_length < 2:
            raise ValueError(f"sequence_length must be >= 2 (start and end tokens), "
                             f"got {sequence_length}")
        text = tf.convert_to_tensor(texts, tf.string)
        if text.shape.rank != 1:
            raise ValueError(f"pack() takes a 1-D batch of strings, got shape {text.shape}")
        with tf.device("/cpu:0"):
            ids = tf.cast(self.tokenize(text), tf.int32)[:, : sequence_length - 2]
            batch = ids.nrows()
            start = tf.fill([batch, 1], tf.constant(self.start_token_id, tf.int32))
            end = tf.fill([batch, 1], tf.constant(self.end_token_id, tf.int32))
            rows = tf.concat([start, ids, end], axis=1)
            packed = rows.to_tensor(default_value=self.end_token_id,
                                    shape=[None, sequence_length])
            if not return_padding_mask:
                return packed
            mask = tf.ones_like(rows, tf.bool).to_tensor(default_value=False,
                                                         shape=[None, sequence_length])
            return packed, mask


def load_clip_tokenizer(directory: str, **kwargs) -> ClipTokenizer:
    """``ClipTokenizer.from_directory``: reads ``vocab.json`` + ``merges.txt``, checked,
    with errors naming the file (and line)."""
    return ClipTokenizer.from_directory(directory, **kwargs)
