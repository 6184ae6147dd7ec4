"""GPT-2 with cross-attention: a random-weight transformers GPT2LMHeadModel with
``add_cross_attention`` (every parameter perturbed), saved in the released layout, converts
into GPT2CrossBackbone with logits equal to transformers' for the same encoder states."""

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel
from vit_gpt2_checkpoint import perturb_all

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.checkpoint_reader import find_weights_file, read_state_dict
from tfcaption.backbones.gpt2_cross_backbone import GPT2CrossBackbone
from tfcaption.backbones.gpt2_weights import assign_weights, config_from_hf

TINY = dict(vocab_size=60, n_positions=24, n_embd=16, n_layer=2, n_head=2,
            add_cross_attention=True, layer_norm_epsilon=1e-5)


def random_gpt2(seed=0):
    torch.manual_seed(seed)
    return perturb_all(GPT2LMHeadModel(GPT2Config(**TINY)))


def convert(model, tmp_path, prefix="transformer."):
    model.save_pretrained(tmp_path / "gpt2")
    saved = read_state_dict(find_weights_file(tmp_path / "gpt2"))
    state = {("decoder." + k if prefix.startswith("decoder.") else k): v
             for k, v in saved.items()}
    config = config_from_hf(model.config.to_dict(), "config.json", cross_attention=True)
    config.pop("dropout")
    backbone = GPT2CrossBackbone(**config, dropout=0.0)
    return backbone, state


@pytest.mark.parametrize("prefix", ["transformer.", "decoder.transformer."])
def test_logits_equal_transformers(prefix, tmp_path):
    model = random_gpt2()
    backbone, state = convert(model, tmp_path, prefix)
    assert assign_weights(backbone, state, prefix, "ckpt") > 0
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 60, (2, 7)).astype("int32")
    encoder = rng.normal(size=(2, 5, 16)).astype("float32")
    with torch.no_grad():
        theirs = model(input_ids=torch.from_numpy(ids).long(),
                       encoder_hidden_states=torch.from_numpy(encoder)).logits.numpy()
    hidden = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids),
                       "encoder_sequence": encoder})
    ours = np.asarray(backbone.lm_logits(hidden))
    np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-4)
    # the encoder states matter: other states, other logits
    other = np.asarray(backbone.lm_logits(backbone({"token_ids": ids,
                                                    "padding_mask": np.ones_like(ids),
                                                    "encoder_sequence": encoder[::-1]})))
    assert np.abs(other - ours).max() > 1e-2


def test_a_missing_cross_attention_key_is_named(tmp_path):
    backbone, state = convert(random_gpt2(), tmp_path)
    del state["transformer.h.1.crossattention.q_attn.weight"]
    with pytest.raises(CheckpointMismatchError, match=r"transformer\.h\.1\.crossattention\.q_attn"):
        assign_weights(backbone, state, "transformer.", "ckpt")


def test_cross_attention_configs_need_the_cross_backbone():
    with pytest.raises(ValueError, match="add_cross_attention=True"):
        config_from_hf(GPT2Config(**TINY).to_dict(), "config.json")
    assert config_from_hf(GPT2Config(**TINY).to_dict(), "config.json",
                          cross_attention=True)["hidden_dim"] == 16


@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-4), ("bfloat16", 0.15)])
def test_cached_decoding_step_by_step_equals_the_forward_pass(tmp_path, dtype, tolerance):
    import tensorflow as tf

    from tfcaption.backbones.gpt2_decoding import (cached_forward, cross_keys_values,
                                                   decoding_weights, init_cache)

    backbone, state = convert(random_gpt2(1), tmp_path)
    assign_weights(backbone, state, "transformer.", "ckpt")
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 60, (3, 6)).astype("int32")
    encoder = rng.normal(size=(3, 4, 16)).astype("float32")
    full = np.asarray(backbone.lm_logits(backbone(
        {"token_ids": ids, "padding_mask": np.ones_like(ids), "encoder_sequence": encoder})))
    weights = decoding_weights(backbone, dtype)
    cross = cross_keys_values(weights, encoder, backbone.num_heads)
    assert cross[0][0].shape == (3, 2, 4, 8)  # [B, heads, encoder length, head dim]
    cache = init_cache(backbone, 3, 6)
    embeddings = tf.gather(backbone.token_embedding.embeddings, ids)
    logits, cache = cached_forward(weights, embeddings[:, :2], cache, 0, backbone.num_heads,
                                   backbone.layer_norm_epsilon, cross=cross)  # a prompt of 2
    steps = [logits]
    for t in range(2, 6):  # then one token at a time
        logits, cache = cached_forward(weights, embeddings[:, t:t + 1], cache, t,
                                       backbone.num_heads, backbone.layer_norm_epsilon,
                                       cross=cross)
        steps.append(logits)
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=tolerance, rtol=tolerance)
    with pytest.raises(ValueError, match="cross-attention"):
        cached_forward(weights, embeddings[:, :1], init_cache(backbone, 3, 6), 0,
                       backbone.num_heads, backbone.layer_norm_epsilon)


def test_repeated_rows_read_their_images_keys_without_copies(tmp_path):
    """Rows ordered b * R + r (beams, samples) attend to image b's keys, given once."""
    import tensorflow as tf

    from tfcaption.backbones.gpt2_decoding import (cached_forward, cross_keys_values,
                                                   decoding_weights, init_cache)

    backbone, state = convert(random_gpt2(2), tmp_path)
    assign_weights(backbone, state, "transformer.", "ckpt")
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 60, (2, 3, 4)).astype("int32")  # 2 images x 3 rows, 4 tokens
    encoder = rng.normal(size=(2, 5, 16)).astype("float32")
    flat_ids = ids.reshape(6, 4)
    full = np.asarray(backbone.lm_logits(backbone(
        {"token_ids": flat_ids, "padding_mask": np.ones_like(flat_ids),
         "encoder_sequence": np.repeat(encoder, 3, axis=0)})))
    weights = decoding_weights(backbone, "float32")
    cross = cross_keys_values(weights, encoder, backbone.num_heads)  # 2 rows, not 6
    embeddings = tf.gather(backbone.token_embedding.embeddings, flat_ids)
    logits, _ = cached_forward(weights, embeddings, init_cache(backbone, 6, 4), 0,
                               backbone.num_heads, backbone.layer_norm_epsilon, cross=cross)
    np.testing.assert_allclose(np.asarray(logits), full, atol=1e-4, rtol=1e-4)
