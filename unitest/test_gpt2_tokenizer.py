"""GPT-2 BPE: train_bpe writes GPT-2 files; our keras-hub based tokenizer gives the same
ids as Hugging Face on them, eagerly and inside tf.data, and round-trips."""

import json
import os
import random
import shutil

import pytest
import tensorflow as tf
import transformers

from tfcaption.tokenizers.bpe_trainer import train_bpe
from tfcaption.tokenizers.gpt2_tokenizer import (END_OF_TEXT, GPT2Tokenizer, byte_symbols,
                                                 load_gpt2_tokenizer, read_gpt2_files)

CORPUS = [
    "a red circle in the top left", "two blue squares and 2024 green triangles!",
    "it's a dog's life, isn't it? IT'S", "Numbers 12345 and 3.14159 (pi)",
    "naïve café résumé — 東京 😀", "  multiple   spaces\tand\nnewlines  ",
    "We'll've I'd they're you've I'm", "a\u00a0b\u3000c \u2002 \u2009x \u2028y",
]
VARIED = CORPUS + [
    "", " ", "   ", "trailing spaces  ", "a  <|endoftext|>b", "x<|endoftext|>y",
    "<|endoftext|>", "tabs\t\t\tand\r\nCRLF", "emoji 😀😀 and ZWJ 👩‍👩‍👧", "hello\u2002world ",
    "quotes \"double\" 'single' `back`", "don't stop", "$3.50 + 7% = ?", "ÀÉÎÕÜ ß ﬁ",
    "Ελληνικά русский العربية हिन्दी ६", "a\u205f\u205fb", "end with newline\n\n",
]
_ALPHABET = list("ab c  \t\n12'sS.,!é東😀-") + [
    "'s", "'t", "'ll", "\u00a0", "\r", "\u3000", "\u2009", "\u2002", "\u2028", "\x85",
    "\x0b", "\u205f", END_OF_TEXT, "the", " cat", "६"]


def _random_texts(n, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 14)))
            for _ in range(n)]


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("gpt2_bpe"))
    train_bpe(CORPUS * 20 + _random_texts(400, seed=0), out, vocab_size=600, min_frequency=2)
    return out


@pytest.fixture(scope="module")
def hf(bpe_dir):
    return transformers.GPT2TokenizerFast.from_pretrained(bpe_dir)


@pytest.fixture(scope="module")
def tok(bpe_dir):
    return load_gpt2_tokenizer(bpe_dir)


def _hf_ids(hf, texts):
    return [hf(t)["input_ids"] for t in texts]


