"""Hugging Face Pix2Struct checkpoint dirs (``google/pix2struct-base``, ``-large``, the task
fine-tunes such as ``google/pix2struct-textcaps-base``) -> :class:`Pix2StructModel`.

A dir holds ``config.json`` (``model_type: "pix2struct"`` with ``vision_config`` and
``text_config``), ``model.safetensors`` or ``pytorch_model.bin`` (or a sharded index), and
usually ``preprocessor_config.json`` and the T5-style SentencePiece tokenizer files. Every
checkpoint key is placed or named in the error:

=================================================================  =========================
checkpoint key (``i`` a block)                                     Keras variable
=================================================================  =========================
encoder.embeddings.patch_projection.{weight,bias}                  patch_projection
encoder.embeddings.{row,column}_embedder.weight                    row/column_embedding
encoder.encoder.layer.i.attention.{query,key,value,output}.weight  self_attention.*_projector
encoder.encoder.layer.i.pre_attention_layer_norm.weight            self_attention_layer_norm
encoder.encoder.layer.i.mlp.{wi_0,wi_1,wo}.weight                  input/gate/output_projector
encoder.encoder.layer.i.pre_mlp_layer_norm.weight                  layer_norm
encoder.layernorm.weight                                           layer_norm
decoder.embed_tokens.weight                                        token_embedding
decoder.layer.i.self_attention.attention.*.weight                  self_attention.*
decoder.layer.0.self_attention.attention.relative_attention_bias   relative_attention_bias
decoder.layer.i.self_attention.layer_norm.weight                   self_attention_layer_norm
decoder.layer.i.encoder_decoder_attention.attention.*.weight       cross_attention.*
decoder.layer.i.encoder_decoder_attention.layer_norm.weight        cross_attention_layer_norm
decoder.layer.i.mlp.DenseReluDense.{wi_0,wi_1,wo}.weight           input/gate/output_projector
decoder.layer.i.mlp.layer_norm.weight                              layer_norm
decoder.final_layer_norm.weight, decoder.lm_head.weight            layer_norm, lm_head
=================================================================  =========================
"""

import dataclasses
import json
import os

from tfcaption.backbones.checkpoint_reader import find_weights_file, read_state_dict
from tfcaption.backbones.weight_map import WeightMap
from tfcaption.models.pix2struct.pix2struct_backbones import (
    Pix2StructTextDecoder, Pix2StructVisionEncoder)

MODEL_TYPE = "pix2struct"
_TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh")
_BUCKETS, _MAX_DISTANCE = 32, 128  # keras-hub's T5 attention fixes these


@dataclasses.dataclass(frozen=True)
class SpecialTokens:
    """Generation starts from ``decoder_start`` and stops at ``eos``; ``pad`` fills labels
    (0, 1 and 0 for every released Pix2Struct checkpoint)."""
    decoder_start: int
    eos: int
    pad: int


def _read_json(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"not a Hugging Face checkpoint dir: missing {path}")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not JSON ({error})") from None


def _check(sub, source, buckets_key=True):
    problems = []
    act = sub.get("dense_act_fn", "gelu_new")
    if act not in _TANH_GELUS:
        problems.append(f"dense_act_fn={act!r} (the tanh GELU, 'gelu_new', only)")
    if buckets_key:
        for key, want in (("relative_attention_num_buckets", _BUCKETS),
                          ("relative_attention_max_distance", _MAX_DISTANCE)):
            if int(sub.get(key, want)) != want:
                problems.append(f"{key}={sub[key]!r} ({want} only)")
    if problems:
        raise ValueError(f"{source}: unsupported Pix2Struct setting(s): {', '.join(problems)}")


def read_config(path):
    """``(encoder kwargs, decoder kwargs, SpecialTokens)`` of a checkpoint dir;
    ``ValueError`` naming the file and key for anything it cannot reproduce."""
    config_file = os.path.join(os.fspath(path), "config.json")
    hf = _read_json(config_file)
    if hf.get("model_type") != MODEL_TYPE:
        raise ValueError(f"{config_file}: model_type is {hf.get('model_type')!r}, expected "
                         f"{MODEL_TYPE!r}")
    if hf.get("is_vqa"):
        raise ValueError(f"{config_file}: is_vqa=true (a question-answering checkpoint that "
                         f"renders the question onto the image); captioning checkpoints only")
    vision, text = hf.get("vision_config") or {}, hf.get("text_config") or {}
    _check(vision, f"{config_file} (vision_config)", buckets_key=False)
    _check(text, f"{config_file} (text_config)")
    if text.get("tie_word_embeddings") or hf.get("tie_word_embeddings"):
        raise ValueError(f"{config_file}: tie_word_embeddings=true (Pix2Struct's lm_head is "
                         f"its own)")
    encoder = {
        "patch_dim": int(vision.get("patch_embed_hidden_size", 768)),
        "num_layers": int(vision.get("num_hidden_layers", 12)),
        "num_heads": int(vision.get("num_attention_heads", 12)),
        "hidden_dim": int(vision.get("hidden_size", 768)),
        "intermediate_dim": int(vision.get("d_ff", 2048)),
        "key_value_dim": int(vision.get("d_kv", 64)),
        "max_positions": int(vision.get("seq_len", 4096)),
        "layer_norm_epsilon": float(vision.get("layer_norm_eps", 1e-6)),
    }
    decoder = {
        "vocabulary_size": int(text.get("vocab_size", 50244)),
        "num_layers": int(text.get("num_layers", 12)),
        "num_heads": int(text.get("num_heads", 12)),
        "hidden_dim": int(text.get("hidden_size", 768)),
        "intermediate_dim": int(text.get("d_ff", 2048)),
        "key_value_dim": int(text.get("d_kv", 64)),
        "layer_norm_epsilon": float(text.get("layer_norm_epsilon", 1e-6)),
    }
    if decoder["num_heads"] * decoder["key_value_dim"] != decoder["hidden_dim"]:
        raise ValueError(f"{config_file}: text_config num_heads * d_kv = "
                         f"{decoder['num_heads'] * decoder['key_value_dim']} differs from "
                         f"hidden_size {decoder['hidden_dim']}")
    if encoder["hidden_dim"] != decoder["hidden_dim"]:
        raise ValueError(f"{config_file}: vision hidden_size {encoder['hidden_dim']} differs "
                         f"from text hidden_size {decoder['hidden_dim']}")

    def token(name, default):
        for source in (hf, text):
            if source.get(name) is not None:
                return int(source[name])
        return default
    tokens = SpecialTokens(decoder_start=token("decoder_start_token_id", 0),
                           eos=token("eos_token_id", 1), pad=token("pad_token_id", 0))
    return encoder, decoder, tokens


