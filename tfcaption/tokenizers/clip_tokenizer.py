"""CLIP BPE tokenizer that runs inside TensorFlow graphs, with Hugging Face's ids.

Reads a tokenizer directory in the real CLIP / Hugging Face format
(:mod:`tfcaption.tokenizers.bpe_files`):

- ``vocab.json``: ``{token: id}``; the 256 byte-level symbols, the same 256 with the
  ``"</w>"`` end-of-word suffix, merged tokens, ``<|startoftext|>`` and
  ``<|endoftext|>`` (ids 49406 / 49407 in the real 49,408-token vocabulary).
- ``merges.txt``: an optional ``#version`` header, then ``"left right"`` rules, highest
  priority first.

:class:`ClipTokenizer` subclasses ``keras_hub.tokenizers.CLIPTokenizer`` (so keras-hub
preprocessors accept it; ``start_token_id`` / ``end_token_id`` come from the vocabulary)
and replaces its TensorFlow path so that ids match ``transformers``' ``CLIPTokenizer``
(in transformers 5 ``CLIPTokenizerFast`` is the same class):

1. keras-hub 0.32 runs eager calls on the ``tokenizers`` library (ids match Hugging
   Face) but calls inside ``tf.data`` / ``tf.function`` on a TensorFlow path that
   uses GPT-2's pre-tokenizer and no normalisation: it does not lower-case, keeps digit
   runs together (``"2023"`` is one word; CLIP splits every digit) and treats Unicode
   spaces (``\\xa0``, ``\\u3000``, ...) as text. Eager and graph ids then differ.
2. Here every call takes one TensorFlow path that reproduces Hugging Face's pipeline:
   special tokens are split off the raw text, the rest is NFC-normalised, every run of
   Unicode whitespace becomes one space, text is lower-cased (Unicode), then split with
   CLIP's pattern :data:`WORD_PATTERN`; keras-hub's byte mapping, ``"</w>"`` suffix,
   BPE merge loop and cache are reused.

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

import re
from typing import Dict, List, Tuple

import keras
import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text

from tfcaption.data.caption_tokens import pad_token_batch
from tfcaption.tokenizers.bpe_files import byte_symbols, read_bpe_files, write_bpe_files
from tfcaption.tokenizers.bpe_ids import words_to_ids
from tfcaption.tokenizers.gpt2_words import UNICODE_WHITESPACE_RUN
from tfcaption.tokenizers.special_token_split import split_around_special_tokens

START_OF_TEXT = "<|startoftext|>"
END_OF_TEXT = "<|endoftext|>"
END_OF_WORD = "</w>"
DEFAULT_SEQUENCE_LENGTH = 77
# CLIP's word pattern, as Hugging Face's pre-tokenizer applies it to normalised text.
WORD_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+"
_KIND = "CLIP"

# Applied after whitespace runs became single spaces (RE2's ASCII ``\s`` then suffices);
# special tokens written in other case are lower-cased into special tokens.
_CLIP_WORD = "|".join([re.escape(START_OF_TEXT), re.escape(END_OF_TEXT), WORD_PATTERN])


def clip_byte_symbols() -> List[str]:
    """The 512 byte-level symbols of a CLIP vocabulary: GPT-2's 256, then the same
    with the end-of-word suffix ``</w>``."""
    symbols = byte_symbols()
    return symbols + [s + END_OF_WORD for s in symbols]


def read_clip_files(directory: str) -> Tuple[Dict[str, int], List[str]]:
    """Returns ``(vocabulary, merges)`` read and checked from a CLIP directory."""
    return read_bpe_files(directory, [START_OF_TEXT, END_OF_TEXT], clip_byte_symbols(),
                          _KIND)


def _split_plain(plain: tf.Tensor) -> tf.RaggedTensor:
    plain = tf_text.normalize_utf8(plain, "NFC")
    plain = tf.strings.regex_replace(plain, UNICODE_WHITESPACE_RUN, " ")
    plain = tf.strings.lower(plain, encoding="utf-8")
    words = tf_text.regex_split(plain, _CLIP_WORD, _CLIP_WORD)
    # Keep only pattern matches: the gaps between them are single spaces.
    return tf.ragged.boolean_mask(words, tf.not_equal(tf.strings.strip(words), ""))


@tf.autograph.experimental.do_not_convert
def split_clip_words(text: tf.Tensor, special_tokens=()) -> tf.RaggedTensor:
    """1-D strings -> CLIP pre-tokens ``[batch, (words)]``, normalised as Hugging Face.

    Special tokens are split off the raw text first and come out unchanged; every
    other run is NFC-normalised, whitespace-collapsed, lower-cased and split with
    CLIP's pattern (whitespace between pieces is dropped).
    """
    return split_around_special_tokens(text, special_tokens, _split_plain)


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
        write_bpe_files(directory, self.vocabulary, self.merges)

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
            return words_to_ids(self, split_clip_words(text, self.unsplittable_tokens))

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
            packed, mask = pad_token_batch(self.tokenize(text), sequence_length,
                                           self.end_token_id, self.start_token_id,
                                           self.end_token_id)
            return (packed, mask) if return_padding_mask else packed


def load_clip_tokenizer(directory: str, **kwargs) -> ClipTokenizer:
    """``ClipTokenizer.from_directory``: reads ``vocab.json`` + ``merges.txt``, checked,
    with errors naming the file (and line)."""
    return ClipTokenizer.from_directory(directory, **kwargs)
