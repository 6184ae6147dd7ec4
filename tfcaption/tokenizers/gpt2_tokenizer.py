"""GPT-2 byte-level BPE tokenizer that runs inside TensorFlow graphs.

Reads a tokenizer directory in the real GPT-2 / Hugging Face format
(:mod:`tfcaption.tokenizers.bpe_files`): ``vocab.json`` must hold ``<|endoftext|>`` and
all 256 byte symbols; ``merges.txt`` holds the merge rules, highest priority first.

:class:`GPT2Tokenizer` subclasses ``keras_hub.tokenizers.GPT2Tokenizer`` (so keras-hub
preprocessors accept it and ``end_token_id`` / ``start_token_id`` are set from
``<|endoftext|>``) and tokenizes with
:class:`~tfcaption.tokenizers.gpt2_bpe_mixin.GPT2BpeMixin`: one TensorFlow path for
eager calls and ``tf.data`` that gives Hugging Face's ids (GPT-2's exact pre-tokenizer,
then keras-hub's BPE merge loop, cache and vocabulary tables).

GPT-2 models take raw, untouched caption text: no lower-casing or punctuation removal
(``tfcaption.data.text_ops.clean_captions`` is for word-level LSTM/GRU models only).

Outputs are never padded: ``tokenize`` returns int32 ids (1-D for a scalar string,
``tf.RaggedTensor`` for a batch); padding is explicit, done by the pipeline with a
padding mask (GPT-2 id 0 is ``"!"``, so 0 is no padding value).
"""

from typing import Dict, List, Tuple

import keras
import keras_hub

from tfcaption.tokenizers.bpe_files import (MERGES_FILE, VOCAB_FILE, byte_symbols,
                                            read_bpe_files)
from tfcaption.tokenizers.gpt2_bpe_mixin import GPT2BpeMixin

END_OF_TEXT = "<|endoftext|>"
_KIND = "GPT-2"

__all__ = ["GPT2Tokenizer", "load_gpt2_tokenizer", "read_gpt2_files", "byte_symbols",
           "END_OF_TEXT", "VOCAB_FILE", "MERGES_FILE"]


def read_gpt2_files(directory: str) -> Tuple[Dict[str, int], List[str]]:
    """Returns ``(vocabulary, merges)`` read and checked from a GPT-2 directory."""
    return read_bpe_files(directory, [END_OF_TEXT], byte_symbols(), _KIND)


@keras.saving.register_keras_serializable(package="tfcaption")
class GPT2Tokenizer(GPT2BpeMixin, keras_hub.tokenizers.GPT2Tokenizer):
    """GPT-2 BPE tokenizer with identical ids to Hugging Face, eagerly and in graphs.

    Args:
      vocabulary: dict token -> id (or a JSON file path, read unchecked by keras-hub).
      merges: list of ``"left right"`` rules (or a file path, read unchecked).
      **kwargs: keras-hub ``BytePairTokenizer`` arguments (``add_prefix_space``,
        ``unsplittable_tokens``, ``dtype``, ``name``); ``sequence_length`` must stay
        None, since padding is explicit.

    Vocabulary and merges are assets (written by ``save_assets`` / read from a
    directory by ``from_directory``), not config entries, as in keras-hub;
    ``save_to_directory`` writes them as ``vocab.json`` + ``merges.txt``.
    """

    @classmethod
    def from_directory(cls, directory: str, **kwargs) -> "GPT2Tokenizer":
        """Builds the tokenizer from ``directory/vocab.json`` + ``directory/merges.txt``."""
        vocab, merges = read_gpt2_files(directory)
        return cls(vocabulary=vocab, merges=merges, **kwargs)


def load_gpt2_tokenizer(directory: str, **kwargs) -> GPT2Tokenizer:
    """``GPT2Tokenizer.from_directory``: reads ``vocab.json`` + ``merges.txt``, checked,
    with errors naming the file (and line). ``.end_token_id`` is ``<|endoftext|>``."""
    return GPT2Tokenizer.from_directory(directory, **kwargs)