def build_model(encoder_config, decoder_config, tokens, dropout=0.0):
    """A :class:`Pix2StructModel` of these sizes (random weights)."""
    from tfcaption.models.pix2struct.pix2struct_model import Pix2StructModel

    return Pix2StructModel(Pix2StructVisionEncoder(**encoder_config, dropout=dropout),
                           Pix2StructTextDecoder(**decoder_config, dropout=dropout),
                           decoder_start_token_id=tokens.decoder_start)


def _add_attention(wmap, attention, prefix):
    for ours, theirs in (("query", "query"), ("key", "key"), ("value", "value"),
                         ("output", "output")):
        wmap.add_dense(getattr(attention, f"{ours}_projector"), f"{prefix}.{theirs}")


def _add_mlp(wmap, layer, prefix):
    for ours, theirs in (("input", "wi_0"), ("gate", "wi_1"), ("output", "wo")):
        wmap.add_dense(getattr(layer, f"{ours}_projector"), f"{prefix}.{theirs}")


def plan_weights(model, state, source):
    """A :class:`WeightMap` placing every key of ``state`` in ``model``."""
    wmap = WeightMap(state, source)
    encoder, decoder = model.encoder, model.decoder
    p = "encoder.embeddings."
    wmap.add_dense(encoder.patch_projection, p + "patch_projection")
    wmap.add(encoder.row_embedding.embeddings, p + "row_embedder.weight")
    wmap.add(encoder.column_embedding.embeddings, p + "column_embedder.weight")
    for i, layer in enumerate(encoder.transformer_layers):
        p = f"encoder.encoder.layer.{i}."
        _add_attention(wmap, layer.self_attention, p + "attention")
        wmap.add(layer.self_attention_layer_norm.weight, p + "pre_attention_layer_norm.weight")
        _add_mlp(wmap, layer, p + "mlp")
        wmap.add(layer.layer_norm.weight, p + "pre_mlp_layer_norm.weight")
    wmap.add(encoder.layer_norm.weight, "encoder.layernorm.weight")
    wmap.add(decoder.token_embedding.embeddings, "decoder.embed_tokens.weight")
    for i, layer in enumerate(decoder.transformer_layers):
        p = f"decoder.layer.{i}."
        _add_attention(wmap, layer.self_attention, p + "self_attention.attention")
        if i == 0:
            wmap.add(layer.self_attention.relative_attention_bias,
                     p + "self_attention.attention.relative_attention_bias.weight")
        wmap.add(layer.self_attention_layer_norm.weight, p + "self_attention.layer_norm.weight")
        _add_attention(wmap, layer.cross_attention, p + "encoder_decoder_attention.attention")
        wmap.add(layer.cross_attention_layer_norm.weight,
                 p + "encoder_decoder_attention.layer_norm.weight")
        _add_mlp(wmap, layer, p + "mlp.DenseReluDense")
        wmap.add(layer.layer_norm.weight, p + "mlp.layer_norm.weight")
    wmap.add(decoder.layer_norm.weight, "decoder.final_layer_norm.weight")
    wmap.add_dense(decoder.lm_head, "decoder.lm_head")
    return wmap


def load_pix2struct_checkpoint(path):
    """A checkpoint dir -> ``(Pix2StructModel, SpecialTokens)``. Raises
    :class:`~tfcaption.backbones.checkpoint_mismatch_error.CheckpointMismatchError` naming
    every missing, unexpected or mis-shaped key."""
    path = os.fspath(path)
    encoder_config, decoder_config, tokens = read_config(path)
    weights_file = find_weights_file(path)
    state = read_state_dict(weights_file)
    model = build_model(encoder_config, decoder_config, tokens)
    plan_weights(model, state, weights_file).apply(model=model)
    return model, tokens
