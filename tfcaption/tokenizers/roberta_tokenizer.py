"""RoBERTa byte-level BPE tokenizer that runs inside TensorFlow graphs.

RoBERTa uses GPT-2's byte-level BPE with its own special tokens. A tokenizer directory in
the real Hugging Face ``roberta-base`` format holds:

- ``vocab.json``: ``{token: id}`` with ``<s>`` (0 in ``roberta-base``), ``<pad>`` (1),
  ``</s>`` (2), ``<unk>`` (3), ``<mask>`` (last) and the 256 byte-level symbols;
- ``merges.txt``: GPT-2's merge file (optional ``#version`` header, ``"left right"`` lines).

keras-hub 0.32's ``RobertaTokenizer`` is a ``BytePairTokenizer`` like its GPT-2 tokenizer
and has the same two bugs (found by parity tests against Hugging Face): eager calls take a
pure-Python path with Llama-3's pre-tokenizer, and the TensorFlow pre-tokenizer merges a run
of spaces before a word (``"a  b"`` gives ``ĠĠ`` + ``b`` instead of ``Ġ`` + ``Ġb``) and only
knows 4 whitespace characters. It also splits ``"<unk>"`` in text, which Hugging Face keeps
as one special token. :class:`RobertaTokenizer` fixes all three by running
:class:`~tfcaption.tokenizers.gpt2_tokenizer.GPT2Tokenizer`'s TensorFlow path (built on
``split_gpt2_words``) with ``<unk>`` registered as a special token.

``tokenize`` returns the ids of the text only, like keras-hub and like Hugging Face with
``add_special_tokens=False``; ``<s>`` ... ``</s>`` are added by the caller's packer (e.g.
``keras_hub.layers.StartEndPacker``) with an explicit padding mask.
"""

import json
import os
from typing import Dict, List, Tuple

import keras
import keras_hub

from tfcaption.tokenizers.gpt2_tokenizer import (GPT2Tokenizer, MERGES_FILE, VOCAB_FILE,
                                                 byte_symbols, read_merges)

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
MERGES_HEADER = "#version: 0.2"


def _check_file(path: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: RoBERTa tokenizer file not found (a RoBERTa tokenizer directory holds "
            f"{VOCAB_FILE} and {MERGES_FILE})")


def read_roberta_vocabulary(path: str) -> Dict[str, int]:
    """Reads and checks a RoBERTa ``vocab.json``: ids, special tokens, byte symbols."""
    _check_file(path)
    try:
        with open(path, "rb") as f:
            vocab = json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not valid UTF-8 JSON ({e})") from None
    if not isinstance(vocab, dict) or not vocab:
        raise ValueError(f"{path}: expected a non-empty JSON object mapping tokens to ids")
    seen = {}
    for token, idx in vocab.items():
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
            raise ValueError(f"{path}: id of token {token!r} is {idx!r}, not an int >= 0")
        if idx in seen:
            raise ValueError(f"{path}: tokens {seen[idx]!r} and {token!r} share id {idx}")
        seen[idx] = token
    absent = [t for t in SPECIAL_TOKENS if t not in vocab]
    if absent:
        raise ValueError(f"{path}: RoBERTa special tokens missing: {absent}")
    missing = [s for s in byte_symbols() if s not in vocab]
    if missing:
        raise ValueError(f"{path}: {len(missing)} of the 256 byte-level symbols are missing "
                         f"(first: {missing[:5]}); not a byte-level BPE vocabulary")
    return vocab


def read_roberta_files(directory: str) -> Tuple[Dict[str, int], List[str]]:
    """Returns ``(vocabulary, merges)`` read and checked from a RoBERTa directory."""
    vocab = read_roberta_vocabulary(os.path.join(directory, VOCAB_FILE))
    merges_path = os.path.join(directory, MERGES_FILE)
    _check_file(merges_path)
    return vocab, read_merges(merges_path, vocab)


@keras.saving.register_keras_serializable(package="tfcaption")
class RobertaTokenizer(keras_hub.tokenizers.RobertaTokenizer):
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
        if kwargs.get("sequence_length") is not None:
            raise ValueError("RobertaTokenizer does not pad: sequence_length must be None; "
                             "pad in the pipeline and pass a padding mask")
        kwargs["_allow_python_workflow"] = False  # one TF path, eager and in graphs
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

    def save_to_directory(self, directory: str):
        """Writes ``vocab.json`` + ``merges.txt`` (with GPT-2's header) into ``directory``."""
        self._check_vocabulary()
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, VOCAB_FILE), "w", encoding="utf-8") as f:
            json.dump(dict(self.vocabulary), f, ensure_ascii=False)
        rules = [m for m in self.merges if not m.lstrip().startswith("#version")]
        with open(os.path.join(directory, MERGES_FILE), "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in [MERGES_HEADER] + rules))

    # The GPT-2 tokenizer's TensorFlow path only uses BytePairTokenizer state, which this
    # class shares; reusing it keeps one implementation of the corrected word splitting.
    call = GPT2Tokenizer.call
    tokenize = GPT2Tokenizer.tokenize
    detokenize = GPT2Tokenizer.detokenize


def load_roberta_tokenizer(directory: str, **kwargs) -> RobertaTokenizer:
    """``RobertaTokenizer.from_directory``: checked files, errors naming the file."""
    return RobertaTokenizer.from_directory(directory, **kwargs)
