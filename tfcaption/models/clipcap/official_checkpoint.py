"""Converts the released ClipCap checkpoints (``coco_weights.pt``, ``conceptual_weights.pt``,
``transformer_weights.pt``) into a :class:`ClipCapCaptioner`.

A released file is the ``state_dict`` of the official ``ClipCaptionModel``: GPT-2
(``GPT2LMHeadModel``) under ``gpt.`` and the mapping network under ``clip_project.``. It is
read with ``torch.load(weights_only=True)``; nothing pickled is executed.

Mapping network keys (``P`` = prefix_length, ``C`` = clip_length, ``D`` = GPT-2 width,
``S`` = CLIP embedding size, ``H`` = MLP hidden width; ``L`` stands for
``clip_project.transformer.layers.i.``, the keys of mapper block ``i``):

====================================  ==============  ====================================
checkpoint key                        shape           Keras variable
====================================  ==============  ====================================
clip_project.model.0.{weight,bias}    (H, S), (H,)    MlpMapper.model_0
clip_project.model.2.{weight,bias}    (P*D, H), ...   MlpMapper.model_2
clip_project.linear.{weight,bias}     (C*D, S), ...   TransformerMapper.linear
clip_project.prefix_const             (P, D)          TransformerMapper.prefix_const
L norm1.{weight,bias}                 (D,)            blocks[i].norm1
L attn.to_queries.weight              (D, D)          blocks[i].attn.to_queries (no bias)
L attn.to_keys_values.weight          (2D, D)         blocks[i].attn.to_keys_values
L attn.project.{weight,bias}          (D, D), (D,)    blocks[i].attn.project
L norm2.{weight,bias}                 (D,)            blocks[i].norm2
L mlp.fc1.{weight,bias}               (2D, D), (2D,)  blocks[i].fc1
L mlp.fc2.{weight,bias}               (D, 2D), (D,)   blocks[i].fc2
====================================  ==============  ====================================

The GPT-2 keys are converted by :func:`~tfcaption.backbones.gpt2_loader.gpt2_from_state_dict`
(``prefix="gpt."``), which also drops the old ``gpt.transformer.h.*.attn.bias`` /
``attn.masked_bias`` buffers (bool or uint8) and checks that ``gpt.lm_head.weight`` is tied.
Every other key must be consumed: a missing, unexpected or mis-shaped key raises one
:class:`~tfcaption.backbones.checkpoint_mismatch_error.CheckpointMismatchError` naming it.

What the weights cannot tell:

- the mapper's attention heads: the official ``TransformerMapper`` always uses 8;
- GPT-2's heads: ``hidden / 64`` as in every released GPT-2 size (``num_heads`` overrides);
- ``normalize_prefix``: the released transformer checkpoint was trained on L2-normalised
  RN50x4 embeddings (its inference notebook divides the CLIP embedding by its norm), the
  MLP ones on raw ViT-B/32 embeddings; ``normalize_prefix=None`` picks accordingly;
- the stop token: the released captioners end a caption at ``"."``, so the converted one
  stops at the tokenizer's id of ``"."``, kept in the caption text.
"""

import os
import re

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.checkpoint_reader import read_state_dict
from tfcaption.backbones.clip_image_encoder import load_clip_image_encoder
from tfcaption.backbones.gpt2_loader import gpt2_from_state_dict
from tfcaption.backbones.gpt2_weights import GPT2_HEAD_DIM
from tfcaption.backbones.weight_map import WeightMap
from tfcaption.models.clipcap.clipcap_builder import build_mapper
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.models.clipcap.clipcap_model import ClipCapModel
from tfcaption.models.clipcap.mlp_mapper import MlpMapper
from tfcaption.tokenizers.gpt2_tokenizer import MERGES_FILE, VOCAB_FILE, load_gpt2_tokenizer

GPT_PREFIX = "gpt."
MAPPER_PREFIX = "clip_project."
WTE_KEY = "gpt.transformer.wte.weight"
OFFICIAL_MAPPER_HEADS = 8
STOP_TOKEN = "."
_MLP = ("clip_project.model.0.weight", "clip_project.model.2.weight")
_TRANSFORMER = ("clip_project.linear.weight", "clip_project.prefix_const")
_LAYER = re.compile(r"clip_project\.transformer\.layers\.(\d+)\.")

__all__ = ["convert_official_checkpoint", "infer_official_config", "assign_mapper_weights",
           "default_normalize_prefix"]


def _exact_rows(rows, width, key, what, source):
    if rows % width:
        raise ValueError(f"{source}: {key} has {rows} output rows, not a multiple of the "
                         f"GPT-2 width {width}; cannot read {what} from it")
    return rows // width


