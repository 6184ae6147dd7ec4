"""The serving graph's pieces: the core-TF detokenizer against the captioner's, and the
batch image decoder that sets failing images aside."""

import numpy as np
import pytest
import tensorflow as tf
from test_export import TEXTS, draw_image, encode

from tfcaption.data.image_preprocessor import ImagePreprocessor
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.serving.graph_detokenizer import GraphDetokenizer, python_strip, token_bytes
from tfcaption.serving.image_batch_decoder import ImageBatchDecoder
from tfcaption.serving.word_graph_detokenizer import WordGraphDetokenizer
from tfcaption.tokenizers.bpe_trainer import train_bpe
from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer
from tfcaption.tokenizers.word_vocabulary import WordVocabulary


class _Model:  # what ClipCapCaptioner.detokenize and GraphDetokenizer read of a model
    def __init__(self, vocabulary_size):
        self.vocabulary_size = vocabulary_size


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bpe"))
    train_bpe(TEXTS + ["  spaced\tout  ", "emoji 🙂 and ü"], out, vocab_size=300,
              min_frequency=1)
    return load_gpt2_tokenizer(out)


def _by_text(tokenizer, text):
    return [int(i) for i in tokenizer.tokenize(text).numpy()]


def test_token_bytes_are_the_byte_level_decoding(tokenizer):
    table = token_bytes(tokenizer.vocabulary, len(tokenizer.vocabulary) + 3)
    for text in ["a red circle", "café", "🙂", " \t"]:
        ids = _by_text(tokenizer, text)
        assert b"".join(table[ids]) == text.encode("utf-8")
    assert list(table[-3:]) == [b"", b"", b""]  # ids the tokenizer does not have
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        token_bytes(tokenizer.vocabulary, 10)


def test_graph_detokenizer_equals_the_captioner(tokenizer):
    end = tokenizer.end_token_id
    period = _by_text(tokenizer, ".")[0]
    captioner = ClipCapCaptioner(_Model(end + 1), tokenizer, strip_token_ids=[end, period])
    detokenize = tf.function(captioner.graph_detokenizer())
    rng = np.random.default_rng(0)
    rows = [_by_text(tokenizer, " a red circle."), _by_text(tokenizer, "café") + [end, end],
            [end, period, end], [end], [], _by_text(tokenizer, "🙂")[:2],  # cut UTF-8
            _by_text(tokenizer, "  spaced\tout  ") + [period],
            [period] + _by_text(tokenizer, " two") + [end]]
    rows += [list(rng.integers(0, end + 1, rng.integers(1, 12))) for _ in range(40)]
    width = max(len(r) for r in rows) + 2
    ids = np.array([r + [0] * (width - len(r)) for r in rows], np.int32)  # 0 is "!"
    lengths = np.array([len(r) for r in rows], np.int32)
    got = [t.decode("utf-8") for t in detokenize(ids, lengths).numpy()]
    assert got == [captioner.detokenize(r) for r in rows]
    assert got[:5] == ["a red circle", "café", "", "", ""]  # trailing "." stripped
    assert got[5] == "\ufffd" and got[6] == "spaced\tout" and got[7] == ". two"


def test_python_strip_matches_str_strip():
    texts = [" a ", "\u3000x\u00a0", "\x1cy\x1f", "\x00z\x00", "\u200bq", "\v\f\r\n\t w \x85",
             "", "   "]
    got = [t.decode("utf-8") for t in python_strip(tf.constant(texts)).numpy()]
    assert got == [t.strip() for t in texts]


@pytest.fixture(scope="module")
def encoded():
    images = {fmt: encode(draw_image(i), fmt) for i, fmt in
              enumerate(["JPEG", "PNG", "GIF", "BMP"])}
    images["GRAY_PNG"] = encode(draw_image(7).convert("L"), "PNG")
    return images


def _corrupt(encoded):
    """Each kind of input counted as corrupt, by name."""
    jpeg, png = encoded["JPEG"], encoded["PNG"]
    return {"empty": b"", "text": b"hello, not an image", "truncated_jpeg": jpeg[:300],
            "jpeg_header_only": b"\xff\xd8\xff", "truncated_png": png[:100],
            "png_signature_only": png[:8], "gif_header_only": b"GIF89a",
            "bmp_junk": b"BM" + bytes(40), "png_bad_data": png[:60] + bytes(len(png) - 60)}


@pytest.mark.parametrize("compiled", [False, True])
def test_image_batch_decoder_sets_failing_images_aside(encoded, compiled):
    preprocessor = ImagePreprocessor("clip", 48)
    decoder = ImageBatchDecoder(preprocessor)
    if compiled:
        decoder = tf.function(decoder, input_signature=[tf.TensorSpec([None], tf.string)])
    corrupt = _corrupt(encoded)
    for name, data in corrupt.items():  # each really fails the plain decoder
        with pytest.raises(tf.errors.InvalidArgumentError):
            preprocessor.from_bytes(tf.constant(data))
        images, indices = decoder(tf.constant([data]))
        assert tuple(images.shape) == (0, 48, 48, 3) and indices.numpy().tolist() == [], name
    good = [encoded[k] for k in ("JPEG", "PNG", "GIF", "BMP", "GRAY_PNG")]
    batch = [corrupt["text"], good[0], corrupt["truncated_jpeg"], good[1], good[2],
             corrupt["empty"], good[3], good[4]]
    images, indices = decoder(tf.constant(batch))
    assert indices.numpy().tolist() == [1, 3, 4, 6, 7]
    want = np.stack([preprocessor.from_bytes(tf.constant(d)).numpy() for d in good])
    np.testing.assert_array_equal(images.numpy(), want)
    images, indices = decoder(tf.constant([], tf.string))
    assert tuple(images.shape) == (0, 48, 48, 3) and indices.shape == (0,)


def test_word_graph_detokenizer_equals_the_vocabulary():
    vocabulary = WordVocabulary(["a", "red", "circle", "and", "blue"])
    detokenize = tf.function(WordGraphDetokenizer(vocabulary))
    end, start, pad = vocabulary.end_id, vocabulary.start_id, vocabulary.pad_id
    rng = np.random.default_rng(1)
    rows = [[4, 5, 6, end], [4, 5, end, 6, 7], [start, 4, pad, 5], [end], [],
            [vocabulary.unk_id, 8]]
    rows += [list(rng.integers(0, len(vocabulary), rng.integers(1, 9))) for _ in range(40)]
    width = max(len(r) for r in rows) + 2
    ids = np.array([r + [5] * (width - len(r)) for r in rows], np.int32)  # 5 is "red"
    lengths = np.array([len(r) for r in rows], np.int32)
    got = [t.decode("utf-8") for t in detokenize(ids, lengths).numpy()]
    expected = [vocabulary.decode(tf.constant(r, tf.int64)).numpy().decode("utf-8") if r
                else "" for r in rows]
    assert got == expected
    assert got[:5] == ["a red circle", "a red", "a red", "", ""]
    assert got[5] == "<unk> blue"
