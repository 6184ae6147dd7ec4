"""Tests for ``tfcaption.models.wgan.glove.glove_matrix`` on small GloVe-format files."""

import re

import numpy as np
import pytest

from tfcaption.models.wgan.glove import glove_matrix
from tfcaption.tokenizers.word_vocabulary import WordVocabulary


def _values(dim, seed):
    """Rounded vector values as GloVe writes them (5 decimals)."""
    return [round(float(x), 5) for x in np.random.default_rng(seed).normal(0, 0.5, dim)]


def _line(word, values):
    return " ".join([word] + [f"{x:.5f}" for x in values]) + "\n"


def _write(path, lines):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("".join(lines))
    return str(path)


def _where(path, line_no):
    return re.escape(f"{path}:{line_no}:")


@pytest.fixture
def small(tmp_path):
    """A dim-5 file (with a glove.840B-style spaced word and a duplicate) + its vectors."""
    vectors = {w: _values(5, s) for s, w in enumerate(
        ["the", "a", "red", ". . .", "circle", "square"])}
    duplicate = _values(5, 99)
    lines = [_line(w, v) for w, v in vectors.items()] + [_line("red", duplicate)]
    path = _write(tmp_path / "glove.test.5d.txt", lines)
    vocab = WordVocabulary(["a", "red", "circle", "blue", ".", "green"])
    return path, vocab, vectors, duplicate


def test_found_rows_equal_file_vectors_dim5(small):
    path, vocab, vectors, _ = small
    matrix, _ = glove_matrix(path, vocab, dim=5)
    assert matrix.shape == (len(vocab), 5)
    assert matrix.dtype == np.float32
    for word in ["a", "red", "circle"]:
        np.testing.assert_allclose(matrix[vocab.token_to_id(word)], vectors[word],
                                   rtol=1e-6, atol=1e-7)


def test_found_rows_equal_file_vectors_dim300(tmp_path):
    words = ["the", ",", "a", "red", "circle", "of"]
    vectors = {w: _values(300, 10 + s) for s, w in enumerate(words)}
    path = _write(tmp_path / "glove.6B.300d.txt", [_line(w, v) for w, v in vectors.items()])
    vocab = WordVocabulary(["circle", "a", "red", "blue"])
    matrix, stats = glove_matrix(path, vocab)
    assert matrix.shape == (8, 300) and matrix.dtype == np.float32
    for word in ["circle", "a", "red"]:
        np.testing.assert_allclose(matrix[vocab.token_to_id(word)], vectors[word],
                                   rtol=1e-6, atol=1e-7)
    assert stats == {"found": 3, "missing": 1, "missing_examples": ["blue"],
                     "vocabulary_size": 8, "dim": 300, "path": path}


def test_missing_rows_are_small_random_and_pad_is_zero(small):
    path, vocab, vectors, _ = small
    matrix, _ = glove_matrix(path, vocab, dim=5, scale=0.05)
    np.testing.assert_array_equal(matrix[0], np.zeros(5, np.float32))
    random_ids = [1, 2, 3] + [vocab.token_to_id(w) for w in ["blue", ".", "green"]]
    for i in random_ids:
        assert np.all(np.abs(matrix[i]) <= 0.05), (vocab.tokens[i], matrix[i])
        assert np.count_nonzero(matrix[i]) == 5, vocab.tokens[i]
    # Random rows are all different from each other.
    assert len({matrix[i].tobytes() for i in random_ids}) == len(random_ids)


def test_scale_bounds_random_rows(small):
    path, vocab, _, _ = small
    matrix, _ = glove_matrix(path, vocab, dim=5, scale=0.001)
    blue = matrix[vocab.token_to_id("blue")]
    assert np.all(np.abs(blue) <= 0.001) and np.any(np.abs(blue) > 1e-5)


def test_random_rows_deterministic_per_seed(small):
    path, vocab, _, _ = small
    first, _ = glove_matrix(path, vocab, dim=5, seed=7)
    again, _ = glove_matrix(path, vocab, dim=5, seed=7)
    other, _ = glove_matrix(path, vocab, dim=5, seed=8)
    np.testing.assert_array_equal(first, again)
    blue, red = vocab.token_to_id("blue"), vocab.token_to_id("red")
    assert not np.allclose(first[blue], other[blue])
    assert not np.allclose(first[1], other[1])
    np.testing.assert_array_equal(first[red], other[red])
    np.testing.assert_array_equal(other[0], np.zeros(5, np.float32))


def test_stats_counts(small):
    path, vocab, _, _ = small
    _, stats = glove_matrix(path, vocab, dim=5)
    assert stats == {"found": 3, "missing": 3, "missing_examples": ["blue", ".", "green"],
                     "vocabulary_size": 10, "dim": 5, "path": path}


def test_missing_examples_capped_at_ten(tmp_path):
    path = _write(tmp_path / "g.txt", [_line("red", _values(5, 1))])
    words = ["red"] + [f"w{i:02d}" for i in range(12)]
    _, stats = glove_matrix(path, WordVocabulary(words), dim=5)
    assert stats["found"] == 1 and stats["missing"] == 12
    assert stats["missing_examples"] == [f"w{i:02d}" for i in range(10)]


