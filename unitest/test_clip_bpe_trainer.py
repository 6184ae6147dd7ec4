import json

import pytest

from tfcaption.tokenizers.clip_bpe_trainer import END_OF_TEXT, START_OF_TEXT, train_clip_bpe
from tfcaption.tokenizers.bpe_files import byte_symbols

TEXTS = ["A red circle above a blue square.", "Two green triangles, left of a big star!",
         "a small red circle in the top left"] * 10


def test_layout_matches_clip(tmp_path):
    vocab_path, merges_path = train_clip_bpe(TEXTS, str(tmp_path), vocab_size=560)
    vocab = json.load(open(vocab_path, encoding="utf-8"))
    ids = sorted(vocab, key=vocab.get)
    symbols = byte_symbols()
    assert ids[:256] == symbols
    assert ids[256:512] == [s + "</w>" for s in symbols]
    assert ids[-2:] == [START_OF_TEXT, END_OF_TEXT]
    assert len(vocab) <= 560
    merges = open(merges_path, encoding="utf-8").read().splitlines()
    assert merges[0] == "#version: 0.2"
    assert ids[512:-2] == ["".join(m.split(" ")) for m in merges[1:]]


def test_deterministic_and_read_by_transformers(tmp_path):
    from transformers import CLIPTokenizer

    train_clip_bpe(TEXTS, str(tmp_path / "a"), vocab_size=600)
    train_clip_bpe(TEXTS, str(tmp_path / "b"), vocab_size=600)
    for name in ("vocab.json", "merges.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    hf = CLIPTokenizer.from_pretrained(str(tmp_path / "a"))
    tokens = hf.convert_ids_to_tokens(hf("A  RED circle.")["input_ids"])
    assert tokens == [START_OF_TEXT, "a</w>", "red</w>", "circle</w>", ".</w>", END_OF_TEXT]


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="vocab_size=100"):
        train_clip_bpe(TEXTS, str(tmp_path), vocab_size=100)
    with pytest.raises(TypeError, match="single string"):
        train_clip_bpe("a red circle", str(tmp_path))
    with pytest.raises(ValueError, match="empty"):
        train_clip_bpe(["", ""], str(tmp_path))
