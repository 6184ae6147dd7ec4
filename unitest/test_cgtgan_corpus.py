"""Corpus embeddings for CgT-GAN: aggregation maths, sentence forms, files, the command."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfcaption.models.clipcap.cgtgan import corpus_embedding as ce
from tfcaption.models.clipcap.cgtgan.caption_retokenizer import strip_final_period
from tfcaption.models.clipcap.cgtgan.corpus_sentences import as_sentence, format_sentences

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP_SHAPES = os.path.join(ROOT, "pretrained_models", "clip_shapes")


def _reference_targets(images, corpus, t):
    """float64 softmax(t * cos) over the whole corpus, weighted sum of raw embeddings."""
    images, corpus = images.astype(np.float64), corpus.astype(np.float64)
    cos = (images / np.linalg.norm(images, axis=1, keepdims=True)) @ (
        corpus / np.linalg.norm(corpus, axis=1, keepdims=True)).T
    w = np.exp(t * cos - (t * cos).max(1, keepdims=True))
    return (w / w.sum(1, keepdims=True)) @ corpus


@pytest.mark.parametrize("t", [1.0, 100.0, 175.0])
def test_aggregate_matches_float64_reference(t):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(37, 8)).astype(np.float32)
    corpus = (rng.normal(size=(300, 8)) * 3).astype(np.float32)
    got = ce.aggregate_embeddings(images, corpus, t, batch_size=16)
    np.testing.assert_allclose(got, _reference_targets(images, corpus, t), rtol=2e-4, atol=2e-4)


def test_high_temperature_selects_the_most_similar_sentence():
    corpus = np.array([[1.0, 0.0], [0.0, 5.0], [-1.0, -1.0]], np.float32)
    got = ce.aggregate_embeddings(np.array([[0.1, 2.0]], np.float32), corpus, 1000.0)
    np.testing.assert_allclose(got, [[0.0, 5.0]], atol=1e-5)  # raw, unnormalised row


def test_aggregate_errors():
    with pytest.raises(ValueError, match="empty"):
        ce.aggregate_embeddings(np.ones((1, 2)), np.zeros((0, 2)), 100.0)
    with pytest.raises(ValueError, match="same CLIP"):
        ce.aggregate_embeddings(np.ones((1, 3)), np.ones((4, 2)), 100.0)


def test_strip_final_period_eagerly_and_in_tf_data():
    texts = [" A dog runs. ", "two cats..", "no period", "a.b c"]
    expected = [b"A dog runs", b"two cats.", b"no period", b"a.b c"]
    assert list(strip_final_period(tf.constant(texts)).numpy()) == expected
    ds = tf.data.Dataset.from_tensor_slices(texts).map(strip_final_period)
    assert [x.numpy() for x in ds] == expected


def test_sentence_format():
    assert as_sentence("a man riding a horse ,") == "A man riding a horse."
    assert as_sentence("A dog.") == "A dog."
    assert as_sentence("  two cats! ") == "Two cats."
    assert format_sentences(["a b", "c"], "as_is") == ["a b", "c"]
    assert format_sentences(["a b"], "sentence") == ["A b."]
    with pytest.raises(ValueError, match="sentence_format 'upper'"):
        format_sentences(["a"], "upper")


def test_corpus_and_targets_round_trip(tmp_path):
    texts = ["a red circle", "ünïcode \"quoted\" text"]
    emb = np.arange(6, dtype=np.float32).reshape(2, 3)
    ce.write_corpus(str(tmp_path), texts, emb)
    got_texts, got_emb = ce.read_corpus(str(tmp_path))
    assert got_texts == texts
    np.testing.assert_array_equal(got_emb, emb)
    ce.write_targets(str(tmp_path), "train", ["x1", "x2"], emb)
    targets = ce.read_targets(str(tmp_path), "train")
    assert list(targets) == ["x1", "x2"]
    np.testing.assert_array_equal(targets["x2"], emb[1])
    with pytest.raises(FileNotFoundError, match="val targets not found.*embed_corpus"):
        ce.read_targets(str(tmp_path), "val")
    np.save(os.path.join(tmp_path, ce.EMBEDDINGS_FILE), emb[:1])
    with pytest.raises(ValueError, match="holds 2 sentences"):
        ce.read_corpus(str(tmp_path))
    with open(os.path.join(tmp_path, ce.CORPUS_FILE), "a") as f:
        f.write("[1]\n")
    with pytest.raises(ValueError, match=r"corpus.jsonl:3: not a JSON object"):
        ce.read_corpus(str(tmp_path))


def test_embed_texts_removes_the_final_period_and_batches():
    from tfcaption.backbones.clip_loader import load_clip

    clip = load_clip(CLIP_SHAPES)
    texts = ["a red circle.", "a blue square", "two green stars."]
    batched = ce.embed_texts(clip, texts, batch_size=2, verbose=0)
    plain = ce.embed_texts(clip, ["a red circle", "a blue square", "two green stars"],
                           batch_size=3, verbose=0)
    assert batched.shape == (3, clip.model.projection_dim) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, plain, rtol=1e-5, atol=1e-5)
    assert not np.allclose(batched[0], batched[1])


def test_embed_corpus_command(shapes_dir, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a red circle\n\ntwo blue squares ,\na green star\n", encoding="utf-8")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "tfcaption.embed_corpus", f"--clip={CLIP_SHAPES}",
           f"--corpus={corpus}", "--sentence_format=sentence", f"--data={shapes_dir}",
           "--target_splits=train,val", "--temperature=50", f"--out_dir={out}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    texts, emb = ce.read_corpus(str(out))
    assert texts == ["A red circle.", "Two blue squares.", "A green star."]
    meta = json.loads((out / ce.META_FILE).read_text())
    assert meta["targets"] == {"train": 40, "val": 8} and meta["temperature"] == 50.0
    from tfcaption.training.split_features import eval_features

    data = {"dir": shapes_dir, "train_split": "train", "val_split": "val", "test_split": "test"}
    feats, ids, _ = eval_features(data, "val", str(out / ce.FEATURES_DIR))
    targets = ce.read_targets(str(out), "val")
    np.testing.assert_allclose(np.stack([targets[i] for i in ids]),
                               _reference_targets(feats, emb, 50.0), rtol=1e-4, atol=1e-4)
    assert "wrote" in proc.stdout
