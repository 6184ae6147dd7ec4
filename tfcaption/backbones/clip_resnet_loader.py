"""Load the OpenAI CLIP ResNet image tower (RN50 ... RN50x64) into :class:`ClipResNet`.

Accepted sources:

* a PyTorch ``state_dict`` file (read with ``weights_only=True``), e.g. ``torch.save(
  model.state_dict(), "rn50.pt")`` of an OpenAI ``clip`` model;
* a TorchScript archive, i.e. what ``clip.load`` downloads (``RN50x4.pt``; its conv and
  linear weights are float16 and are read as float32);
* a tfcaption model dir written by :func:`save_clip_resnet`.

Only the image tower is loaded. Keys are the OpenAI ones under ``visual.``; when no key
starts with ``visual.`` the file is taken to hold the visual module alone (keys such as
``conv1.weight``). The text tower of a full CLIP checkpoint (``transformer.*``,
``token_embedding.weight``, ``positional_embedding``, ``ln_final.*``, ``text_projection``,
``logit_scale``) and the ``input_resolution`` / ``context_length`` / ``vocab_size`` entries
of the JIT archives are ignored by the patterns in :data:`IGNORED_TEXT_KEYS`; so are the
BatchNorm ``num_batches_tracked`` counters (unused at inference). Every other key must be
consumed: missing, unexpected and mis-shaped ``visual.*`` keys are all reported at once in a
:class:`~tfcaption.backbones.checkpoint_mismatch_error.CheckpointMismatchError`.

The architecture is inferred from shapes as OpenAI's ``build_model`` does: blocks per stage
from the ``visual.layerS.I.`` indices, ``width`` from ``visual.layer1.0.conv1.weight``,
``output_dim`` from ``visual.attnpool.c_proj.weight``, the image resolution as
``32 * sqrt(rows(visual.attnpool.positional_embedding) - 1)`` and ``width * 32 // 64`` heads.

Note on ``downsample``: in the OpenAI code the shortcut is ``Sequential("-1": AvgPool2d,
"0": Conv2d, "1": BatchNorm2d)``, so the checkpoint keys are ``downsample.0.weight`` (conv)
and ``downsample.1.*`` (BatchNorm); the pool has no weights.
"""

import math
import os
import re

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.checkpoint_reader import read_state_dict
from tfcaption.backbones.clip_resnet import ClipResNet, default_heads
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.backbones.model_dir import CONFIG_FILE, TYPE_KEY, is_model_dir, \
    load_backbone_dir, save_model_dir
from tfcaption.backbones.weight_map import WeightMap
from tfcaption.data.image_preprocessor import ImagePreprocessor

MODEL_TYPE = "clip_resnet"
VISUAL_PREFIX = "visual."

# Text-tower and metadata entries of a full OpenAI CLIP checkpoint (re.fullmatch).
IGNORED_TEXT_KEYS = (
    r"transformer\..*",
    r"token_embedding\.weight",
    r"positional_embedding",
    r"ln_final\.(weight|bias)",
    r"text_projection",
    r"logit_scale",
    r"input_resolution",
    r"context_length",
    r"vocab_size",
)
_VIT_MARKERS = ("proj", "class_embedding", "transformer.resblocks.0.ln_1.weight")


def _visual_prefix(state):
    return VISUAL_PREFIX if any(k.startswith(VISUAL_PREFIX) for k in state) else ""


def _stage_blocks(state, prefix):
    counts = []
    for stage in range(1, 5):
        head = f"{prefix}layer{stage}."
        indices = {int(m.group(1)) for m in (re.match(r"(\d+)\.", k[len(head):])
                                             for k in state if k.startswith(head)) if m}
        # max + 1, so a gap shows up as missing keys; an absent stage as missing layerS.0.*.
        counts.append(max(indices) + 1 if indices else 1)
    return tuple(counts)


