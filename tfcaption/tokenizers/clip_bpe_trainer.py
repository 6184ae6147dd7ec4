"""Trains a small CLIP-style BPE and saves it in CLIP's exact file format.

Used to give a CLIP trained on the built-in ``shapes`` dataset its own vocabulary.
CLIP's tokenizer lower-cases, collapses whitespace, splits words with the pattern
``'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^\\s\\p{L}\\p{N}]+``, maps bytes to GPT-2's byte
symbols and marks the last symbol of every word with ``</w>``. The files are laid out
like OpenAI's:

- ``vocab.json``: the 256 byte symbols, the same 256 with ``</w>``, one token per merge
  (in merge order), then ``<|startoftext|>`` and ``<|endoftext|>`` (the last id).
- ``merges.txt``: a ``#version: 0.2`` header, then one ``"left right"`` merge per line.

Merges are learned here (most frequent pair first, ties broken by the pair's text), so
training is deterministic: the same texts and settings give byte-identical files. Hugging
Face ``tokenizers`` does the normalisation and word splitting.
"""

import collections
from typing import Iterable, Tuple

from tfcaption.tokenizers.bpe_files import write_bpe_files
from tfcaption.tokenizers.clip_tokenizer import (END_OF_TEXT, END_OF_WORD, START_OF_TEXT,
                                                 WORD_PATTERN, clip_byte_symbols)
from tfcaption.tokenizers.training_texts import check_training_texts

__all__ = ["train_clip_bpe", "START_OF_TEXT", "END_OF_TEXT"]


def _word_counts(texts):
    from tokenizers import Regex, normalizers, pre_tokenizers

    normalizer = normalizers.Sequence([
        normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    splitter = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    counts = collections.Counter()
    for text in texts:
        counts.update(word for word, _ in splitter.pre_tokenize_str(
            normalizer.normalize_str(text)))
    return {tuple(word[:-1]) + (word[-1] + END_OF_WORD,): n for word, n in counts.items()}


def _merge_word(word, pair, joined):
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(joined)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def _learn_merges(words, max_merges, min_frequency):
    merges = []
    while len(merges) < max_merges:
        pairs = collections.Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        pair, count = min(pairs.items(), key=lambda item: (-item[1], item[0]))
        if count < min_frequency:
            break
        merges.append(pair)
        joined = pair[0] + pair[1]
        merged = collections.Counter()
        for word, n in words.items():
            merged[_merge_word(word, pair, joined)] += n
        words = merged
    return merges


def train_clip_bpe(texts: Iterable[str], out_dir: str, vocab_size: int = 1000,
                   min_frequency: int = 2) -> Tuple[str, str]:
    """Trains a CLIP-format BPE on ``texts``; writes ``vocab.json`` and ``merges.txt``.

    ``vocab_size`` counts the 512 byte symbols and the two special tokens (so >= 514);
    fewer tokens result when no more pairs reach ``min_frequency``.
    Returns ``(vocab_path, merges_path)``.
    """
    if vocab_size < 514:
        raise ValueError(f"vocab_size={vocab_size}: must be >= 514 (512 byte symbols, "
                         f"{START_OF_TEXT} and {END_OF_TEXT})")
    texts = check_training_texts(texts, min_frequency)

    words = _word_counts(texts)
    merges = _learn_merges(words, vocab_size - 514, min_frequency)
    vocab = {}
    for token in (clip_byte_symbols() + ["".join(m) for m in merges]
                  + [START_OF_TEXT, END_OF_TEXT]):
        vocab.setdefault(token, len(vocab))
    return write_bpe_files(out_dir, vocab, [f"{a} {b}" for a, b in merges])
