"""CLIP ModifiedResNet image tower: conversion from OpenAI-format checkpoints and parity.

Parameter counts compare PyTorch ``parameters()`` with Keras ``trainable_weights`` (conv /
BN affine / attention-pool weights) and, separately, the BN running statistics (PyTorch
buffers ``running_mean`` / ``running_var``, Keras ``moving_mean`` / ``moving_variance``);
``num_batches_tracked`` has no Keras counterpart and is not counted.
"""

import copy
import os
import shutil
import types

import keras
import numpy as np
import pytest
import torch

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.clip_resnet import CLIP_RESNET_VARIANTS, ClipResNet
from tfcaption.backbones.clip_resnet_loader import infer_clip_resnet_config, \
    load_clip_resnet, save_clip_resnet
from tfcaption.backbones.weight_map import WeightMap
from torch_modified_resnet import ClipWithTextStub, ModifiedResNet, \
    half_conv_and_linear, parameter_counts, randomize

TINY = dict(layers=(1, 2, 1, 1), output_dim=16, heads=4, input_resolution=64, width=8)
TINY_CONFIG = {"stage_blocks": [1, 2, 1, 1], "width": 8, "output_dim": 16, "heads": 4,
               "image_resolution": 64}


def _images(resolution, batch=2, seed=0):
    return np.random.default_rng(seed).standard_normal(
        (batch, resolution, resolution, 3)).astype(np.float32)


def _torch_features(visual, images):
    with torch.no_grad():
        return visual(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).numpy()


def _keras_counts(model):
    size = lambda weights: sum(int(np.prod(w.shape)) for w in weights)  # noqa: E731
    return size(model.trainable_weights), size(model.non_trainable_weights)


def _assert_parity(model, visual, images):
    ref = _torch_features(visual, images)
    got = np.asarray(model.encode_image(images))
    assert got.shape == ref.shape
    scale = float(np.max(np.abs(ref)))
    assert scale > 0 and float(np.std(ref)) > 0, "degenerate reference output"
    worst = float(np.max(np.abs(got - ref)))
    assert worst <= 1e-4 * scale, f"max|diff| {worst:.3g} > 1e-4 * max|ref| ({scale:.3g})"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny randomised reference saved as a full-CLIP .pt, a visual-only .pt and a
    TorchScript archive with float16 conv/linear weights (like OpenAI's releases)."""
    out = tmp_path_factory.mktemp("clip_resnet")
    torch.manual_seed(0)
    visual = randomize(ModifiedResNet(**TINY), seed=1)
    full = ClipWithTextStub(visual, image_resolution=64).eval()
    paths = types.SimpleNamespace(full=str(out / "full.pt"), visual=str(out / "visual.pt"),
                                  jit=str(out / "RN_tiny.pt"), root=out)
    torch.save(full.state_dict(), paths.full)
    torch.save(visual.state_dict(), paths.visual)
    half = half_conv_and_linear(copy.deepcopy(full))
    torch.jit.save(torch.jit.script(half), paths.jit)
    half_as_float = copy.deepcopy(half.visual).float().eval()
    return types.SimpleNamespace(visual=visual, half_visual=half_as_float, paths=paths)


@pytest.fixture(scope="module")
def tiny_model_dir(tiny):
    loaded = load_clip_resnet(tiny.paths.full)
    return loaded, save_clip_resnet(loaded, tiny.paths.root / "model_dir")


@pytest.mark.parametrize("which", ["full", "visual"])
def test_state_dict_parity(tiny, which):
    loaded = load_clip_resnet(getattr(tiny.paths, which))
    assert loaded.model_type == "clip_resnet" and loaded.tokenizer is None
    assert isinstance(loaded.model, ClipResNet)
    assert loaded.config == TINY_CONFIG
    assert loaded.preprocessor.get_config()["policy"] == "clip"
    assert loaded.preprocessor.size == 64
    assert _keras_counts(loaded.model) == parameter_counts(tiny.visual)
    _assert_parity(loaded.model, tiny.visual, _images(64))


def test_torchscript_parity(tiny):
    with open(tiny.paths.jit, "rb") as f:
        assert f.read(2) == b"PK"  # a zip archive holding code/, not a pickle
    loaded = load_clip_resnet(tiny.paths.jit)
    assert loaded.config == TINY_CONFIG
    assert _keras_counts(loaded.model) == parameter_counts(tiny.half_visual)
    _assert_parity(loaded.model, tiny.half_visual, _images(64, seed=1))


def test_model_dir_round_trip(tiny_model_dir):
    loaded, path = tiny_model_dir
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o777 & ~umask  # as os.mkdir, not mkdtemp's 0700
    again = load_clip_resnet(path)
    assert again.model_type == "clip_resnet" and again.config == loaded.config
    assert again.preprocessor.get_config() == loaded.preprocessor.get_config()
    images = _images(64, seed=2)
    np.testing.assert_array_equal(np.asarray(again.model.encode_image(images)),
                                  np.asarray(loaded.model.encode_image(images)))
    np.testing.assert_array_equal(np.asarray(again.model(images)),
                                  np.asarray(again.model.encode_image(images)))
    config = loaded.model.get_config()
    rebuilt = ClipResNet.from_config(config)
    assert rebuilt.get_config() == config
    assert rebuilt.count_params() == loaded.model.count_params()


def test_mismatch_names_missing_unexpected_and_mis_shaped(tiny, tmp_path):
    state = tiny.visual.state_dict()
    state = {"visual." + key: value.clone() for key, value in state.items()}
    del state["visual.layer3.0.bn1.running_var"]
    state["visual.layer2.0.conv9.weight"] = torch.randn(3)
    state["visual.layer2.1.conv2.weight"] = torch.randn(16, 16, 1, 1)
    state["visual.layer2.0.conv3.weight"] = torch.randn(64, 16)  # 2-D: a Linear's layout
    path = str(tmp_path / "bad.pt")
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError) as info:
        load_clip_resnet(path)
    error = info.value
    assert error.missing == ["visual.layer3.0.bn1.running_var"]
    assert error.unexpected == ["visual.layer2.0.conv9.weight"]
    assert error.mis_shaped == [("visual.layer2.0.conv3.weight", (64, 16), (64, 16, 1, 1)),
                                ("visual.layer2.1.conv2.weight", (16, 16, 1, 1),
                                 (16, 16, 3, 3))]
    for key in ("layer3.0.bn1.running_var", "layer2.0.conv9.weight", "layer2.1.conv2.weight",
                "layer2.0.conv3.weight: checkpoint (64, 16) vs expected (64, 16, 1, 1)", path):
        assert key in str(error)


