"""The Hugging Face ViT converter: a random-weight transformers ViTModel (every parameter
perturbed), saved by ``save_pretrained`` in the released key layout, gives the same hidden
states in keras-hub's ViTBackbone under each prefix the checkpoints use; wrong checkpoints
fail naming the key."""

import numpy as np
import pytest
import torch
from keras_hub.models import ViTBackbone
from transformers import ViTConfig, ViTModel
from vit_gpt2_checkpoint import perturb_all

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.checkpoint_reader import find_weights_file, read_state_dict
from tfcaption.backbones.vit_weights import assign_weights, config_from_hf, find_prefix

TINY = dict(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=32, layer_norm_eps=1e-12)


def random_vit(seed=0, **overrides):
    torch.manual_seed(seed)
    return perturb_all(ViTModel(ViTConfig(**{**TINY, **overrides})))


def converted(model, tmp_path, prefix=""):
    model.save_pretrained(tmp_path / "vit")
    saved = read_state_dict(find_weights_file(tmp_path / "vit"))
    assert "encoder.layer.0.attention.attention.query.weight" in saved  # the released layout
    state = {prefix + k: v for k, v in saved.items()}
    backbone = ViTBackbone(**config_from_hf(model.config.to_dict(), "config.json"))
    assert find_prefix(state, "ckpt") == prefix
    assign_weights(backbone, state, prefix, "ckpt")
    return backbone, state


@pytest.mark.parametrize("prefix", ["", "vit.", "encoder."])
def test_hidden_states_equal_transformers(prefix, tmp_path):
    model = random_vit()
    backbone, _ = converted(model, tmp_path, prefix)
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    with torch.no_grad():
        theirs = model(pixel_values=torch.from_numpy(images.transpose(0, 3, 1, 2)))
    ours = backbone.predict_on_batch(images)
    assert ours.shape == (2, 17, 16)
    np.testing.assert_allclose(ours, theirs.last_hidden_state.numpy(), atol=1e-4, rtol=1e-4)
    assert backbone.get_config()["layer_norm_epsilon"] == 1e-12


def test_other_modules_keys_are_left_alone_and_the_pooler_is_ignored(tmp_path):
    backbone, state = converted(random_vit(), tmp_path, "encoder.")
    state["decoder.transformer.wte.weight"] = np.zeros((5, 16), np.float32)
    assert assign_weights(backbone, state, "encoder.", "ckpt") > 0
    assert any(k.startswith("encoder.pooler.") for k in state)


def test_mismatches_are_named(tmp_path):
    backbone, state = converted(random_vit(), tmp_path)
    del state["encoder.layer.1.output.dense.bias"]
    state["encoder.layer.0.intermediate.dense.weight"] = np.zeros((31, 16), np.float32)
    state["encoder.layer.0.extra"] = np.zeros(1, np.float32)
    with pytest.raises(CheckpointMismatchError) as error:
        assign_weights(backbone, state, "", "ckpt")
    message = str(error.value)
    for key in ("encoder.layer.1.output.dense.bias", "encoder.layer.0.intermediate.dense.weight",
                "encoder.layer.0.extra"):
        assert key in message, message


def test_unsupported_settings_are_named():
    with pytest.raises(ValueError, match="hidden_act='relu'"):
        config_from_hf({**ViTConfig(**TINY).to_dict(), "hidden_act": "relu"}, "config.json")
    with pytest.raises(ValueError, match="model_type is 'gpt2'"):
        config_from_hf({"model_type": "gpt2"}, "config.json")
