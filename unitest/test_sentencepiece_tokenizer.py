"""The in-graph SentencePiece tokenizer gives Hugging Face T5Tokenizer's ids and text."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfcaption.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

TEXTS = ["A line chart in which accuracy rises with the number of epochs.",
         "a bar chart comparing four methods, with method C highest",
         "Figure 3(b): loss vs. 10^4 steps; 95.5% top-1",
         "  extra   spaces\tand a tab  ", "Ünïcödé and ﬁ ligature", "", "zeta unseen qx"]


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    """spiece.model trained here with T5's special ids, and the Hugging Face tokenizer
    files written from it (tokenizer.json, tokenizer_config.json), as released dirs hold."""
    import sentencepiece as spm
    from transformers import T5Tokenizer

    path = tmp_path_factory.mktemp("spiece")
    rng = np.random.default_rng(0)
    words = ("a line chart bar scatter plot accuracy rises with the number of epochs and "
             "levels off comparing four methods C highest loss falls Figure 0.5 10 %").split()
    corpus = path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(words, 9)) for _ in range(400)))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(path / "spiece"), vocab_size=90,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2)
    (path / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "T5Tokenizer", "extra_ids": 0, "eos_token": "</s>",
         "pad_token": "<pad>", "unk_token": "<unk>"}))
    T5Tokenizer.from_pretrained(str(path)).save_pretrained(str(path))
    return path


def test_ids_and_text_equal_hugging_face(checkpoint_dir):
    from transformers import AutoTokenizer

    theirs = AutoTokenizer.from_pretrained(str(checkpoint_dir))
    ours = SentencePieceTokenizer.load(checkpoint_dir)
    assert (ours.pad_id, ours.eos_id, ours.unk_id) == (0, 1, 2)
    assert ours.vocabulary_size == len(theirs)
    ids = ours.tokenize(TEXTS).to_list()
    assert ids == [theirs(t).input_ids for t in TEXTS]
    assert any(ours.unk_id in row for row in ids)  # unseen characters are covered too
    text = [t.decode() for t in ours.detokenize(ours.tokenize(TEXTS)).numpy()]
    assert text == [theirs.decode(row, skip_special_tokens=True).strip() for row in ids]


def test_runs_in_tf_data_and_round_trips_through_a_dir(checkpoint_dir, tmp_path):
    ours = SentencePieceTokenizer.load(checkpoint_dir)
    dataset = tf.data.Dataset.from_tensor_slices(TEXTS[:3]).map(ours.tokenize)
    assert [list(x.numpy()) for x in dataset] == ours.tokenize(TEXTS[:3]).to_list()
    ours.save_to_directory(tmp_path)
    again = SentencePieceTokenizer.load(tmp_path)
    padded = again.tokenize(TEXTS[:2]).to_tensor()  # pad id 0 fills the shorter row
    assert [t.decode() for t in again.detokenize(padded).numpy()] == \
        [t.decode() for t in ours.detokenize(ours.tokenize(TEXTS[:2])).numpy()]


def test_a_dir_without_spiece_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="spiece.model"):
        SentencePieceTokenizer.load(tmp_path)


def test_graph_detokenizer_in_core_ops_gives_the_same_text(checkpoint_dir):
    """Random ids (specials, eos mid-sequence, lengths short of the row) -> the text of the
    ids up to the first eos, special tokens dropped, as ``detokenize`` writes it."""
    from tfcaption.serving.piece_graph_detokenizer import PieceGraphDetokenizer

    ours = SentencePieceTokenizer.load(checkpoint_dir)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, ours.vocabulary_size, (12, 10)).astype("int32")
    ids[3, 4] = ours.eos_id
    ids[5, :3] = ours.pad_id
    lengths = rng.integers(0, 11, 12).astype("int32")
    expected = []
    for row, length in zip(ids.tolist(), lengths.tolist()):
        row = row[:length]
        row = row[:row.index(ours.eos_id)] if ours.eos_id in row else row
        expected.append(ours.detokenize(tf.ragged.constant([row], tf.int32))[0].numpy())
    got = PieceGraphDetokenizer(ours)(tf.constant(ids), tf.constant(lengths)).numpy()
    assert got.tolist() == expected
    assert any(len(t.split()) > 1 for t in expected)  # words are separated by spaces


def test_tokenize_without_eos_and_a_trained_model(tmp_path):
    from tfcaption.tokenizers.sentencepiece_trainer import train_sentencepiece

    texts = ["a line chart in which accuracy rises", "a bar chart comparing four methods"] * 20
    train_sentencepiece(texts, tmp_path, vocab_size=40)
    ours = SentencePieceTokenizer.load(tmp_path)
    assert (ours.pad_id, ours.eos_id, ours.unk_id) == (0, 1, 2)
    with_eos = ours.tokenize(texts[:2]).to_list()
    assert ours.tokenize(texts[:2], add_eos=False).to_list() == [r[:-1] for r in with_eos]
    assert [t.decode() for t in ours.detokenize(ours.tokenize(texts[:2])).numpy()] == texts[:2]
    with pytest.raises(ValueError, match="no text"):
        train_sentencepiece(["", "  "], tmp_path / "empty")