def test_weight_map_names_forgotten_variables_and_failed_conversions():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="head")],
                             name="net")
    head = model.get_layer("head")
    state = {"head.weight": np.ones((2, 3), np.float32), "head.bias": np.ones(2, np.float32)}
    weights = WeightMap(state, "ckpt")
    weights.add(head.kernel, "head.weight", np.transpose, shape=(2, 3))
    with pytest.raises(ValueError, match=r"maps no checkpoint key .*head/bias"):
        weights.apply(model=model)
    weights.add(head.bias, "head.bias")
    assert weights.apply(model=model) == 2
    np.testing.assert_array_equal(head.kernel.numpy(), np.ones((3, 2)))

    broken = WeightMap(state, "ckpt")
    broken.add(head.kernel, "head.weight", lambda w: w.reshape(6, 1), shape=(2, 3))
    broken.add(head.bias, "head.bias", lambda b: b[5], shape=(2,))
    with pytest.raises(CheckpointMismatchError) as info:
        broken.apply(model=model)
    assert [key for key, _ in info.value.unconvertible] == ["head.bias", "head.weight"]
    assert "head.bias: IndexError" in str(info.value)
    assert "head.weight: converts to (6, 1) but net/head/kernel is (3, 2)" in str(info.value)


def test_dtype_policy_is_applied_and_serialised():
    model = ClipResNet(**TINY_CONFIG, dtype="bfloat16")
    config = model.get_config()
    assert keras.dtype_policies.get(config["dtype"]).name == "bfloat16"
    rebuilt = ClipResNet.from_config(config)
    assert rebuilt.get_config() == config
    blocks = rebuilt.get_layer("layer2").blocks
    policies = {layer.dtype_policy.name for layer in [
        rebuilt.get_layer("conv1"), rebuilt.get_layer("bn1"), blocks[0].conv3,
        blocks[0].downsample[1], rebuilt.get_layer("attnpool").c_proj]}
    assert policies == {"bfloat16"}
    assert keras.backend.standardize_dtype(rebuilt(_images(64, batch=1)).dtype) == "bfloat16"


def test_missing_files_are_named(tiny_model_dir, tmp_path):
    missing = str(tmp_path / "RN50.pt")
    with pytest.raises(FileNotFoundError, match="RN50.pt"):
        load_clip_resnet(missing)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_clip_resnet(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir[1], broken)
    os.remove(broken / "model.weights.h5")
    with pytest.raises(FileNotFoundError, match="model.weights.h5"):
        load_clip_resnet(broken)


def test_rejects_vit_checkpoint(tmp_path):
    path = str(tmp_path / "ViT-B-32.pt")
    torch.save({"visual.class_embedding": torch.randn(8), "visual.proj": torch.randn(8, 4),
                "visual.conv1.weight": torch.randn(8, 3, 32, 32)}, path)
    with pytest.raises(ValueError, match="ViT"):
        load_clip_resnet(path)


@pytest.mark.parametrize("variant", sorted(CLIP_RESNET_VARIANTS))
def test_infers_released_architectures(variant):
    expected = CLIP_RESNET_VARIANTS[variant]
    with torch.device("meta"):  # shapes only, no memory
        visual = ModifiedResNet(expected["stage_blocks"], expected["output_dim"],
                                expected["width"] * 32 // 64, expected["image_resolution"],
                                expected["width"])
    state = {"visual." + key: value for key, value in visual.state_dict().items()}
    config = infer_clip_resnet_config(state)
    assert config == dict(expected, stage_blocks=list(expected["stage_blocks"]),
                          heads=expected["width"] // 2)


@pytest.mark.slow
def test_rn50x4_size_parity(tmp_path):
    torch.manual_seed(0)
    expected = CLIP_RESNET_VARIANTS["RN50x4"]
    visual = randomize(ModifiedResNet(expected["stage_blocks"], expected["output_dim"], 40,
                                      expected["image_resolution"], expected["width"]), seed=2)
    path = str(tmp_path / "RN50x4_visual.pt")
    torch.save({"visual." + key: value for key, value in visual.state_dict().items()}, path)
    loaded = load_clip_resnet(path)
    params, stats = parameter_counts(visual)
    print(f"RN50x4 visual tower: {params:,} parameters (+{stats:,} BN running-stat values)")
    assert _keras_counts(loaded.model) == (params, stats)
    assert 87.0e6 < params < 87.2e6
    _assert_parity(loaded.model, visual, _images(288, batch=2, seed=3))
