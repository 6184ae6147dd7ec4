"""Trains a small byte-level BPE and saves it in GPT-2's exact file format.

Used for the built-in ``shapes`` dataset. Training runs Hugging Face ``tokenizers``
with GPT-2's byte-level pre-tokenizer; the result is renumbered the way GPT-2's own
files are laid out, so ``tfcaption.tokenizers.gpt2_tokenizer`` (and HF's
``GPT2TokenizerFast.from_pretrained(out_dir)``) read it:

- ``vocab.json``: ids 0-255 are the 256 byte symbols in GPT-2's order, id ``256 + i``
  is the token made by merge ``i``, and ``<|endoftext|>`` is the last id (as 50256 is
  in GPT-2).
- ``merges.txt``: ``#version: 0.2``, then one ``"left right"`` merge per line.

Training is deterministic: the same texts and settings give byte-identical files.
"""

import json
from typing import Iterable, Tuple

from tfcaption.tokenizers.bpe_files import byte_symbols, write_bpe_files
from tfcaption.tokenizers.gpt2_tokenizer import END_OF_TEXT
from tfcaption.tokenizers.training_texts import check_training_texts


def train_bpe(texts: Iterable[str], out_dir: str, vocab_size: int = 1000,
              min_frequency: int = 2) -> Tuple[str, str]:
    """Trains a byte-level BPE on ``texts`` and writes ``vocab.json`` + ``merges.txt``.

    Args:
      texts: raw (untouched) training texts.
      out_dir: output directory (created); both files are written atomically.
      vocab_size: final vocabulary size, counting the 256 byte symbols and
        ``<|endoftext|>`` (so >= 257); fewer tokens result when no more pairs reach
        ``min_frequency``.
      min_frequency: a pair must occur at least this often to be merged.

    Returns:
      ``(vocab_path, merges_path)``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 257:
        raise ValueError(f"vocab_size={vocab_size}: must be >= 257 (256 byte symbols and "
                         f"{END_OF_TEXT})")
    texts = check_training_texts(texts, min_frequency)

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
        special_tokens=[END_OF_TEXT], initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer=trainer)

    model = json.loads(tokenizer.to_str())["model"]
    merges = [m.split(" ", 1) if isinstance(m, str) else list(m) for m in model["merges"]]
    vocab = {}
    for token in byte_symbols() + ["".join(m) for m in merges] + [END_OF_TEXT]:
        vocab.setdefault(token, len(vocab))
    if set(vocab) != set(model["vocab"]):
        raise RuntimeError("trained BPE vocabulary is not bytes + merges + <|endoftext|>: "
                           f"{sorted(set(vocab) ^ set(model['vocab']))[:10]}")

    return write_bpe_files(out_dir, vocab, [f"{a} {b}" for a, b in merges])
