"""GPT-2 byte-level BPE tokenizer that runs inside TensorFlow graphs.

Reads a tokenizer directory in the real GPT-2 / Hugging Face format:

- ``vocab.json``: a JSON object ``{token: id}`` (byte-level symbols, e.g. ``"Ġthe"``);
  it must hold ``<|endoftext|>`` and all 256 byte symbols.
- ``merges.txt``: an optional ``#version: 0.2`` header line, then one merge rule per
  line, ``"left right"``, highest priority first.

:class:`GPT2Tokenizer` subclasses ``keras_hub.tokenizers.GPT2Tokenizer`` (so keras-hub
preprocessors accept it and ``end_token_id`` / ``start_token_id`` are set from
``<|endoftext|>``) and changes two things, both found by parity tests against Hugging
Face:

1. keras-hub 0.32 runs eager calls on a pure-Python ``tokenizers`` path whose
   pre-tokenizer is Llama-3's, not GPT-2's, and returns Python lists. Here every call,
   eager or in ``tf.data``, takes one TensorFlow path and returns ``tf`` tensors.
2. keras-hub's TensorFlow pre-tokenizer splits a run of 2+ spaces at the end of a text
   (or before ``<|endoftext|>``) and treats only 4 of the 25 Unicode whitespace
   characters as whitespace. The word splitter below reproduces GPT-2's regex exactly
   (``\\s`` = Unicode White_Space, the ``\\s+(?!\\S)`` look-ahead emulated with ragged
   ops), then keras-hub's BPE merge loop, cache and vocabulary tables are reused.

GPT-2 models take raw, untouched caption text: no lower-casing or punctuation removal
(``tfcaption.data.text_ops.clean_captions`` is for word-level LSTM/GRU models only).

Outputs are never padded: ``tokenize`` returns int32 ids (1-D for a scalar string,
``tf.RaggedTensor`` for a batch); padding is explicit, done by the pipeline with a
padding mask (GPT-2 id 0 is ``"!"``, so 0 is no padding value).
"""

import json
import os
import re
from typing import Dict, List, Tuple

import keras
import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text

VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"
END_OF_TEXT = "<|endoftext|>"

# Unicode White_Space, the set GPT-2's ``\s`` matches (RE2's ``\s`` is ASCII only).
_WS = (r"\t\n\x{0b}\x{0c}\r \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}"
       r"\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}")
_WS_RUN = "[" + _WS + "]+"
# GPT-2's pattern without its look-ahead alternative (handled in ``split_gpt2_words``).
_WORD = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^" + _WS + r"\p{L}\p{N}]+|"
         + _WS_RUN)