def infer_official_config(state, source="checkpoint") -> dict:
    """The mapping network's architecture, read from the array shapes.

    Returns ``{"mapping_type", "prefix_dim", "embed_dim", "prefix_length"}`` plus
    ``"hidden_dim"`` for ``"mlp"`` (rows of ``model.0``) or ``"clip_length"``,
    ``"num_layers"`` and ``"num_heads"`` (always 8, as official) for ``"transformer"``.
    Raises :class:`CheckpointMismatchError` when a key the architecture is read from is
    missing, ``ValueError`` when the shapes are inconsistent or both mapper kinds are
    present.
    """
    if WTE_KEY not in state:
        raise CheckpointMismatchError(source, missing=[WTE_KEY])
    embed_dim = int(state[WTE_KEY].shape[1])
    has_mlp = any(k.startswith("clip_project.model.") for k in state)
    has_transformer = any(k.startswith(("clip_project.linear.", "clip_project.prefix_const",
                                        "clip_project.transformer.")) for k in state)
    if has_mlp and has_transformer:
        raise ValueError(f"{source}: holds both an MLP (clip_project.model.*) and a "
                         f"Transformer (clip_project.linear/prefix_const/transformer.*) "
                         f"mapping network")
    if not (has_mlp or has_transformer):
        raise CheckpointMismatchError(
            source, missing=[f"{_MLP[0]} (MLP mapper) or {_TRANSFORMER[0]} (Transformer "
                             f"mapper)"])
    needed = _MLP if has_mlp else _TRANSFORMER
    absent = [k for k in needed if k not in state]
    if absent:
        raise CheckpointMismatchError(source, missing=absent)
    if has_mlp:
        hidden, prefix_dim = (int(n) for n in state[_MLP[0]].shape)
        rows = int(state[_MLP[1]].shape[0])
        return {"mapping_type": "mlp", "prefix_dim": prefix_dim, "embed_dim": embed_dim,
                "prefix_length": _exact_rows(rows, embed_dim, _MLP[1], "prefix_length",
                                             source),
                "hidden_dim": hidden}
    rows, prefix_dim = (int(n) for n in state[_TRANSFORMER[0]].shape)
    layers = {int(m.group(1)) for m in map(_LAYER.match, state) if m}
    if not layers:
        raise CheckpointMismatchError(source, missing=["clip_project.transformer.layers.0.*"])
    return {"mapping_type": "transformer", "prefix_dim": prefix_dim, "embed_dim": embed_dim,
            "prefix_length": int(state[_TRANSFORMER[1]].shape[0]),
            "clip_length": _exact_rows(rows, embed_dim, _TRANSFORMER[0], "clip_length",
                                       source),
            "num_layers": max(layers) + 1,  # a gap shows up as missing keys
            "num_heads": OFFICIAL_MAPPER_HEADS}


def default_normalize_prefix(mapping_type) -> bool:
    """What the released checkpoints were trained on: normalised CLIP embeddings for the
    Transformer mapper, raw ones for the MLP mapper."""
    return mapping_type == "transformer"


def build_official_mapper(config):
    """An unloaded :class:`MlpMapper` / :class:`TransformerMapper` for ``config``."""
    return build_mapper(**config)


def assign_mapper_weights(mapper, state, source="checkpoint"):
    """Copies the ``clip_project.*`` arrays into a built mapper (all or nothing).

    ``state`` holds the checkpoint without its GPT-2 (``gpt.*``) keys; every one of its
    keys must be consumed. Returns the number of variables assigned.
    """
    weights = WeightMap(state, source)
    p = MAPPER_PREFIX
    if isinstance(mapper, MlpMapper):
        weights.add_dense(mapper.model_0, p + "model.0")
        weights.add_dense(mapper.model_2, p + "model.2")
    else:
        weights.add_dense(mapper.linear, p + "linear")
        weights.add(mapper.prefix_const, p + "prefix_const")
        for i, block in enumerate(mapper.blocks):
            layer = f"{p}transformer.layers.{i}."
            weights.add_layer_norm(block.norm1, layer + "norm1")
            for name in ("to_queries", "to_keys_values", "project"):
                weights.add_dense(getattr(block.attn, name), f"{layer}attn.{name}")
            weights.add_layer_norm(block.norm2, layer + "norm2")
            weights.add_dense(block.fc1, layer + "mlp.fc1")
            weights.add_dense(block.fc2, layer + "mlp.fc2")
    return weights.apply(model=mapper)


def _tokenizer(tokenizer_dir):
    if tokenizer_dir is None:
        raise ValueError(f"a GPT-2 tokenizer directory ({VOCAB_FILE} + {MERGES_FILE}) is "
                         f"required: the official checkpoints do not hold one")
    return load_gpt2_tokenizer(os.fspath(tokenizer_dir))


