"""The lean cached GPT-2 forward used for decoding: equal to keras-hub's own GPT-2, in
chunks and steps, eagerly and under XLA; bfloat16 and int8 weights close to float32; the
option's plumbing through the captioner (a copy made once, refreshed on request) and the
caption command."""

import glob
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcaption.backbones import gpt2_decoding
from tfcaption.backbones.gpt2_backbone import GPT2Backbone, lm_logits
from tfcaption.models.clipcap.clipcap_builder import build_mapper
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.models.clipcap.clipcap_model import ClipCapModel

EPSILON = 1e-5


def _backbone(seed=3):
    keras.utils.set_random_seed(seed)
    gpt = GPT2Backbone(vocabulary_size=211, num_layers=3, num_heads=4, hidden_dim=32,
                       intermediate_dim=80, max_sequence_length=40, dropout=0.0,
                       layer_norm_epsilon=EPSILON)
    rng = np.random.default_rng(seed)
    for weight in gpt.weights:  # non-trivial LayerNorms and biases
        value = weight.numpy()
        weight.assign(value + rng.normal(0, 0.1, value.shape).astype(value.dtype))
    return gpt


def _reference_logits(gpt, embeddings):
    """keras-hub's own uncached forward over input embeddings (positions from 0)."""
    x = gpt.embeddings_add((embeddings, gpt.position_embedding(embeddings)))
    for layer in gpt.transformer_layers:
        x = layer(x)
    return lm_logits(gpt, gpt.layer_norm(x)).numpy()


@pytest.mark.parametrize("jit_compile", [False, True])
def test_chunks_and_steps_equal_keras_hub_gpt2(jit_compile):
    gpt = _backbone()
    embeddings = tf.random.normal([2, 9, 32], seed=1)
    want = _reference_logits(gpt, embeddings)

    @tf.function(jit_compile=jit_compile)
    def chunked(embeddings):
        weights = gpt2_decoding.decoding_weights(gpt)
        cache = gpt2_decoding.init_cache(gpt, 2, 12)
        out = []
        for start, stop in ((0, 4), (4, 5), (5, 6), (6, 9)):  # a prefix, steps, a chunk
            logits, cache = gpt2_decoding.cached_forward(
                weights, embeddings[:, start:stop], cache, start, gpt.num_heads, EPSILON)
            out.append(logits)
        return tf.concat(out, 1), cache

    got, cache = chunked(embeddings)
    np.testing.assert_allclose(got.numpy(), want, atol=2e-5, rtol=1e-4)
    assert all(tuple(c.shape) == (2, 2, 4, 12, 8) for c in cache) and len(cache) == 3
    # positions not yet written stay zero
    assert np.all(cache[0].numpy()[:, :, :, 9:] == 0)
    assert np.any(cache[0].numpy()[:, :, :, 8] != 0)


@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
def test_reduced_weights_are_close_to_float32_and_stored_out_in(dtype):
    gpt = _backbone()
    weights = gpt2_decoding.decoding_weights(gpt, dtype)
    block = weights["blocks"][0]
    stored = block["c_attn"][0]
    assert stored[0].dtype == dtype and tuple(stored[0].shape) == (96, 32)
    assert len(stored) == (2 if dtype == "int8" else 1)
    assert block["ln_1"][0].dtype == tf.float32 and block["c_attn"][1].dtype == tf.float32
    assert tuple(weights["lm_head"][0].shape) == (211, 32)
    embeddings = tf.random.normal([2, 6, 32], seed=2)
    cache = gpt2_decoding.init_cache(gpt, 2, 6)
    got, _ = gpt2_decoding.cached_forward(weights, embeddings, cache, 0, 4, EPSILON)
    want = _reference_logits(gpt, embeddings)
    error = np.abs(got.numpy() - want).max()
    assert 1e-4 < error < 0.05 * np.abs(want).max(), error  # rounded, but close
    with pytest.raises(ValueError, match="'float16' is not one of"):
        gpt2_decoding.decoding_weights(gpt, "float16")