def byte_symbols() -> List[str]:
    """The 256 byte-level symbols of GPT-2, in GPT-2's id order."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


@tf.autograph.experimental.do_not_convert
def split_gpt2_words(text: tf.Tensor, special_tokens=(),
                     add_prefix_space: bool = False) -> tf.RaggedTensor:
    """Splits a 1-D string tensor into GPT-2 pre-tokens: ``[batch, (words)]``.

    Equivalent to GPT-2's ``'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+|
    ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`` applied to each run of text between special
    tokens; special tokens come out as words of their own. ``add_prefix_space`` prefixes
    " " to each such run that does not start with one, as Hugging Face does.
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
    if add_prefix_space:
        needs_space = tf.not_equal(plain, "") & tf.not_equal(tf.strings.substr(plain, 0, 1), " ")
        plain = tf.where(needs_space, tf.strings.join([" ", plain]), plain)
    runs = tf_text.regex_split(plain, _WS_RUN, _WS_RUN)
    chunks = runs.flat_values  # alternating whitespace runs and non-space chunks
    row_ids = runs.value_rowids()
    pos = tf.range(tf.size(chunks, out_type=tf.int64)) - tf.gather(runs.row_starts(), row_ids)
    has_next = pos < tf.gather(runs.row_lengths(), row_ids) - 1
    n_chars = tf.strings.length(chunks, unit="UTF8_CHAR")
    head = tf.strings.substr(chunks, tf.zeros_like(n_chars), n_chars - 1, unit="UTF8_CHAR")
    last = tf.strings.substr(chunks, n_chars - 1, tf.ones_like(n_chars), unit="UTF8_CHAR")
    # A whitespace run followed by text: ``\s+(?!\S)`` takes all but its last char; a
    # last " " joins the next word (`` ?\p{L}+`` ...), any other last char stands alone.
    split_run = tf.strings.regex_full_match(chunks, _WS_RUN) & has_next
    lends_space = split_run & tf.equal(last, " ")
    borrows_space = tf.concat([[False], lends_space[:-1]], axis=0) & (pos > 0)
    slot_a = tf.where(split_run, head,
                      tf.where(borrows_space, tf.strings.join([" ", chunks]), chunks))
    slot_b = tf.where(split_run & ~lends_space, last, "")
    slots = tf.reshape(tf.stack([slot_a, slot_b], axis=1), [-1])
    words = tf_text.regex_split(slots, _WORD, _WORD)
    words = tf.RaggedTensor.from_uniform_row_length(words, 2).merge_dims(1, 2)
    words = tf.RaggedTensor.from_row_splits(words, runs.row_splits).merge_dims(1, 2)
    specials = tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(flat, is_special), tf.cast(is_special, tf.int64))
    words = tf.concat([words, specials], axis=1)
    return tf.RaggedTensor.from_row_splits(words, piece_splits).merge_dims(1, 2)


