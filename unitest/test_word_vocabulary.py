"""Tests for tfcaption.tokenizers.word_vocabulary.WordVocabulary: eager and tf.data."""

import json
import os

import pytest
import tensorflow as tf

from tfcaption.data.text_ops import clean_captions
from tfcaption.tokenizers.word_vocabulary import WordVocabulary

CAPTIONS = [
    "<start> red circle on the left <end>",
    "red square and blue circle",
    "blue circle",
    "green triangle",
    "zebra",
]


@pytest.fixture()
def vocab():
    return WordVocabulary.build(CAPTIONS)


def test_build_orders_by_frequency_then_code_point(vocab):
    assert vocab.tokens[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert (vocab.pad_id, vocab.start_id, vocab.end_id, vocab.unk_id) == (0, 1, 2, 3)
    # circle x3, blue x2, red x2, then single words in code point order.
    assert vocab.tokens[4:] == ["circle", "blue", "red", "and", "green", "left", "on",
                                "square", "the", "triangle", "zebra"]
    assert len(vocab) == 15


def test_build_min_count_max_size_and_bytes():
    v = WordVocabulary.build(CAPTIONS, min_count=2)
    assert v.tokens[4:] == ["circle", "blue", "red"]
    v = WordVocabulary.build([c.encode() for c in CAPTIONS], max_size=6)
    assert v.tokens == ["<pad>", "<start>", "<end>", "<unk>", "circle", "blue"]
    v = WordVocabulary.build(["b a", "a b"], max_size=5)  # tie: code point order
    assert v.tokens[4:] == ["a"]
    with pytest.raises(ValueError, match="max_size"):
        WordVocabulary.build(CAPTIONS, max_size=3)
    with pytest.raises(ValueError, match="min_count"):
        WordVocabulary.build(CAPTIONS, min_count=0)
    with pytest.raises(TypeError, match="single string"):
        WordVocabulary.build("red circle")


def test_custom_specials():
    v = WordVocabulary.build(["startseq red endseq"], start_token="startseq",
                             end_token="endseq")
    assert v.tokens == ["<pad>", "startseq", "endseq", "<unk>", "red"]
    assert v.encode("startseq red blue endseq").numpy().tolist() == [1, 4, 3, 2]


def test_encode_eager(vocab):
    ids = vocab.encode("<start> red zebra unicorn <end>")
    assert ids.dtype == tf.int32 and ids.shape.rank == 1
    assert ids.numpy().tolist() == [1, 6, 14, 3, 2]
    batch = vocab.encode(["red circle", "", "  blue\tsquare  "])
    assert isinstance(batch, tf.RaggedTensor)
    assert batch.to_list() == [[6, 4], [], [5, 11]]


def test_decode_eager(vocab):
    assert vocab.decode([1, 6, 4, 2, 5, 5]).numpy() == b"red circle"
    dense = tf.constant([[1, 6, 4, 2, 0, 0], [1, 5, 3, 0, 0, 0], [2, 6, 0, 0, 0, 0]])
    assert vocab.decode(dense).numpy().tolist() == [b"red circle", b"blue <unk>", b""]
    ragged = tf.ragged.constant([[5, 4], [], [6, 0, 1, 4, 2, 2, 7]])
    assert vocab.decode(ragged).numpy().tolist() == [b"blue circle", b"", b"red circle"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="ids must be in"):
        vocab.decode([1, 99])
    with pytest.raises(tf.errors.InvalidArgumentError, match="ids must be in"):
        vocab.decode([[1, -1]])


def test_encode_decode_in_dataset_map(vocab):
    texts = ["<start> red circle <end>", "blue unicorn", "<start> <end>"]
    per_item = tf.data.Dataset.from_tensor_slices(texts).map(vocab.encode)
    ids = [x.tolist() for x in per_item.as_numpy_iterator()]
    assert ids == [[1, 6, 4, 2], [5, 3], [1, 2]]
    assert ids == vocab.encode(texts).to_list()
    decoded = per_item.map(vocab.decode)
    assert list(decoded.as_numpy_iterator()) == [b"red circle", b"blue <unk>", b""]
    batched = (tf.data.Dataset.from_tensor_slices(texts).batch(2).map(vocab.encode)
               .map(lambda r: r.to_tensor(vocab.pad_id)).map(vocab.decode))
    assert [t for b in batched.as_numpy_iterator() for t in b] == \
        [b"red circle", b"blue <unk>", b""]


def test_pipeline_with_clean_captions():
    raw = ["A Red Circle, on the LEFT.", "Two blue squares!"]
    v = WordVocabulary.build(clean_captions(raw).numpy())
    ds = tf.data.Dataset.from_tensor_slices(raw).map(
        lambda t: v.encode(clean_captions(t, add_tags=True)))
    ids = [x.tolist() for x in ds.as_numpy_iterator()]
    assert all(i[0] == v.start_id and i[-1] == v.end_id for i in ids)
    assert [v.decode(i).numpy() for i in ids] == [b"red circle on the left",
                                                  b"two blue squares"]


def test_save_load_round_trip(vocab, tmp_path):
    path = str(tmp_path / "sub" / "vocab.txt")
    vocab.save(path)
    with open(path, encoding="utf-8") as f:
        assert f.read() == "\n".join(vocab.tokens) + "\n"
    assert os.listdir(tmp_path / "sub") == ["vocab.txt"]  # no temporary files left
    loaded = WordVocabulary.load(path)
    assert loaded.tokens == vocab.tokens
    assert loaded.get_config() == vocab.get_config()
    assert loaded.encode(CAPTIONS).to_list() == vocab.encode(CAPTIONS).to_list()
    WordVocabulary(["x"]).save(path)  # overwrite in place
    assert WordVocabulary.load(path).tokens[4:] == ["x"]


@pytest.mark.parametrize("content, message", [
    ("<pad>\n<start>\n<end>\n<unk>\nred\n\nblue\n", r"vocab.txt:6: expected one token"),
    ("<pad>\n<start>\n<end>\n<unk>\nred circle\n", r"vocab.txt:5: expected one token"),
    ("<pad>\n<start>\n<end>\n<unk>\nred\nred\n", r"vocab.txt:6: token 'red' already on line 5"),
    ("<pad>\n<start>\n", r"vocab.txt:3: expected the 4 special tokens"),
    ("", r"vocab.txt:1: expected the 4 special tokens"),
])
def test_load_malformed(tmp_path, content, message):
    path = tmp_path / "vocab.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        WordVocabulary.load(str(path))


def test_load_errors_name_the_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"<pad>\n\xff\xfe\n")
    with pytest.raises(ValueError, match="vocab.txt: not UTF-8"):
        WordVocabulary.load(str(path))
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        WordVocabulary.load(str(tmp_path / "missing.txt"))


def test_config_round_trip(vocab):
    config = vocab.get_config()
    assert json.loads(json.dumps(config)) == config
    assert set(config) == {"words", "pad_token", "start_token", "end_token", "unk_token"}
    clone = WordVocabulary.from_config(config)
    assert clone.tokens == vocab.tokens
    assert clone.decode(clone.encode("red circle")).numpy() == b"red circle"


def test_constructor_checks():
    with pytest.raises(ValueError, match="appears twice"):
        WordVocabulary(["red", "red"])
    with pytest.raises(ValueError, match="appears twice"):
        WordVocabulary(["<unk>"])
    with pytest.raises(ValueError, match="without whitespace"):
        WordVocabulary(["red circle"])
    assert WordVocabulary(["red"]).token_to_id("nope") == 3
    assert WordVocabulary(["red"]).id_to_token(4) == "red"
