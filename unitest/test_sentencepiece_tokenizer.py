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