def _read_text(path: str, what: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: GPT-2 {what} file not found (a GPT-2 tokenizer directory holds "
            f"{VOCAB_FILE} and {MERGES_FILE})")
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None


def read_vocabulary(path: str) -> Dict[str, int]:
    """Reads and checks a GPT-2 ``vocab.json``."""
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
    if END_OF_TEXT not in vocab:
        raise ValueError(f"{path}: special token {END_OF_TEXT!r} is missing")
    missing = [s for s in byte_symbols() if s not in vocab]
    if missing:
        raise ValueError(f"{path}: {len(missing)} of the 256 byte-level symbols are missing "
                         f"(first: {missing[:5]}); not a byte-level BPE vocabulary")
    return vocab


def read_merges(path: str, vocab: Dict[str, int]) -> List[str]:
    """Reads and checks a GPT-2 ``merges.txt`` against ``vocab``; drops the header."""
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


def read_gpt2_files(directory: str) -> Tuple[Dict[str, int], List[str]]:
    """Returns ``(vocabulary, merges)`` read and checked from a GPT-2 directory."""
    vocab = read_vocabulary(os.path.join(directory, VOCAB_FILE))
    return vocab, read_merges(os.path.join(directory, MERGES_FILE), vocab)


@keras.saving.register_keras_serializable(package="tfcaption")
class GPT2Tokenizer(keras_hub.tokenizers.GPT2Tokenizer):
    """GPT-2 BPE tokenizer with identical ids to Hugging Face, eagerly and in graphs.

    Args:
      vocabulary: dict token -> id (or a JSON file path, read unchecked by keras-hub).
      merges: list of ``"left right"`` rules (or a file path, read unchecked).
      **kwargs: keras-hub ``BytePairTokenizer`` arguments (``add_prefix_space``,
        ``unsplittable_tokens``, ``dtype``, ``name``); ``sequence_length`` must stay
        None, since padding is explicit.

    Vocabulary and merges are assets (written by ``save_assets`` / read from a
    directory by ``from_directory``), not config entries, as in keras-hub.
    """

    def __init__(self, vocabulary=None, merges=None, **kwargs):
        if kwargs.get("sequence_length") is not None:
            raise ValueError("GPT2Tokenizer does not pad: sequence_length must be None; "
                             "pad in the pipeline and pass a padding mask")
        kwargs["_allow_python_workflow"] = False  # one TF path, eager and in graphs
        super().__init__(vocabulary=vocabulary, merges=merges, **kwargs)

    @classmethod
    def from_directory(cls, directory: str, **kwargs) -> "GPT2Tokenizer":
        """Builds the tokenizer from ``directory/vocab.json`` + ``directory/merges.txt``."""
        vocab, merges = read_gpt2_files(directory)
        return cls(vocabulary=vocab, merges=merges, **kwargs)

    def call(self, inputs, *args, training=None, **kwargs):
        return self.tokenize(inputs)

    @tf.autograph.experimental.do_not_convert
    def tokenize(self, inputs):
        """Strings -> int32 ids: 1-D for a scalar, ``RaggedTensor`` for a 1-D batch."""
        self._check_vocabulary()
        self._maybe_initialized_tf()
        with tf.device("/cpu:0"):
            text = tf.convert_to_tensor(inputs, tf.string)
            if text.shape.rank is None or text.shape.rank > 1:
                raise ValueError(f"tokenize() takes a string or a 1-D batch of strings, "
                                 f"got shape {text.shape}")
            scalar = text.shape.rank == 0
            words = split_gpt2_words(tf.reshape(text, [-1]), self.unsplittable_tokens,
                                     self.add_prefix_space)
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
            out = tf.RaggedTensor.from_row_splits(
                tokens.flat_values, tf.gather(tokens.row_splits, words.row_splits))
            return out[0] if scalar else out

    @tf.autograph.experimental.do_not_convert
    def detokenize(self, inputs, padding_mask=None):
        """Ids -> strings. ``inputs``: 1-D ids (-> scalar) or ``[batch, len]`` dense or
        ragged (-> 1-D). ``padding_mask`` (same shape, True = real token) drops padding.
        Invalid UTF-8 (e.g. a cut multi-byte character) becomes U+FFFD, as in HF."""
        self._check_vocabulary()
        self._maybe_initialized_tf()
        with tf.device("/cpu:0"):
            if isinstance(inputs, (list, tuple)):
                inputs = tf.ragged.constant(inputs)
            ids = inputs if isinstance(inputs, tf.RaggedTensor) else tf.convert_to_tensor(inputs)
            if ids.shape.rank not in (1, 2):
                raise ValueError(f"detokenize() takes 1-D or 2-D ids, got shape {ids.shape}")
            if padding_mask is not None and not isinstance(padding_mask, tf.RaggedTensor):
                padding_mask = tf.convert_to_tensor(padding_mask, tf.bool)
            single = ids.shape.rank == 1
            if single:
                ids = ids[None]
                padding_mask = None if padding_mask is None else padding_mask[None]
            if not isinstance(ids, tf.RaggedTensor):
                ids = tf.RaggedTensor.from_tensor(ids)
            if padding_mask is not None:
                ids = tf.ragged.boolean_mask(ids, padding_mask)
            tokens = self.id_to_token_map.lookup(tf.cast(ids, tf.int32))
            checks = [tf.debugging.assert_equal(
                tf.reduce_any(tf.equal(tokens.flat_values, "")), False,
                message="detokenize(): ids not in the GPT-2 vocabulary")]
            with tf.control_dependencies(checks):
                symbols = tf.strings.unicode_split(tf.strings.reduce_join(tokens, axis=-1),
                                                   "UTF-8")
            raw = tf.strings.reduce_join(self.unicode2byte.lookup(symbols), axis=-1)
            text = tf.strings.unicode_transcode(raw, "UTF-8", "UTF-8", errors="replace",
                                                replacement_char=0xFFFD,
                                                replace_control_characters=False)
            return text[0] if single else text


def load_gpt2_tokenizer(directory: str, **kwargs) -> GPT2Tokenizer:
    """``GPT2Tokenizer.from_directory``: reads ``vocab.json`` + ``merges.txt``, checked,
    with errors naming the file (and line). ``.end_token_id`` is ``<|endoftext|>``."""
    return GPT2Tokenizer.from_directory(directory, **kwargs)
