"""A lean cached forward of the Pix2Struct decoder for token-by-token decoding, on the
:class:`Pix2StructTextDecoder`'s own variables.

Per block and token: fused query-key-value ``[D, 3D]`` and gate ``[D, 2F]`` products, a
``[B, 2, heads, L, dim]`` self-attention cache written in place, the shared relative
position bias read as one row of a table made once per call, and cross-attention over keys
and values computed from the encoder states once per call (:func:`cross_keys_values`) and
read by the ``R`` rows (beams or samples) of an image in one product, never repeated
(``gpt2_decoding.attend_grouped``, here unscaled and with the patch mask as a key bias).
Attention scores are not scaled (T5), masked positions get -1e9 (as keras-hub's T5 layers).
"""

import tensorflow as tf
from keras import ops

from tfcaption.backbones.gpt2_decoding import attend_grouped, split_heads

MASKED = -1e9


def decoding_weights(decoder):
    """The decoder's weights as a nest of float32 tensors for :func:`cached_forward`."""
    def value(variable):
        return tf.cast(tf.convert_to_tensor(variable), tf.float32)

    def kernel(layer):
        return value(layer.kernel)

    blocks = []
    for layer in decoder.transformer_layers:
        self_attn, cross = layer.self_attention, layer.cross_attention
        blocks.append({
            "ln_self": value(layer.self_attention_layer_norm.weight),
            "qkv": tf.concat([kernel(self_attn.query_projector),
                              kernel(self_attn.key_projector),
                              kernel(self_attn.value_projector)], axis=1),
            "self_out": kernel(self_attn.output_projector),
            "ln_cross": value(layer.cross_attention_layer_norm.weight),
            "cross_q": kernel(cross.query_projector),
            "cross_k": kernel(cross.key_projector),
            "cross_v": kernel(cross.value_projector),
            "cross_out": kernel(cross.output_projector),
            "ln_ff": value(layer.layer_norm.weight),
            "wi": tf.concat([kernel(layer.input_projector), kernel(layer.gate_projector)], 1),
            "wo": kernel(layer.output_projector),
        })
    return {"blocks": tuple(blocks), "embeddings": value(decoder.token_embedding.embeddings),
            "ln_final": value(decoder.layer_norm.weight), "lm_head": kernel(decoder.lm_head)}


def position_bias(decoder, length):
    """The shared relative position bias of every (query, key) pair of ``length`` positions,
    float32 ``[heads, length, length]`` (the first block's, as keras-hub computes it)."""
    attention = decoder.transformer_layers[0].self_attention
    return tf.cast(attention.compute_bias(length, length)[0], tf.float32)


def _rms_norm(x, weight, epsilon):
    variance = tf.reduce_mean(tf.square(x), axis=-1, keepdims=True)
    return x * tf.math.rsqrt(variance + epsilon) * weight


def _matmul(x, kernel):
    """``x [..., in] @ kernel [in, out]`` as one 2-D product."""
    rows = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), kernel)
    return tf.reshape(rows, tf.concat([tf.shape(x)[:-1], [kernel.shape[-1]]], 0))


def cross_keys_values(weights, encoder_states, num_heads):
    """Each block's cross-attention ``(keys, values)`` ``[B, heads, S, dim]``, once per call."""
    states = tf.cast(encoder_states, tf.float32)
    return tuple((split_heads(_matmul(states, block["cross_k"]), num_heads),
                  split_heads(_matmul(states, block["cross_v"]), num_heads))
                 for block in weights["blocks"])


def cached_forward(weights, token_ids, cache, index, bias_table, cross, encoder_key_bias,
                   num_heads, epsilon):
    """Tokens ``[N, T]`` at positions ``index..index+T-1`` -> (float32 logits ``[N, T, V]``,
    updated cache).

    Args:
      cache: one ``[N, 2, heads, L, dim]`` tensor per block.
      bias_table: :func:`position_bias` for ``L`` positions.
      cross: :func:`cross_keys_values` of the ``B`` images.
      encoder_key_bias: ``[B, S]``: 0 for real patches, -1e9 for padding.
    """
    index = tf.cast(index, tf.int32)
    x = tf.gather(weights["embeddings"], token_ids)
    length = tf.shape(x)[1]
    hidden = x.shape[-1]
    head_dim = hidden // num_heads
    total = tf.shape(bias_table)[-1]
    bias = tf.slice(bias_table, [0, index, 0], [-1, length, -1])  # [heads, T, L]
    visible = tf.range(total)[None, :] <= index + tf.range(length)[:, None]
    bias = tf.where(visible, bias, MASKED)[None]
    new_cache = []
    for block, block_cache, (keys, values) in zip(weights["blocks"], cache, cross):
        batch = tf.shape(x)[0]
        qkv = _matmul(_rms_norm(x, block["ln_self"], epsilon), block["qkv"])
        qkv = tf.transpose(tf.reshape(qkv, [batch, length, 3, num_heads, head_dim]),
                           [0, 2, 3, 1, 4])  # [N, 3, heads, T, dim]
        block_cache = ops.slice_update(block_cache, [0, 0, 0, index, 0], qkv[:, 1:])
        scores = tf.matmul(qkv[:, 0], block_cache[:, 0], transpose_b=True) + bias
        attended = tf.matmul(tf.nn.softmax(scores, axis=-1), block_cache[:, 1])
        attended = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [batch, length, hidden])
        x = x + _matmul(attended, block["self_out"])
        query = _matmul(_rms_norm(x, block["ln_cross"], epsilon), block["cross_q"])
        attended = attend_grouped(split_heads(query, num_heads), keys, values, scale=1.0,
                                  key_bias=encoder_key_bias)
        x = x + _matmul(attended, block["cross_out"])
        gate_in = _matmul(_rms_norm(x, block["ln_ff"], epsilon), block["wi"])
        activated, linear = tf.split(gate_in, 2, axis=-1)
        x = x + _matmul(tf.nn.gelu(activated, approximate=True) * linear, block["wo"])
        new_cache.append(block_cache)
    x = _rms_norm(x, weights["ln_final"], epsilon)
    return _matmul(x, weights["lm_head"]), tuple(new_cache)


def init_cache(decoder, batch_size, length):
    """Zero self-attention caches: one ``[B, 2, heads, length, dim]`` tensor per block."""
    shape = (batch_size, 2, decoder.num_heads, length, decoder.key_value_dim)
    return tuple(tf.zeros(shape, tf.float32) for _ in range(decoder.num_layers))
