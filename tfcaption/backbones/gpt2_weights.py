"""Hugging Face GPT-2 state dict <-> tfcaption/keras-hub ``GPT2Backbone``: config and weights.

Key layout (``P`` is the prefix found in the checkpoint: ``""`` for ``GPT2Model``,
``"transformer."`` for ``GPT2LMHeadModel``, ``"gpt.transformer."`` for ClipCap):

=============================  ==========  ===============================================
checkpoint key                 HF shape    keras-hub variable(s)
=============================  ==========  ===============================================
P wte.weight                   (V, D)      token_embedding.embeddings
P wpe.weight                   (T, D)      position_embedding.position_embeddings
P h.i.ln_1.{weight,bias}       (D,)        _self_attention_layer_norm.{gamma,beta}
P h.i.attn.c_attn.weight       (D, 3D)     query/key/value_dense.kernel  (D, H, D/H) each
P h.i.attn.c_attn.bias         (3D,)       query/key/value_dense.bias    (H, D/H) each
P h.i.attn.c_proj.weight       (D, D)      output_dense.kernel           (H, D/H, D)
P h.i.attn.c_proj.bias         (D,)        output_dense.bias
P h.i.ln_2.{weight,bias}       (D,)        _feedforward_layer_norm.{gamma,beta}
P h.i.mlp.c_fc.{weight,bias}   (D, F)      _feedforward_intermediate_dense.{kernel,bias}
P h.i.mlp.c_proj.{weight,bias} (F, D)      _feedforward_output_dense.{kernel,bias}
P ln_f.{weight,bias}           (D,)        layer_norm.{gamma,beta}
lm_head.weight (optional)      (V, D)      must equal wte (tied head)
P h.i.attn.{bias,masked_bias}              causal-mask buffers of old checkpoints: ignored
=============================  ==========  ===============================================

With cross-attention (``add_cross_attention``, a
:class:`~tfcaption.backbones.gpt2_cross_backbone.GPT2CrossBackbone`), each block also has:

=================================  =======  =============================================
P h.i.ln_cross_attn.*              (D,)     _cross_attention_layer_norm.{gamma,beta}
P h.i.crossattention.q_attn.*      (D, D)   _cross_attention_layer query_dense
P h.i.crossattention.c_attn.*      (D, 2D)  key_dense, value_dense (key first)
P h.i.crossattention.c_proj.*      (D, D)   output_dense
P h.i.crossattention.{bias,...}             mask buffers of old checkpoints: ignored
=================================  =======  =============================================

HF's ``Conv1D`` stores weights as ``(in, out)``, so kernels are reshaped, never transposed
(:data:`~tfcaption.backbones.weight_map.CONV1D` layout). Shapes are checked in the HF
layout before conversion, so a :class:`CheckpointMismatchError` speaks in checkpoint terms.
"""

import re

import numpy as np

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.gpt2_backbone import DEFAULT_LAYER_NORM_EPSILON
from tfcaption.backbones.weight_map import CONV1D, WeightMap

CONFIG_KEYS = ("vocabulary_size", "num_layers", "num_heads", "hidden_dim",
               "intermediate_dim", "max_sequence_length", "layer_norm_epsilon", "dropout")
GPT2_HEAD_DIM = 64
DEFAULT_DROPOUT = 0.1
_TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


def find_prefix(state, source):
    """The key prefix in front of ``wte.weight`` (``""``, ``"transformer."``, ...)."""
    hits = sorted(k[:-len("wte.weight")] for k in state
                  if k == "wte.weight" or k.endswith(".wte.weight"))
    if not hits:
        raise CheckpointMismatchError(source, missing=["wte.weight (under any prefix)"],
                                      unexpected=list(state))
    if len(hits) > 1:
        raise ValueError(f"{source}: several GPT-2 models in one checkpoint: "
                         f"{', '.join(p + 'wte.weight' for p in hits)}")
    return hits[0]


