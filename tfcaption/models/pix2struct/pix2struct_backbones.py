"""Pix2Struct's image encoder and text decoder as keras-hub backbones, built from keras-hub's
T5 layers (``T5TransformerLayer``, ``T5LayerNorm``), which compute what Hugging Face's
Pix2Struct modules compute: RMSNorm without bias, attention without biases and without the
1/sqrt(d) scaling, a gated-GELU (tanh) MLP, and in the decoder a relative position bias
made by the first block's self-attention and shared by every block (unidirectional, 32
buckets, distance 128); cross-attention has no position bias. The attention masks are
added in float32 (:class:`Float32MaskAttention`), so the layers also train under
``mixed_float16``.
"""

import keras
from keras import ops
from keras_hub.models import Backbone
from keras_hub.src.models.t5.t5_layer_norm import T5LayerNorm
from keras_hub.src.models.t5.t5_multi_head_attention import T5MultiHeadAttention
from keras_hub.src.models.t5.t5_transformer_layer import T5TransformerLayer

DEFAULT_LAYER_NORM_EPSILON = 1e-6


@keras.saving.register_keras_serializable(package="tfcaption")
def gelu_tanh(x):
    """GELU with the tanh approximation (Hugging Face's ``gelu_new``)."""
    return keras.activations.gelu(x, approximate=True)


MASKED = -1e9  # the additive bias of a masked (query, key) pair, as keras-hub's


class Float32MaskAttention(T5MultiHeadAttention):
    """keras-hub's ``T5MultiHeadAttention`` with the attention mask made into the additive
    position bias in float32.

    keras-hub computes ``(1 - mask) * -1e9`` in the compute dtype: under ``mixed_float16``
    -1e9 is -inf and every kept position gets ``0 * -inf``, NaN. Here an attention given a
    mask and no ``position_bias`` (the first of a stack, and every cross-attention) makes
    that bias itself, its relative position bias (if any) plus ``(1 - mask) * -1e9``, in
    float32, and hands it to keras-hub's call as ``position_bias`` (which keras-hub adds to
    the scores cast to their dtype, -inf at masked positions in float16, and returns for
    the next blocks). In float32 the scores are the same as keras-hub's."""

    def call(self, hidden_states, mask=None, key_value_states=None, position_bias=None,
             cache=None, cache_update_index=None, training=False):
        if position_bias is None and mask is not None:
            query_length = ops.shape(hidden_states)[1]
            if cache is not None:  # [B, 2, length, heads, dim]
                key_length = ops.shape(cache)[2]
            else:
                keys = hidden_states if key_value_states is None else key_value_states
                key_length = ops.shape(keys)[1]
            if self.use_relative_attention_bias:
                start = 0 if cache_update_index is None else cache_update_index
                position_bias = ops.cast(self.compute_bias(query_length, key_length,
                                                           query_start_index=start), "float32")
            else:
                position_bias = ops.zeros((1, self.num_heads, query_length, key_length),
                                          "float32")
            keep = ops.cast(mask[:, None, :, :], "float32")
            position_bias = position_bias + (1.0 - keep) * MASKED
        return super().call(hidden_states, mask=None, key_value_states=key_value_states,
                            position_bias=position_bias, cache=cache,
                            cache_update_index=cache_update_index, training=training)


def _blocks(is_decoder, num_layers, hidden_dim, intermediate_dim, key_value_dim, num_heads,
            dropout, layer_norm_epsilon, dtype):
    blocks = [T5TransformerLayer(
        is_decoder=is_decoder, hidden_dim=hidden_dim, intermediate_dim=intermediate_dim,
        key_value_dim=key_value_dim, dropout=dropout, activation=gelu_tanh,
        layer_norm_epsilon=layer_norm_epsilon, num_heads=num_heads, use_gated_activation=True,
        use_relative_attention_bias=is_decoder and i == 0, dtype=dtype,
        name=f"transformer_layer_{i}") for i in range(num_layers)]
    for block in blocks:  # the same layers (weights, paths), masked in float32
        for attention in (block.self_attention, getattr(block, "cross_attention", None)):
            if attention is not None:
                object.__setattr__(attention, "__class__", Float32MaskAttention)
    return blocks


