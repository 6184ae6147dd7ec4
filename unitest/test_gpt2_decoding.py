"""The lean cached GPT-2 forward used for decoding: equal to keras-hub's own GPT-2, in
chunks and steps, eagerly and under XLA; bfloat16 weights close to float32; the option's
plumbing through the captioner and the caption command."""

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


def test_bfloat16_weights_are_close_to_float32_and_stored_transposed():
    gpt = _backbone()
    weights = gpt2_decoding.decoding_weights(gpt, "bfloat16")
    block = weights["blocks"][0]
    assert block["c_attn"][0].dtype == tf.bfloat16 and tuple(block["c_attn"][0].shape) == (96, 32)
    assert block["ln_1"][0].dtype == tf.float32 and block["c_attn"][1].dtype == tf.float32
    embeddings = tf.random.normal([2, 6, 32], seed=2)
    cache = gpt2_decoding.init_cache(gpt, 2, 6)
    got, _ = gpt2_decoding.cached_forward(weights, embeddings, cache, 0, 4, EPSILON)
    want = _reference_logits(gpt, embeddings)
    error = np.abs(got.numpy() - want).max()
    assert 1e-4 < error < 0.05 * np.abs(want).max(), error  # rounded, but close
    with pytest.raises(ValueError, match="'float16' is not one of"):
        gpt2_decoding.decoding_weights(gpt, "float16")


def _tiny_clipcap():
    keras.utils.set_random_seed(1)
    mapper = build_mapper("mlp", 16, 32, prefix_length=4)
    return ClipCapModel(mapper, _backbone())


def test_captioner_weights_dtype_decodes_and_is_checked():
    model = _tiny_clipcap()
    prefix = tf.random.normal([8, 16], seed=4)
    config = dict(method="greedy", max_length=8, stop_token_ids=[])
    seed = tf.constant([0, 0])
    full = model.generate_function(config)(prefix, seed)
    half = model.generate_function(config, weights_dtype="bfloat16")(prefix, seed)
    assert model.generate_function(config, weights_dtype="bfloat16") is not \
        model.generate_function(config)
    agree = np.mean(full.token_ids.numpy() == half.token_ids.numpy())
    assert agree > 0.5, agree  # the same model, rounded: mostly the same tokens
    np.testing.assert_allclose(half.scores.numpy(), full.scores.numpy(), rtol=0.2)
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

    half = caption(model_dir, "--weights_dtype=bfloat16", "--max_length=6")
    assert half.returncode == 0, half.stderr
    lines = half.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(image + "\t"), half.stdout
    bad = caption(model_dir, "--weights_dtype=int8")
    assert bad.returncode != 0 and "weights_dtype" in bad.stderr