def infer_config(state, prefix, source):
    """Architecture from array shapes; ``num_heads`` = hidden / 64 (GPT-2 family)."""
    missing = [prefix + k for k in ("wte.weight", "wpe.weight", "h.0.mlp.c_fc.weight")
               if prefix + k not in state]
    if missing:
        raise CheckpointMismatchError(source, missing=missing)
    layer_ids = {int(m.group(1)) for k in state
                 for m in [re.match(re.escape(prefix) + r"h\.(\d+)\.", k)] if m}
    vocab, hidden = state[prefix + "wte.weight"].shape
    return {
        "vocabulary_size": int(vocab),
        "num_layers": max(layer_ids) + 1,
        "num_heads": hidden // GPT2_HEAD_DIM if hidden % GPT2_HEAD_DIM == 0 else None,
        "hidden_dim": int(hidden),
        "intermediate_dim": int(state[prefix + "h.0.mlp.c_fc.weight"].shape[-1]),
        "max_sequence_length": int(state[prefix + "wpe.weight"].shape[0]),
        "layer_norm_epsilon": DEFAULT_LAYER_NORM_EPSILON,
        "dropout": DEFAULT_DROPOUT,
    }


def config_from_hf(hf, path, cross_attention=False):
    """Architecture from a Hugging Face GPT-2 ``config.json`` dict (``path`` for errors);
    ``cross_attention``: the decoder of an encoder-decoder (``add_cross_attention``)."""
    if hf.get("model_type") != "gpt2":
        raise ValueError(f"{path}: model_type is {hf.get('model_type')!r}, expected 'gpt2'")
    missing = [k for k in ("vocab_size", "n_layer", "n_head", "n_embd", "n_positions")
               if k not in hf]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}")
    unsupported = []
    if hf.get("activation_function", "gelu_new") not in _TANH_GELUS:
        unsupported.append(f"activation_function={hf['activation_function']!r} "
                           f"(keras-hub GPT-2 uses tanh-approximate GELU, 'gelu_new')")
    for key, supported in (("scale_attn_weights", True),
                           ("scale_attn_by_inverse_layer_idx", False),
                           ("add_cross_attention", bool(cross_attention))):
        if bool(hf.get(key, supported)) != supported:
            unsupported.append(f"{key}={hf[key]!r}")
    if unsupported:
        raise ValueError(f"{path}: unsupported GPT-2 setting(s): {', '.join(unsupported)}")
    return {
        "vocabulary_size": int(hf["vocab_size"]),
        "num_layers": int(hf["n_layer"]),
        "num_heads": int(hf["n_head"]),
        "hidden_dim": int(hf["n_embd"]),
        "intermediate_dim": int(hf.get("n_inner") or 4 * hf["n_embd"]),
        "max_sequence_length": int(hf["n_positions"]),
        "layer_norm_epsilon": float(hf.get("layer_norm_epsilon", DEFAULT_LAYER_NORM_EPSILON)),
        "dropout": float(hf.get("resid_pdrop", DEFAULT_DROPOUT)),
    }


