"""Word-embedding matrix for a ``WordVocabulary`` from a GloVe vectors file.

File format (as ``glove.6B.300d.txt``): UTF-8 text, no header, one word per line: the
word, then ``dim`` numbers, all separated by single spaces. A few entries of the
``glove.840B`` files are "words" with spaces inside (e.g. ``". . ."``), so each line is
parsed from the right: the last ``dim`` fields are the numbers and the word is the rest,
joined by spaces.

The file is streamed line by line and only the vectors of vocabulary words are kept.
Every line is checked (field count, numbers), so a damaged file is reported even where
the damage is in a word the vocabulary does not use; errors name the file and the
1-based line.
"""

import math
import numbers
import os
from typing import Tuple

import numpy as np

# Ids 0-3 of a WordVocabulary are <pad>, <start>, <end>, <unk>; they are not looked up.
_NUM_SPECIALS = 4
_PAD_ID = 0
_MAX_EXAMPLES = 10


def _is_float(text: str) -> bool:
    """True when ``float(text)`` accepts the text."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_line(raw: bytes, path: str, line_no: int, dim: int) -> Tuple[str, list]:
    """Splits one raw line into (word, number fields); raises ValueError naming file:line."""
    where = f"{path}:{line_no}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: not UTF-8 text ({e})") from None
    fields = text.rstrip("\r\n").split(" ")
    if len(fields) < dim + 1:
        raise ValueError(f"{where}: expected {dim} numbers after the word, got "
                         f"{len(fields) - 1} (fields are separated by single spaces)")
    if line_no == 1 and len(fields) > dim + 1 and _is_float(fields[-dim - 1]):
        raise ValueError(f"{where}: the first line has {len(fields) - 1} numbers after "
                         f"the word {fields[0]!r} but dim={dim}; pass the file's dimension")
    return " ".join(fields[:-dim]), fields[-dim:]


def _to_vector(fields: list, path: str, line_no: int, word: str) -> np.ndarray:
    """Converts ``dim`` number fields to float32; raises ValueError naming file:line."""
    try:
        vector = np.array(fields, dtype=np.float32)
    except ValueError:
        vector = None
    if vector is None or not np.all(np.isfinite(vector)):
        for k, field in enumerate(fields, start=1):
            if not _is_float(field) or not math.isfinite(float(field)):
                raise ValueError(f"{path}:{line_no}: number {k} after the word {word!r} is "
                                 f"{field!r}, expected a finite float")
        raise ValueError(f"{path}:{line_no}: the numbers after the word {word!r} are not "
                         "all finite floats")
    return vector


def glove_matrix(path: str, vocabulary, dim: int = 300, seed: int = 0,
                 scale: float = 0.05) -> Tuple[np.ndarray, dict]:
    """Builds a ``[len(vocabulary), dim]`` float32 embedding matrix from a GloVe file.

    Row ``i`` is the GloVe vector of ``vocabulary.tokens[i]`` when that word is in the
    file (exact match; the first occurrence wins). Other rows, including ``<start>``,
    ``<end>`` and ``<unk>`` (ids 1-3, never looked up), are drawn uniformly from
    ``[-scale, scale]`` with ``numpy.random.default_rng(seed)``; they depend only on
    ``seed``, the vocabulary size and ``dim``. The ``<pad>`` row (id 0) is all zeros.

    Args:
      path: GloVe text file (e.g. ``glove.6B.300d.txt``).
      vocabulary: a ``WordVocabulary`` (``.tokens`` in id order, specials at ids 0-3).
      dim: number of values per vector in the file.
      seed: seed of the random rows.
      scale: half-width of the uniform range of the random rows (>= 0).

    Returns:
      ``(matrix, stats)``; ``stats`` has ``found`` (vocabulary words in the file),
      ``missing`` (vocabulary words not in it, specials excluded), ``missing_examples``
      (up to 10 of them, in id order), ``vocabulary_size``, ``dim`` and ``path``.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: bad ``dim`` / ``scale``, an empty file, a line that is not UTF-8, has
        fewer than ``dim + 1`` fields or a number that is not a finite float (the
        message names the file and the 1-based line).
    """
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim <= 0:
        raise ValueError(f"dim={dim!r}: must be a positive int")
    dim = int(dim)
    if (isinstance(scale, bool) or not isinstance(scale, numbers.Real)
            or not math.isfinite(scale) or scale < 0):
        raise ValueError(f"scale={scale!r}: must be a finite number >= 0")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: GloVe vectors file not found")
    tokens = list(vocabulary.tokens)
    if len(tokens) < _NUM_SPECIALS:
        raise ValueError(f"vocabulary has {len(tokens)} tokens, expected at least the "
                         f"{_NUM_SPECIALS} specials")
    wanted = {token: i for i, token in enumerate(tokens) if i >= _NUM_SPECIALS}

    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-scale, scale, size=(len(tokens), dim)).astype(np.float32)
    matrix[_PAD_ID] = 0.0
    found = set()
    line_no = 0
    with open(path, "rb") as f:
        for line_no, raw in enumerate(f, start=1):
            word, fields = _parse_line(raw, path, line_no, dim)
            vector = _to_vector(fields, path, line_no, word)
            index = wanted.get(word)
            if index is not None and index not in found:
                matrix[index] = vector
                found.add(index)
    if line_no == 0:
        raise ValueError(f"{path}:1: empty file, expected a word and {dim} numbers per line")

    missing = [tokens[i] for i in range(_NUM_SPECIALS, len(tokens)) if i not in found]
    stats = {"found": len(found), "missing": len(missing),
             "missing_examples": missing[:_MAX_EXAMPLES],
             "vocabulary_size": len(tokens), "dim": dim, "path": path}
    return matrix, stats
