"""Byte-level BPE tokenizer files in the GPT-2 / OpenAI / Hugging Face format.

A tokenizer directory holds:

- ``vocab.json``: a JSON object ``{token: id}`` over byte-level symbols (``"Ġthe"``);
- ``merges.txt``: an optional ``#version: 0.2`` header line, then one merge rule per line,
  ``"left right"``, highest priority first.

GPT-2, RoBERTa and CLIP all use this layout; they differ only in their special tokens and
in the byte-level symbols their vocabulary must hold (CLIP adds each symbol with ``</w>``).
Readers check the files and raise errors that name the file (and the line of a merge);
:func:`write_bpe_files` writes them back in the same format.
"""

import json
import os
from typing import Dict, Iterable, List, Sequence, Tuple

from tfcaption.file_io import atomic_write_text

VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"
MERGES_HEADER = "#version: 0.2"


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


def _read_text(path: str, what: str, kind: str) -> str:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: {kind} {what} file not found (a {kind} tokenizer directory holds "
            f"{VOCAB_FILE} and {MERGES_FILE})")
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None


def read_vocabulary(path: str, special_tokens: Sequence[str], symbols: Sequence[str],
                    kind: str) -> Dict[str, int]:
    """Reads and checks a ``vocab.json``.

    Ids must be distinct ints >= 0, and the vocabulary must hold every token of
    ``special_tokens`` and of ``symbols`` (the byte-level symbols the BPE starts from).
    ``kind`` (e.g. ``"GPT-2"``) names the tokenizer in error messages.
    """
    try:
        vocab = json.loads(_read_text(path, "vocabulary", kind))
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
    absent = [t for t in special_tokens if t not in vocab]
    if absent:
        also = f" (also missing: {absent[1:]})" if len(absent) > 1 else ""
        raise ValueError(f"{path}: special token {absent[0]!r} is missing{also}")
    missing = [s for s in symbols if s not in vocab]
    if missing:
        raise ValueError(f"{path}: {len(missing)} of the {len(symbols)} byte-level symbols "
                         f"are missing (first: {missing[:5]}); not a {kind} BPE vocabulary")
    return vocab


def read_merges(path: str, vocab: Dict[str, int], kind: str) -> List[str]:
    """Reads and checks a ``merges.txt`` against ``vocab``; drops the header.

    Each rule's two tokens and their concatenation must be in ``vocab``.
    """
    lines = _read_text(path, "merges", kind).split("\n")
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


def read_bpe_files(directory: str, special_tokens: Sequence[str], symbols: Sequence[str],
                   kind: str) -> Tuple[Dict[str, int], List[str]]:
    """``(vocabulary, merges)`` read and checked from ``directory`` (see
    :func:`read_vocabulary` and :func:`read_merges`)."""
    vocab = read_vocabulary(os.path.join(directory, VOCAB_FILE), special_tokens, symbols,
                            kind)
    return vocab, read_merges(os.path.join(directory, MERGES_FILE), vocab, kind)


def write_bpe_files(directory: str, vocab: Dict[str, int],
                    merges: Iterable[str]) -> Tuple[str, str]:
    """Writes ``vocab.json`` + ``merges.txt`` into ``directory`` (created).

    The vocabulary is written in id order; ``merges.txt`` gets the ``#version: 0.2``
    header, then the ``"left right"`` rules (a ``#version`` header that ``merges``
    starts with, as a merges file read line by line does, is not repeated). Both files
    are written atomically. Returns ``(vocab_path, merges_path)``.
    """
    os.makedirs(directory, exist_ok=True)
    vocab_path = os.path.join(directory, VOCAB_FILE)
    merges_path = os.path.join(directory, MERGES_FILE)
    ordered = dict(sorted(vocab.items(), key=lambda item: item[1]))
    rules = list(merges)
    if rules and rules[0].startswith("#version"):
        rules = rules[1:]
    atomic_write_text(vocab_path, json.dumps(ordered, ensure_ascii=False))
    atomic_write_text(merges_path, "".join(f"{line}\n" for line in [MERGES_HEADER] + rules))
    return vocab_path, merges_path
