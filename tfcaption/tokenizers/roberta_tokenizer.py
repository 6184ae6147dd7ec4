"""RoBERTa byte-level BPE tokenizer that runs inside TensorFlow graphs.

RoBERTa uses GPT-2's byte-level BPE with its own special tokens. A tokenizer directory in
the real Hugging Face ``roberta-base`` format (:mod:`tfcaption.tokenizers.bpe_files`) holds:

- ``vocab.json``: ``{token: id}`` with ``<s>`` (0 in ``roberta-base``), ``<pad>`` (1),
  ``</s>`` (2), ``<unk>`` (3), ``<mask>`` (last) and the 256 byte-level symbols;
- ``merges.txt``: GPT-2's merge file (optional ``#version`` header, ``"left right"`` lines).

keras-hub 0.32's ``RobertaTokenizer`` is a ``BytePairTokenizer`` like its GPT-2 tokenizer
and differs from Hugging Face in the same two ways: eager calls take a pure-Python path
with Llama-3's pre-tokenizer, and the TensorFlow pre-tokenizer merges a run of spaces
before a word (``"a  b"`` gives ``ĠĠ`` + ``b`` instead of ``Ġ`` + ``Ġb``) and only knows
4 whitespace characters. It also splits ``"<unk>"`` in text, which Hugging Face keeps as
one special token. :class:`RobertaTokenizer` gives Hugging Face's ids by tokenizing with
:class:`~tfcaption.tokenizers.gpt2_bpe_mixin.GPT2BpeMixin` (GPT-2's exact word
splitting) with ``<unk>`` registered as a special token.

``tokenize`` returns the ids of the text only, like keras-hub and like Hugging Face with
``add_special_tokens=False``; ``<s>`` ... ``</s>`` are added by the caller's packer (e.g.
``keras_hub.layers.StartEndPacker``) with an explicit padding mask.
"""

from typing import Dict, List, Tuple

import keras
import keras_hub

from tfcaption.tokenizers.bpe_files import byte_symbols, read_bpe_files
from tfcaption.tokenizers.gpt2_bpe_mixin import GPT2BpeMixin

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
_KIND = "RoBERTa"


def read_roberta_files(directory: str) -> Tuple[Dict[str, int], List[str]]:
    """Returns ``(vocabulary, merges)`` read and checked from a RoBERTa directory."""
    return read_bpe_files(directory, SPECIAL_TOKENS, byte_symbols(), _KIND)


@keras.saving.register_keras_serializable(package="tfcaption")
class RobertaTokenizer(GPT2BpeMixin, keras_hub.tokenizers.RobertaTokenizer):
    """RoBERTa BPE tokenizer with identical ids to Hugging Face, eagerly and in graphs.

    Args:
      vocabulary: dict token -> id (or a JSON file path, read unchecked by keras-hub).
      merges: list of ``"left right"`` rules (or a file path, read unchecked).
      **kwargs: keras-hub ``BytePairTokenizer`` arguments (``add_prefix_space``,
        ``unsplittable_tokens``, ``dtype``, ``name``); ``sequence_length`` must stay
        None, since padding is explicit.

    ``start_token_id`` / ``end_token_id`` / ``pad_token_id`` / ``mask_token_id`` /
    ``unk_token_id`` are ``<s>`` / ``</s>`` / ``<pad>`` / ``<mask>`` / ``<unk>``.
    """

    def __init__(self, vocabulary=None, merges=None, **kwargs):
        if kwargs.get("unsplittable_tokens") is None:  # a fixed order for get_config
            kwargs["unsplittable_tokens"] = list(SPECIAL_TOKENS)
        # Hugging Face keeps "<unk>" in text as one token, like the other special tokens.
        self._add_special_token("<unk>", "unk_token")
        super().__init__(vocabulary=vocabulary, merges=merges, **kwargs)

    @classmethod
    def from_directory(cls, directory: str, **kwargs) -> "RobertaTokenizer":
        """Builds the tokenizer from ``directory/vocab.json`` + ``directory/merges.txt``."""
        vocab, merges = read_roberta_files(directory)
        return cls(vocabulary=vocab, merges=merges, **kwargs)


def load_roberta_tokenizer(directory: str, **kwargs) -> RobertaTokenizer:
    """``RobertaTokenizer.from_directory``: checked files, errors naming the file."""
    return RobertaTokenizer.from_directory(directory, **kwargs)


def roberta_vocabulary_from_gpt2(gpt2_vocabulary: Dict[str, int]) -> Dict[str, int]:
    """A RoBERTa vocabulary over a GPT-2 BPE (same merges): ``<s>`` 0, ``<pad>`` 1,
    ``</s>`` 2, ``<unk>`` 3, then GPT-2's tokens in id order without ``<|endoftext|>``,
    then ``<mask>`` (the layout of ``roberta-base``, whose BPE is GPT-2's)."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for token in sorted(gpt2_vocabulary, key=gpt2_vocabulary.get):
        if token != "<|endoftext|>" and token not in vocab:
            vocab[token] = len(vocab)
    vocab["<mask>"] = len(vocab)
    return vocab


def write_roberta_from_gpt2(gpt2_dir: str, out_dir: str) -> str:
    """Writes a RoBERTa tokenizer dir sharing the GPT-2 tokenizer dir's BPE; returns it."""
    from tfcaption.tokenizers.bpe_files import write_bpe_files
    from tfcaption.tokenizers.gpt2_tokenizer import read_gpt2_files

    vocab, merges = read_gpt2_files(gpt2_dir)
    write_bpe_files(out_dir, roberta_vocabulary_from_gpt2(vocab), merges)
    return out_dir
