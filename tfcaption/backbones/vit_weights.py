"""Hugging Face ViT state dict -> keras-hub ``ViTBackbone``: config and weights.

Key layout (``P`` is the prefix found in the checkpoint: ``""`` for ``ViTModel``, ``"vit."``
for ``ViTForImageClassification``, ``"encoder."`` for a ``VisionEncoderDecoderModel``):

================================================  ===========  ===============================
checkpoint key                                    HF shape     keras-hub variable(s)
================================================  ===========  ===============================
P embeddings.cls_token                            (1, 1, D)    class_token
P embeddings.position_embeddings                  (1, N+1, D)  position_embedding.embeddings
P embeddings.patch_embeddings.projection.*        (D, 3, p, p) patch_embedding (Conv2D)
P encoder.layer.i.layernorm_before.*              (D,)         transformer_block_i+1/ln_1
P encoder.layer.i.attention.attention.{q,k,v}.*   (D, D)       mha query/key/value (D, H, D/H)
P encoder.layer.i.attention.output.dense.*        (D, D)       mha attention_output (H, D/H, D)
P encoder.layer.i.layernorm_after.*               (D,)         ln_2
P encoder.layer.i.intermediate.dense.*            (F, D)       mlp/dense_1
P encoder.layer.i.output.dense.*                  (D, F)       mlp/dense_2
P layernorm.*                                     (D,)         vit_encoder/ln
P pooler.dense.*                                               unused by captioners: ignored
================================================  ===========  ===============================

(``{q,k,v}`` stands for ``query``, ``key``, ``value``.) HF's ``layer_norm_eps`` (1e-12 for
``google/vit-base-patch16-224-in21k``) is set explicitly: keras-hub's default is 1e-6.
"""

import re

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.weight_map import WeightMap

DEFAULT_LAYER_NORM_EPSILON = 1e-12  # transformers' ViTConfig default


def find_prefix(state, source):
    """The key prefix in front of ``embeddings.cls_token`` (``""``, ``"vit."``, ...)."""
    suffix = "embeddings.cls_token"
    hits = sorted(k[:-len(suffix)] for k in state if k == suffix or k.endswith("." + suffix))
    if not hits:
        raise CheckpointMismatchError(source, missing=[f"{suffix} (under any prefix)"],
                                      unexpected=list(state)[:20])
    if len(hits) > 1:
        raise ValueError(f"{source}: several ViT models in one checkpoint: "
                         f"{', '.join(p + suffix for p in hits)}")
    return hits[0]


def config_from_hf(hf, path):
    """keras-hub ``ViTBackbone`` arguments from a Hugging Face ViT ``config.json`` dict
    (``path`` for errors); settings keras-hub cannot reproduce are refused by name."""
    if hf.get("model_type") != "vit":
        raise ValueError(f"{path}: model_type is {hf.get('model_type')!r}, expected 'vit'")
    unsupported = []
    if hf.get("hidden_act", "gelu") != "gelu":
        unsupported.append(f"hidden_act={hf['hidden_act']!r} (the exact GELU, 'gelu', only)")
    if int(hf.get("num_channels", 3)) != 3:
        unsupported.append(f"num_channels={hf['num_channels']!r}")
    if unsupported:
        raise ValueError(f"{path}: unsupported ViT setting(s): {', '.join(unsupported)}")
    size, patch = int(hf.get("image_size", 224)), int(hf.get("patch_size", 16))
    hidden, heads = int(hf.get("hidden_size", 768)), int(hf.get("num_attention_heads", 12))
    if size % patch or hidden % heads:
        raise ValueError(f"{path}: image_size {size} must be a multiple of patch_size {patch} "
                         f"and hidden_size {hidden} of num_attention_heads {heads}")
    return {
        "image_shape": (size, size, 3),
        "patch_size": patch,
        "num_layers": int(hf.get("num_hidden_layers", 12)),
        "num_heads": heads,
        "hidden_dim": hidden,
        "mlp_dim": int(hf.get("intermediate_size", 3072)),
        "layer_norm_epsilon": float(hf.get("layer_norm_eps", DEFAULT_LAYER_NORM_EPSILON)),
        "use_mha_bias": bool(hf.get("qkv_bias", True)),
        "dropout_rate": float(hf.get("hidden_dropout_prob", 0.0)),
        "attention_dropout": float(hf.get("attention_probs_dropout_prob", 0.0)),
    }


def assign_weights(backbone, state, prefix, source):
    """Loads ``state`` (HF ViT keys under ``prefix``) into a keras-hub ``ViTBackbone``;
    all-or-nothing. Raises :class:`CheckpointMismatchError` naming every missing,
    unexpected and mis-shaped key (keys of other modules in a larger checkpoint, e.g. a
    VisionEncoderDecoder's ``decoder.*``, are not this converter's and are left alone).
    Returns the number of variables assigned."""
    own = {k: v for k, v in state.items() if k.startswith(prefix)}
    wmap = WeightMap(own, source, ignore=[re.escape(prefix) + r"pooler\..*"])
    embedding = backbone.get_layer("vit_patching_and_embedding")
    hidden = backbone.hidden_dim
    wmap.add(embedding.class_token, prefix + "embeddings.cls_token")
    positions = embedding.position_embedding.embeddings
    wmap.add(positions, prefix + "embeddings.position_embeddings",
             lambda x: x[0], (1,) + tuple(positions.shape))
    wmap.add_conv(embedding.patch_embedding, prefix + "embeddings.patch_embeddings.projection")
    encoder = backbone.get_layer("vit_encoder")
    for i, block in enumerate(encoder.encoder_layers):
        p = f"{prefix}encoder.layer.{i}."
        wmap.add_layer_norm(block.layer_norm_1, p + "layernorm_before")
        wmap.add_attention(block.mha, p + "attention.attention.query",
                           p + "attention.attention.key", p + "attention.attention.value",
                           p + "attention.output.dense")
        wmap.add_layer_norm(block.layer_norm_2, p + "layernorm_after")
        wmap.add_dense(block.mlp.dense_1, p + "intermediate.dense")
        wmap.add_dense(block.mlp.dense_2, p + "output.dense")
    wmap.add_layer_norm(encoder.layer_norm, prefix + "layernorm")
    if hidden != positions.shape[-1]:
        raise ValueError(f"{source}: position embeddings of width {positions.shape[-1]} in a "
                         f"ViT of width {hidden}")
    return wmap.apply(model=backbone)