def _embedding_size(encoder, path):
    sizes = {"clip": "projection_dim", "clip_resnet": "output_dim"}
    if encoder.model_type not in sizes:
        raise ValueError(f"{path}: a {encoder.model_type!r} model is not a CLIP image tower")
    return int(getattr(encoder.model, sizes[encoder.model_type]))


def _image_encoder(clip, prefix_dim):
    if clip is None:
        return None
    clip = os.fspath(clip)
    encoder = load_clip_image_encoder(clip)
    size = _embedding_size(encoder, clip)
    if size != prefix_dim:
        raise ValueError(f"{clip}: CLIP image embeddings have {size} values but the ClipCap "
                         f"checkpoint expects {prefix_dim} (ViT-B/32 gives 512, RN50x4 640)")
    return encoder


def convert_official_checkpoint(checkpoint, tokenizer_dir=None, clip=None, num_heads=None,
                                normalize_prefix=None, jit_compile=True) -> ClipCapCaptioner:
    """An official ClipCap ``.pt`` -> :class:`ClipCapCaptioner`.

    Args:
      checkpoint: path of the released state dict (or any file :func:`read_state_dict`
        reads).
      tokenizer_dir: directory with GPT-2's ``vocab.json`` + ``merges.txt`` (required;
        its ids must fit the checkpoint's vocabulary).
      clip: optional CLIP image tower for captioning images (a Hugging Face ViT-B/32 dir
        for the MLP checkpoints, OpenAI's ``RN50x4.pt`` for the Transformer one, or a
        tfcaption model dir); its embedding size must be the checkpoint's prefix size.
        Without it the captioner takes CLIP embeddings.
      num_heads: GPT-2 attention heads; default ``hidden / 64`` (every GPT-2 size).
      normalize_prefix: L2-normalise CLIP embeddings before the mapper; ``None`` infers
        it from the mapper type (True for Transformer, False for MLP; see the module
        docstring).
      jit_compile: XLA-compile decoding.

    The captioner stops at ``"."`` (kept in the caption, as official).
    """
    checkpoint = os.fspath(checkpoint)
    tokenizer = _tokenizer(tokenizer_dir)
    state = read_state_dict(checkpoint)
    config = infer_official_config(state, checkpoint)
    if num_heads is None and config["embed_dim"] % GPT2_HEAD_DIM:
        raise ValueError(f"{checkpoint}: GPT-2 width {config['embed_dim']} is not a multiple "
                         f"of {GPT2_HEAD_DIM}, so its attention heads cannot be inferred; "
                         f"pass num_heads")
    encoder = _image_encoder(clip, config["prefix_dim"])
    gpt2 = gpt2_from_state_dict(state, checkpoint,
                                config=None if num_heads is None else {"num_heads": num_heads},
                                tokenizer=tokenizer, prefix=GPT_PREFIX)
    if normalize_prefix is None:
        normalize_prefix = default_normalize_prefix(config["mapping_type"])
    model = ClipCapModel(build_official_mapper(config), gpt2.model,
                         normalize_prefix=normalize_prefix, name="clipcap")
    rest = {k: v for k, v in state.items() if not k.startswith(GPT_PREFIX)}
    assigned = assign_mapper_weights(model.mapper, rest, checkpoint)
    if assigned != len(rest) or assigned != len(model.mapper.weights):
        raise AssertionError(f"{checkpoint}: {assigned} mapper variables assigned from "
                             f"{len(rest)} keys for {len(model.mapper.weights)} variables")
    stop = tokenizer.token_to_id(STOP_TOKEN)
    return ClipCapCaptioner(model, tokenizer, image_encoder=encoder, stop_token_ids=[stop],
                            strip_token_ids=[tokenizer.end_token_id], jit_compile=jit_compile)


def describe(captioner) -> dict:
    """The converted architecture, as plain values (for a summary line or config)."""
    model = captioner.model
    mapper, gpt = model.mapper, model.gpt2
    mapping_type = "mlp" if isinstance(mapper, MlpMapper) else "transformer"
    out = {"mapping_type": mapping_type, "prefix_dim": model.prefix_dim,
           "prefix_length": model.prefix_length,
           "normalize_prefix": model.normalize_prefix,
           "gpt2": {"num_layers": gpt.num_layers, "hidden_dim": gpt.hidden_dim,
                    "num_heads": gpt.num_heads, "vocabulary_size": gpt.vocabulary_size},
           "stop_token_ids": list(captioner.stop_token_ids)}
    if mapping_type == "transformer":
        out.update(clip_length=mapper.clip_length, num_layers=mapper.num_layers)
    return out