# ----------------------------------------------------------------- file format
def test_train_bpe_writes_gpt2_format(bpe_dir, tmp_path):
    with open(os.path.join(bpe_dir, "merges.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    assert lines[0] == "#version: 0.2" and lines[-1] == ""
    merges = lines[1:-1]
    assert merges and all(len(m.split(" ")) == 2 for m in merges)
    with open(os.path.join(bpe_dir, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    # GPT-2's layout: 256 byte symbols, one token per merge, <|endoftext|> last.
    assert [t for t, i in sorted(vocab.items(), key=lambda x: x[1])][:256] == byte_symbols()
    assert vocab[END_OF_TEXT] == len(vocab) - 1 == 256 + len(merges)
    assert sorted(vocab.values()) == list(range(len(vocab)))
    assert all(vocab["".join(m.split(" "))] == 256 + i for i, m in enumerate(merges))
    # Deterministic.
    train_bpe(CORPUS * 20 + _random_texts(400, seed=0), str(tmp_path), vocab_size=600,
              min_frequency=2)
    for name in ("vocab.json", "merges.txt"):
        with open(os.path.join(bpe_dir, name), "rb") as a, \
                open(os.path.join(tmp_path, name), "rb") as b:
            assert a.read() == b.read(), name


def test_train_bpe_arguments(tmp_path):
    with pytest.raises(ValueError, match="vocab_size"):
        train_bpe(CORPUS, str(tmp_path), vocab_size=256)
    with pytest.raises(TypeError, match="single string"):
        train_bpe("one text", str(tmp_path))
    with pytest.raises(ValueError, match="empty"):
        train_bpe([], str(tmp_path))


# ------------------------------------------------------------------- parity
def test_special_tokens(tok, hf, bpe_dir):
    vocab, _ = read_gpt2_files(bpe_dir)
    assert tok.end_token_id == tok.start_token_id == vocab[END_OF_TEXT] == hf.eos_token_id
    assert tok.end_token == END_OF_TEXT
    assert tok.tokenize(END_OF_TEXT).numpy().tolist() == [tok.end_token_id]


def test_eager_parity_with_hugging_face(tok, hf):
    texts = VARIED + _random_texts(1500, seed=1)
    ours = tok.tokenize(tf.constant(texts))
    assert isinstance(ours, tf.RaggedTensor) and ours.dtype == tf.int32
    expected = _hf_ids(hf, texts)
    mismatches = [(t, e, o) for t, e, o in zip(texts, expected, ours.to_list()) if e != o]
    assert not mismatches, mismatches[:5]
    # The texts exercise merges, not only single bytes.
    assert sum(len(e) for e in expected) < sum(len(t.encode()) for t in texts)
    one = tok.tokenize(VARIED[2])
    assert isinstance(one, tf.Tensor) and one.shape.rank == 1
    assert one.numpy().tolist() == expected[2]
    assert tok(VARIED[2]).numpy().tolist() == expected[2]


def _tokenize_and_back(tok):
    def fn(text):
        ids = tok.tokenize(text)
        return ids, tok.detokenize(ids)
    return fn


def test_dataset_map_parity_and_round_trip(tok, hf):
    texts = VARIED + _random_texts(40, seed=2)
    expected = _hf_ids(hf, texts)
    per_item = list(tf.data.Dataset.from_tensor_slices(texts).map(_tokenize_and_back(tok))
                    .as_numpy_iterator())
    assert [ids.tolist() for ids, _ in per_item] == expected
    assert [text.decode("utf-8") for _, text in per_item] == texts
    batched = tf.data.Dataset.from_tensor_slices(texts).batch(16).map(_tokenize_and_back(tok))
    assert [row for ids, _ in batched for row in ids.to_list()] == expected
    assert [t.decode("utf-8") for _, text in batched for t in text.numpy()] == texts


def test_add_prefix_space_parity(bpe_dir):
    hf = transformers.GPT2TokenizerFast.from_pretrained(bpe_dir, add_prefix_space=True)
    tok = load_gpt2_tokenizer(bpe_dir, add_prefix_space=True)
    texts = VARIED + [" a\nb", "a<|endoftext|>b", "<|endoftext|> b", "\ta"]
    assert tok.tokenize(texts).to_list() == _hf_ids(hf, texts)


def test_header_handling_and_unchecked_keras_hub_path(tok, bpe_dir, tmp_path):
    vocab, merges = read_gpt2_files(bpe_dir)
    assert not any(m.startswith("#version") for m in merges)
    shutil.copy(os.path.join(bpe_dir, "vocab.json"), tmp_path / "vocab.json")
    (tmp_path / "merges.txt").write_text("".join(m + "\n" for m in merges), encoding="utf-8")
    headerless = load_gpt2_tokenizer(str(tmp_path))
    assert headerless.tokenize(VARIED).to_list() == tok.tokenize(VARIED).to_list()
    # Constructor with file paths (keras-hub reads them, header line included).
    by_path = GPT2Tokenizer(vocabulary=os.path.join(bpe_dir, "vocab.json"),
                            merges=os.path.join(bpe_dir, "merges.txt"))
    assert by_path.tokenize(VARIED).to_list() == tok.tokenize(VARIED).to_list()


def test_save_to_directory_writes_the_files_read(tok, bpe_dir, tmp_path):
    # by_path holds the header line as its first merge; it is written once.
    by_path = GPT2Tokenizer(vocabulary=os.path.join(bpe_dir, "vocab.json"),
                            merges=os.path.join(bpe_dir, "merges.txt"))
    for i, source in enumerate([tok, by_path]):
        out = tmp_path / str(i)
        source.save_to_directory(str(out))
        for name in ("vocab.json", "merges.txt"):
            assert (out / name).read_bytes() == open(os.path.join(bpe_dir, name), "rb").read()


# ------------------------------------------------------------- detokenize
def test_detokenize_round_trip_eager(tok):
    texts = VARIED + _random_texts(300, seed=3)
    back = [x.decode("utf-8") for x in tok.detokenize(tok.tokenize(texts)).numpy()]
    assert back == texts
    assert tok.detokenize(tok.tokenize(VARIED[4])).numpy().decode() == VARIED[4]
    assert tok.detokenize([[], [tok.end_token_id]]).numpy().tolist() == \
        [b"", END_OF_TEXT.encode()]


def test_detokenize_dense_with_padding_mask(tok):
    ids = tok.tokenize(["a red circle", "two"])
    dense = ids.to_tensor(default_value=tok.end_token_id)
    mask = tf.sequence_mask(ids.row_lengths(), tf.shape(dense)[1])
    out = tok.detokenize(dense, padding_mask=mask).numpy().tolist()
    assert out == [b"a red circle", b"two"]
    first = dense[0].numpy().tolist()
    assert tok.detokenize(first + [0, 0], padding_mask=[True] * len(first) + [False] * 2
                          ).numpy() == b"a red circle"
    unmasked = tok.detokenize(dense).numpy().tolist()
    assert unmasked[1].startswith(b"two" + END_OF_TEXT.encode())


def test_detokenize_cut_characters_like_hugging_face(tok, hf, bpe_dir):
    vocab, _ = read_gpt2_files(bpe_dir)
    symbols = byte_symbols()
    rng = random.Random(4)
    for _ in range(200):
        raw = bytes(rng.choice([0xF0, 0x9F, 0x98, 0x80, 0xE6, 0x9D, 0xB1, 0x61, 0x20,
                                0xC3, 0xA9, 0x0A, 0x00, 0xFF]) for _ in range(rng.randint(0, 6)))
        ids = [vocab[symbols[b]] for b in raw]
        ours = tok.detokenize(tf.constant(ids, tf.int32)).numpy().decode("utf-8")
        assert ours == hf.decode(ids), raw


def test_detokenize_rejects_unknown_ids(tok):
    with pytest.raises(tf.errors.InvalidArgumentError, match="not in the GPT-2 vocabulary"):
        tok.detokenize(tf.constant([1, 10**6]))


# ---------------------------------------------------------------- config
def test_config_round_trip(tok, bpe_dir):
    vocab, merges = read_gpt2_files(bpe_dir)
    config = tok.get_config()
    clone = GPT2Tokenizer.from_config(config)
    clone.set_vocabulary_and_merges(vocab, merges)
    assert clone.get_config() == config
    assert clone.tokenize(VARIED).to_list() == tok.tokenize(VARIED).to_list()
    restored = tf.keras.utils.deserialize_keras_object(tf.keras.utils.serialize_keras_object(tok))
    assert type(restored) is GPT2Tokenizer
    with pytest.raises(ValueError, match="sequence_length"):
        GPT2Tokenizer(vocabulary=vocab, merges=merges, sequence_length=8)


# ----------------------------------------------------------------- errors
def _copy(bpe_dir, tmp_path):
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(bpe_dir, name), tmp_path / name)
    return tmp_path


def test_missing_files(bpe_dir, tmp_path):
    d = _copy(bpe_dir, tmp_path)
    os.remove(d / "merges.txt")
    with pytest.raises(FileNotFoundError, match="merges.txt"):
        load_gpt2_tokenizer(str(d))
    os.remove(d / "vocab.json")
    with pytest.raises(FileNotFoundError, match="vocab.json"):
        load_gpt2_tokenizer(str(d))


@pytest.mark.parametrize("content, message", [
    ("{not json", r"vocab.json: not valid JSON"),
    ("[1, 2]", r"vocab.json: expected a non-empty JSON object"),
    ('{"a": 0, "b": 0}', r"vocab.json: tokens 'a' and 'b' share id 0"),
    ('{"a": "0"}', r"vocab.json: id of token 'a'"),
    ('{"a": 0}', r"vocab.json: special token '<\|endoftext\|>' is missing"),
    ('{"<|endoftext|>": 0}', r"vocab.json: 256 of the 256 byte-level symbols"),
])
def test_malformed_vocab(bpe_dir, tmp_path, content, message):
    d = _copy(bpe_dir, tmp_path)
    (d / "vocab.json").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_gpt2_tokenizer(str(d))


@pytest.mark.parametrize("lines, message", [
    (["#version: 0.2", "Ġ t", "a b c"], r"merges.txt:3: expected two tokens"),
    (["#version: 0.2", "Ġ t", ""], r"merges.txt:3: expected two tokens"),
    (["#version: 0.2", "Ġ  t"], r"merges.txt:2: expected two tokens"),
    (["#version: 0.2", "Ġ zzz"], r"merges.txt:2: token 'zzz' .* not in vocab.json"),
])
def test_malformed_merges(bpe_dir, tmp_path, lines, message):
    d = _copy(bpe_dir, tmp_path)
    (d / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_gpt2_tokenizer(str(d))