def test_word_with_spaces_parsed_from_the_right(small, tmp_path):
    path, vocab, vectors, _ = small
    matrix, stats = glove_matrix(path, vocab, dim=5)
    # ". . ." is one word: the vocabulary word "." must not take its vector ...
    dot = matrix[vocab.token_to_id(".")]
    assert np.all(np.abs(dot) <= 0.05)
    assert "." in stats["missing_examples"]
    # ... and the lines after it ("circle") still parse.
    np.testing.assert_allclose(matrix[vocab.token_to_id("circle")], vectors["circle"],
                               rtol=1e-6, atol=1e-7)
    other = _write(tmp_path / "at.txt", [_line("at name@domain.com", _values(5, 3)),
                                         _line("circle", _values(5, 4))])
    matrix, stats = glove_matrix(other, WordVocabulary(["circle", "at"]), dim=5)
    assert stats["found"] == 1 and stats["missing_examples"] == ["at"]
    np.testing.assert_allclose(matrix[4], _values(5, 4), rtol=1e-6, atol=1e-7)


def test_duplicate_word_keeps_first(small):
    path, vocab, vectors, duplicate = small
    matrix, stats = glove_matrix(path, vocab, dim=5)
    red = matrix[vocab.token_to_id("red")]
    np.testing.assert_allclose(red, vectors["red"], rtol=1e-6, atol=1e-7)
    assert not np.allclose(red, duplicate, atol=1e-3)
    assert stats["found"] == 3


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match=re.escape(path)):
        glove_matrix(path, WordVocabulary(["a"]), dim=5)


def test_too_few_numbers_names_line(tmp_path):
    lines = [_line("the", _values(300, 1)), _line("a", _values(300, 2)),
             _line("red", _values(299, 3))]
    path = _write(tmp_path / "short.txt", lines)
    with pytest.raises(ValueError, match=_where(path, 3)
                       + r".*expected 300 numbers after the word, got 299"):
        glove_matrix(path, WordVocabulary(["a"]))


def test_double_space_among_numbers_is_an_error(tmp_path):
    values = [f"{x:.5f}" for x in _values(5, 2)]
    bad = "red " + " ".join(values[:2]) + "  " + " ".join(values[2:]) + "\n"
    path = _write(tmp_path / "space.txt", [_line("the", _values(5, 1)), bad])
    with pytest.raises(ValueError, match=_where(path, 2) + r" number 2 .* is '',"):
        glove_matrix(path, WordVocabulary(["red"]), dim=5)


def test_non_float_number_names_line_and_field(tmp_path):
    values = [f"{x:.5f}" for x in _values(5, 2)]
    values[3] = "0.1x"
    lines = [_line("the", _values(5, 1)), _line("unused", _values(5, 3)),
             " ".join(["blue"] + values) + "\n"]
    path = _write(tmp_path / "nan.txt", lines)
    with pytest.raises(ValueError, match=_where(path, 3) + r" number 4 after the word "
                       r"'blue' is '0\.1x'"):
        glove_matrix(path, WordVocabulary(["a"]), dim=5)


def test_non_finite_number_rejected(tmp_path):
    values = [f"{x:.5f}" for x in _values(5, 2)]
    values[0] = "nan"
    path = _write(tmp_path / "nan.txt", [" ".join(["a"] + values) + "\n"])
    with pytest.raises(ValueError, match=_where(path, 1) + r" number 1 .*'nan'"):
        glove_matrix(path, WordVocabulary(["a"]), dim=5)


def test_not_utf8_names_line(tmp_path):
    path = str(tmp_path / "latin1.txt")
    with open(path, "wb") as f:
        f.write(_line("the", _values(5, 1)).encode("utf-8"))
        f.write(_line("café", _values(5, 2)).encode("utf-8"))
        f.write(_line("naïve", _values(5, 3)).encode("latin-1"))
    with pytest.raises(ValueError, match=_where(path, 3) + " not UTF-8"):
        glove_matrix(path, WordVocabulary(["a"]), dim=5)


def test_utf8_words_match(tmp_path):
    path = _write(tmp_path / "u.txt", [_line("café", _values(5, 2))])
    matrix, stats = glove_matrix(path, WordVocabulary(["café"]), dim=5)
    assert stats["found"] == 1
    np.testing.assert_allclose(matrix[4], _values(5, 2), rtol=1e-6, atol=1e-7)


def test_empty_file(tmp_path):
    path = _write(tmp_path / "empty.txt", [])
    with pytest.raises(ValueError, match=_where(path, 1) + " empty file"):
        glove_matrix(path, WordVocabulary(["a"]), dim=5)


def test_wrong_dim_on_first_line(small):
    path, vocab, _, _ = small
    with pytest.raises(ValueError, match=_where(path, 1) + r".*5 numbers.*dim=3"):
        glove_matrix(path, vocab, dim=3)
    with pytest.raises(ValueError, match=_where(path, 1)
                       + r".*expected 6 numbers after the word, got 5"):
        glove_matrix(path, vocab, dim=6)


@pytest.mark.parametrize("dim", [0, -3, 2.5, "300", True, None])
def test_dim_must_be_positive_int(small, dim):
    path, vocab, _, _ = small
    with pytest.raises(ValueError, match="dim=.*positive int"):
        glove_matrix(path, vocab, dim=dim)


@pytest.mark.parametrize("scale", [-0.1, float("nan"), "0.05"])
def test_scale_must_be_non_negative(small, scale):
    path, vocab, _, _ = small
    with pytest.raises(ValueError, match="scale=.*>= 0"):
        glove_matrix(path, vocab, dim=5, scale=scale)