def merge_config(config, overrides, source):
    """``config`` updated with user ``overrides``; checks names and head divisibility."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown GPT-2 config key(s) {unknown}; known: {list(CONFIG_KEYS)}")
    config = {**config, **overrides}
    heads, hidden = config["num_heads"], config["hidden_dim"]
    if not heads or hidden % heads:
        raise ValueError(f"{source}: hidden size {hidden} is not divisible into "
                         f"num_heads={heads}; pass config={{'num_heads': ...}}")
    return config


def assign_weights(backbone, state, prefix, source):
    """Loads ``state`` (HF GPT-2 keys under ``prefix``) into ``backbone``; all-or-nothing.
    Every key of ``state`` must be used: pass only the GPT-2 module's keys (e.g. the
    ``decoder.*`` keys of a VisionEncoderDecoder checkpoint).

    Raises :class:`CheckpointMismatchError` naming every missing, unexpected and
    mis-shaped key, or ``ValueError`` when ``lm_head.weight`` is not tied to ``wte``.
    Returns the number of variables assigned.
    """
    outer = prefix[:-len("transformer.")] if prefix.endswith("transformer.") else prefix
    head_key = outer + "lm_head.weight"
    wmap = WeightMap(state, source, ignore=[
        re.escape(prefix) + r"h\.\d+\.(attn|crossattention)\.(masked_)?bias"])
    wmap.add(backbone.token_embedding.embeddings, prefix + "wte.weight")
    wmap.add(backbone.position_embedding.position_embeddings, prefix + "wpe.weight")
    for i, block in enumerate(backbone.transformer_layers):
        p = f"{prefix}h.{i}."
        attn = block._self_attention_layer
        wmap.add_layer_norm(block._self_attention_layer_norm, p + "ln_1")
        wmap.add_dense([attn.query_dense, attn.key_dense, attn.value_dense], p + "attn.c_attn",
                       layout=CONV1D)
        wmap.add_dense(attn.output_dense, p + "attn.c_proj", layout=CONV1D)
        cross = getattr(block, "_cross_attention_layer", None)
        if cross is not None:
            wmap.add_layer_norm(block._cross_attention_layer_norm, p + "ln_cross_attn")
            wmap.add_dense(cross.query_dense, p + "crossattention.q_attn", layout=CONV1D)
            wmap.add_dense([cross.key_dense, cross.value_dense], p + "crossattention.c_attn",
                           layout=CONV1D)
            wmap.add_dense(cross.output_dense, p + "crossattention.c_proj", layout=CONV1D)
        wmap.add_layer_norm(block._feedforward_layer_norm, p + "ln_2")
        wmap.add_dense(block._feedforward_intermediate_dense, p + "mlp.c_fc", layout=CONV1D)
        wmap.add_dense(block._feedforward_output_dense, p + "mlp.c_proj", layout=CONV1D)
    wmap.add_layer_norm(backbone.layer_norm, prefix + "ln_f")
    if head_key in state:
        wmap.mark_used(head_key)
        wte = state.get(prefix + "wte.weight")
        if wte is not None and not np.array_equal(state[head_key], wte):
            raise ValueError(
                f"{source}: {head_key} differs from {prefix}wte.weight; untied LM heads are "
                f"unsupported (GPT-2's head is tied to the token embedding)")
    return wmap.apply(model=backbone)


def state_from_backbone(backbone, prefix="transformer."):
    """The inverse map: ``backbone`` -> HF GPT-2 ``{key: array}`` (without buffers)."""
    state = {prefix + "wte.weight": backbone.token_embedding.embeddings.numpy(),
             prefix + "wpe.weight": backbone.position_embedding.position_embeddings.numpy()}
    hidden = backbone.hidden_dim
    for i, block in enumerate(backbone.transformer_layers):
        p = f"{prefix}h.{i}."
        attn = block._self_attention_layer
        qkv = (attn.query_dense, attn.key_dense, attn.value_dense)
        state.update({
            p + "ln_1.weight": block._self_attention_layer_norm.gamma.numpy(),
            p + "ln_1.bias": block._self_attention_layer_norm.beta.numpy(),
            p + "attn.c_attn.weight": np.concatenate(
                [d.kernel.numpy().reshape(hidden, hidden) for d in qkv], axis=-1),
            p + "attn.c_attn.bias": np.concatenate([d.bias.numpy().reshape(-1) for d in qkv]),
            p + "attn.c_proj.weight": attn.output_dense.kernel.numpy().reshape(hidden, hidden),
            p + "attn.c_proj.bias": attn.output_dense.bias.numpy(),
            p + "ln_2.weight": block._feedforward_layer_norm.gamma.numpy(),
            p + "ln_2.bias": block._feedforward_layer_norm.beta.numpy(),
            p + "mlp.c_fc.weight": block._feedforward_intermediate_dense.kernel.numpy(),
            p + "mlp.c_fc.bias": block._feedforward_intermediate_dense.bias.numpy(),
            p + "mlp.c_proj.weight": block._feedforward_output_dense.kernel.numpy(),
            p + "mlp.c_proj.bias": block._feedforward_output_dense.bias.numpy(),
        })
    state[prefix + "ln_f.weight"] = backbone.layer_norm.gamma.numpy()
    state[prefix + "ln_f.bias"] = backbone.layer_norm.beta.numpy()
    return state