def infer_clip_resnet_config(state, source="checkpoint"):
    """``{stage_blocks, width, output_dim, heads, image_resolution}`` from array shapes."""
    prefix = _visual_prefix(state)
    vit = [prefix + k for k in _VIT_MARKERS if prefix + k in state]
    if vit:
        raise ValueError(f"{source} holds a CLIP ViT image tower (keys {vit}), not a "
                         f"ResNet; use the CLIP ViT loader")
    needed = [prefix + k for k in ("layer1.0.conv1.weight", "attnpool.positional_embedding",
                                   "attnpool.c_proj.weight")]
    absent = [k for k in needed if k not in state]
    if absent:  # the architecture cannot be inferred, so nothing else can be checked
        raise CheckpointMismatchError(source, missing=absent)
    width = int(state[needed[0]].shape[0])
    positions = int(state[needed[1]].shape[0]) - 1
    grid = int(round(math.sqrt(max(positions, 0))))
    if positions < 1 or grid * grid != positions:
        raise ValueError(f"{source}: {needed[1]} has {positions + 1} rows; expected "
                         f"grid**2 + 1 for a square grid")
    return {"stage_blocks": list(_stage_blocks(state, prefix)), "width": width,
            "output_dim": int(state[needed[2]].shape[0]), "heads": default_heads(width),
            "image_resolution": 32 * grid}


def assign_clip_resnet_weights(model, state, source="checkpoint"):
    """Copies an OpenAI-format state dict into a built :class:`ClipResNet` (all or nothing);
    returns the number of variables assigned."""
    prefix = _visual_prefix(state)
    ignore = IGNORED_TEXT_KEYS + (re.escape(prefix) + r".*num_batches_tracked",)
    weights = WeightMap(state, source, ignore=ignore)
    for i in (1, 2, 3):
        weights.add_conv(model.get_layer(f"conv{i}"), f"{prefix}conv{i}")
        weights.add_batch_norm(model.get_layer(f"bn{i}"), f"{prefix}bn{i}")
    for stage in range(1, 5):
        for index, block in enumerate(model.get_layer(f"layer{stage}").blocks):
            key = f"{prefix}layer{stage}.{index}"
            for i in (1, 2, 3):
                weights.add_conv(getattr(block, f"conv{i}"), f"{key}.conv{i}")
                weights.add_batch_norm(getattr(block, f"bn{i}"), f"{key}.bn{i}")
            if block.downsample is not None:
                weights.add_conv(block.downsample[0], f"{key}.downsample.0")
                weights.add_batch_norm(block.downsample[1], f"{key}.downsample.1")
    attnpool = model.get_layer("attnpool")
    weights.add(attnpool.positional_embedding, f"{prefix}attnpool.positional_embedding")
    for name in ("q_proj", "k_proj", "v_proj", "c_proj"):
        weights.add_dense(getattr(attnpool, name), f"{prefix}attnpool.{name}")
    return weights.apply(model=model)


def load_clip_resnet(path) -> LoadedBackbone:
    """CLIP ResNet checkpoint (state dict / TorchScript ``.pt``) or tfcaption model dir ->
    :class:`LoadedBackbone` (model_type ``"clip_resnet"``, preprocessor
    ``ImagePreprocessor("clip", image_resolution)``, tokenizer ``None``)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        config_path = os.path.join(path, CONFIG_FILE)
        if not os.path.isfile(config_path):
            raise FileNotFoundError(f"{path} is a directory but not a tfcaption model dir: "
                                    f"missing file: {config_path}")
        if not is_model_dir(path):
            raise ValueError(f"{path} is not a tfcaption model dir: {CONFIG_FILE} has no "
                             f"{TYPE_KEY!r}; pass a CLIP .pt file or a model dir")
        return load_backbone_dir(path, MODEL_TYPE, ClipResNet)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CLIP ResNet checkpoint not found: {path}")
    state = read_state_dict(path)
    config = infer_clip_resnet_config(state, source=path)
    model = ClipResNet(**config, name="clip_resnet")
    assign_clip_resnet_weights(model, state, source=path)
    return LoadedBackbone(model=model, model_type=MODEL_TYPE,
                          preprocessor=ImagePreprocessor("clip", config["image_resolution"]),
                          config=config)


def save_clip_resnet(loaded, out_dir):
    """Writes a :class:`LoadedBackbone` from :func:`load_clip_resnet` as a model dir."""
    if loaded.model_type != MODEL_TYPE or not isinstance(loaded.model, ClipResNet):
        raise ValueError(f"save_clip_resnet needs a {MODEL_TYPE!r} ClipResNet backbone, got "
                         f"model_type {loaded.model_type!r} ({type(loaded.model).__name__})")
    preprocessor = loaded.preprocessor or ImagePreprocessor("clip",
                                                            loaded.model.image_resolution)
    return save_model_dir(out_dir, MODEL_TYPE, loaded.model, preprocessor=preprocessor,
                          config=loaded.config)