def test_quantize_rows_scales_each_output_row():
    matrix = np.random.default_rng(0).normal(size=(5, 64)).astype(np.float32)
    matrix[1] *= 100.0  # a row's scale does not coarsen the others
    matrix[3] = 0.0
    rows, scale = gpt2_decoding.quantize_rows(matrix)
    assert rows.dtype == tf.int8 and tuple(scale.shape) == (5,)
    assert np.abs(rows.numpy()).max() == 127
    np.testing.assert_allclose(scale.numpy(), np.where(
        np.abs(matrix).max(1) > 0, np.abs(matrix).max(1) / 127, 1.0), rtol=1e-6)
    restored = rows.numpy() * scale.numpy()[:, None]
    assert np.all(np.abs(restored - matrix) <= scale.numpy()[:, None] / 2 + 1e-6)
    assert np.all(restored[3] == 0)


def _tiny_clipcap():
    keras.utils.set_random_seed(1)
    mapper = build_mapper("mlp", 16, 32, prefix_length=4)
    return ClipCapModel(mapper, _backbone())


@pytest.mark.parametrize("dtype", ["bfloat16", "int8"])
def test_decoding_with_a_reduced_copy(dtype):
    model = _tiny_clipcap()
    prefix = tf.random.normal([8, 16], seed=4)
    config = dict(method="greedy", max_length=8, stop_token_ids=[])
    seed = tf.constant([0, 0])
    full = model.generate_function(config)(prefix, seed)
    weights = model.decoding_weights(dtype)
    reduced = model.generate_function(config, weights=weights)
    assert reduced is not model.generate_function(config)
    assert reduced is model.generate_function(config, weights=weights)
    half = reduced(prefix, seed)
    agree = np.mean(full.token_ids.numpy() == half.token_ids.numpy())
    assert agree > 0.5, agree  # the same model, rounded: mostly the same tokens
    np.testing.assert_allclose(half.scores.numpy(), full.scores.numpy(), rtol=0.2)


def test_captioner_copies_the_weights_once_and_refreshes_them():
    model = _tiny_clipcap()
    prefix = tf.random.normal([8, 16], seed=4)
    def captioner_of(model):  # ids as text: this test is about the weights
        captioner = ClipCapCaptioner(model, tokenizer=None, weights_dtype="int8")
        captioner.detokenize = lambda ids: " ".join(map(str, ids))
        return captioner

    captioner = captioner_of(model)
    config = dict(method="greedy", max_length=8, stop_token_ids=[])
    first = captioner.generate(prefix, config, return_ids=True, return_scores=True)
    copy = captioner.decoding_weights()
    assert copy is captioner.decoding_weights()
    assert copy["blocks"][0]["c_fc"][0][0].dtype == tf.int8
    # new model weights: the copy is stale until refreshed, then decodes as a new captioner
    for weight in model.gpt2.transformer_layers[0].weights:
        weight.assign(weight * 1.5)
    stale = captioner.generate(prefix, config, return_scores=True)
    np.testing.assert_array_equal(stale["scores"], first["scores"])
    captioner.refresh_weights()
    fresh = captioner.generate(prefix, config, return_scores=True)
    again = captioner_of(model).generate(prefix, config, return_scores=True)
    np.testing.assert_allclose(fresh["scores"], again["scores"], rtol=1e-5)
    assert not np.allclose(fresh["scores"], first["scores"])
    assert captioner.decoding_weights() is copy
    assert ClipCapCaptioner(model, tokenizer=None).decoding_weights() is None
    with pytest.raises(ValueError, match="weights_dtype 'int4' is not one of"):
        ClipCapCaptioner(model, tokenizer=None, weights_dtype="int4")


def test_caption_command_weights_dtype(tmp_path, shapes_dir):
    sys.path.insert(0, os.path.dirname(__file__))
    from tiny_captioner import make_tiny_clipcap_dir

    model_dir = make_tiny_clipcap_dir(str(tmp_path / "clipcap"), shapes_dir)
    image = sorted(glob.glob(os.path.join(shapes_dir, "images", "**", "*.jpg"),
                             recursive=True))[0]

    def caption(model, *flags):
        return subprocess.run([sys.executable, "-m", "tfcaption.caption", f"--model={model}",
                               *flags, image], capture_output=True, text=True, timeout=600)

    for dtype in ("bfloat16", "int8"):
        reduced = caption(model_dir, f"--weights_dtype={dtype}", "--max_length=6")
        assert reduced.returncode == 0, reduced.stderr
        lines = reduced.stdout.splitlines()
        assert len(lines) == 1 and lines[0].startswith(image + "\t"), reduced.stdout
    bad = caption(model_dir, "--weights_dtype=int4")
    assert bad.returncode != 0 and "weights_dtype" in bad.stderr