@keras.saving.register_keras_serializable(package="tfcaption")
class Pix2StructVisionEncoder(Backbone):
    """Flattened patches (row id, column id, pixels) -> encoder states.

    Each patch is ``Dense(patch pixels) + row_embedding[row id] + column_embedding[column
    id]``; padding patches (all zero) are masked out of every attention.

    Args:
      patch_dim: pixels per patch (``16 * 16 * 3``; HF ``patch_embed_hidden_size``).
      num_layers, num_heads, hidden_dim, intermediate_dim, key_value_dim: the transformer
        (HF ``num_hidden_layers``, ``num_attention_heads``, ``hidden_size``, ``d_ff``,
        ``d_kv``).
      max_positions: rows (and columns) of the position tables (HF ``seq_len``).

    Inputs ``{"patches" [B, N, 2 + patch_dim], "padding_mask" [B, N]}`` -> ``[B, N, D]``.
    """

    def __init__(self, patch_dim=768, num_layers=12, num_heads=12, hidden_dim=768,
                 intermediate_dim=2048, key_value_dim=64, max_positions=4096, dropout=0.0,
                 layer_norm_epsilon=DEFAULT_LAYER_NORM_EPSILON, dtype=None, **kwargs):
        self.patch_projection = keras.layers.Dense(hidden_dim, dtype=dtype,
                                                   name="patch_projection")
        self.row_embedding = keras.layers.Embedding(max_positions, hidden_dim, dtype=dtype,
                                                    name="row_embedding")
        self.column_embedding = keras.layers.Embedding(max_positions, hidden_dim, dtype=dtype,
                                                       name="column_embedding")
        self.embeddings_dropout = keras.layers.Dropout(dropout, dtype=dtype,
                                                       name="embeddings_dropout")
        self.transformer_layers = _blocks(False, num_layers, hidden_dim, intermediate_dim,
                                          key_value_dim, num_heads, dropout,
                                          layer_norm_epsilon, dtype)
        self.layer_norm = T5LayerNorm(layer_norm_epsilon, dtype=dtype, name="layer_norm")

        patches = keras.Input(shape=(None, 2 + patch_dim), name="patches")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        rows = ops.cast(patches[:, :, 0], "int32")
        columns = ops.cast(patches[:, :, 1], "int32")
        x = (self.patch_projection(patches[:, :, 2:]) + self.row_embedding(rows)
             + self.column_embedding(columns))
        x = self.embeddings_dropout(x)
        mask = padding_mask[:, None, :]
        bias = None
        for layer in self.transformer_layers:
            x, bias = layer(x, attention_mask=mask, position_bias=bias, use_causal_mask=False)
        super().__init__(inputs={"patches": patches, "padding_mask": padding_mask},
                         outputs=self.layer_norm(x), dtype=dtype, **kwargs)
        self.patch_dim = int(patch_dim)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        self.key_value_dim = int(key_value_dim)
        self.max_positions = int(max_positions)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({k: getattr(self, k) for k in (
            "patch_dim", "num_layers", "num_heads", "hidden_dim", "intermediate_dim",
            "key_value_dim", "max_positions", "dropout", "layer_norm_epsilon")})
        return config


@keras.saving.register_keras_serializable(package="tfcaption")
class Pix2StructTextDecoder(Backbone):
    """T5-style decoder over encoder states, with its own (untied) output projection.

    Args:
      vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim, key_value_dim:
        HF ``vocab_size``, ``num_layers``, ``num_heads``, ``hidden_size``, ``d_ff``, ``d_kv``.

    Inputs ``{"token_ids" [B, T], "padding_mask" [B, T], "encoder_sequence" [B, S, D],
    "encoder_padding_mask" [B, S]}`` -> logits ``[B, T, V]``.
    """

    def __init__(self, vocabulary_size=50244, num_layers=12, num_heads=12, hidden_dim=768,
                 intermediate_dim=2048, key_value_dim=64, dropout=0.0,
                 layer_norm_epsilon=DEFAULT_LAYER_NORM_EPSILON, dtype=None, **kwargs):
        self.token_embedding = keras.layers.Embedding(vocabulary_size, hidden_dim, dtype=dtype,
                                                      name="token_embedding")
        self.embeddings_dropout = keras.layers.Dropout(dropout, dtype=dtype,
                                                       name="embeddings_dropout")
        self.transformer_layers = _blocks(True, num_layers, hidden_dim, intermediate_dim,
                                          key_value_dim, num_heads, dropout,
                                          layer_norm_epsilon, dtype)
        self.layer_norm = T5LayerNorm(layer_norm_epsilon, dtype=dtype, name="layer_norm")
        self.output_dropout = keras.layers.Dropout(dropout, dtype=dtype, name="output_dropout")
        self.lm_head = keras.layers.Dense(vocabulary_size, use_bias=False, dtype=dtype,
                                          name="lm_head")

        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        encoder_sequence = keras.Input(shape=(None, hidden_dim), name="encoder_sequence")
        encoder_mask = keras.Input(shape=(None,), dtype="int32", name="encoder_padding_mask")
        x = self.embeddings_dropout(self.token_embedding(token_ids))
        bias = None
        for layer in self.transformer_layers:
            x, bias = layer(x, attention_mask=padding_mask[:, None, :], position_bias=bias,
                            encoder_hidden_states=encoder_sequence,
                            encoder_attention_mask=encoder_mask[:, None, :],
                            use_causal_mask=True)
        logits = self.lm_head(self.output_dropout(self.layer_norm(x)))
        super().__init__(inputs={"token_ids": token_ids, "padding_mask": padding_mask,
                                 "encoder_sequence": encoder_sequence,
                                 "encoder_padding_mask": encoder_mask},
                         outputs=logits, dtype=dtype, **kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        self.key_value_dim = int(key_value_dim)
        self.dropout = float(dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)

    def get_config(self):
        config = super().get_config()
        config.update({k: getattr(self, k) for k in (
            "vocabulary_size", "num_layers", "num_heads", "hidden_dim", "intermediate_dim",
            "key_value_dim", "dropout", "layer_norm_epsilon")})
        return config
