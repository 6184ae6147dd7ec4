"""A lean cached GPT-2 forward for decoding, on a keras-hub GPT-2 backbone's own variables.

keras-hub's ``TransformerDecoder`` runs three separate query/key/value projections, builds
its causal mask per call and stacks keys and values into a fresh ``[B, 2, S, heads, dim]``
cache every step. For one token per row those overheads cost as much as reading the
weights. Here each block is five matrix products on fused ``[hidden, 3 * hidden]``
query-key-value weights (as Hugging Face's ``c_attn``), with a ``[B, 2, heads, S, dim]``
cache (keys and values already in the layout the attention products read) written in
place with one dynamic update.

The fused weights are gathered from the backbone's variables by :func:`decoding_weights`
(in float32 once per decoding call, outside the token loop). Reduced-precision copies
(``"bfloat16"``, or ``"int8"`` with one float32 scale per output row) are made once by
their owner (:class:`~tfcaption.models.clipcap.ClipCapCaptioner`) and read at a half or a
quarter of float32's bytes per token, which is what bounds small-batch decoding. They are
stored ``[out, in]`` (the layout XLA's CPU matrix-vector products read fastest); bfloat16
products run in bfloat16, int8 matrices are widened inside the product (fused by XLA).
LayerNorm, softmax, the attention and the residual stream stay float32.

A backbone with cross-attention (:class:`~tfcaption.backbones.gpt2_cross_backbone.
GPT2CrossBackbone`) adds a cross-attention step to each block: its keys and values are
computed from the encoder states once per decoding call by :func:`cross_keys_values` and
passed to every :func:`cached_forward` step unchanged, never recomputed per token.
"""

import math

import tensorflow as tf
from keras import ops

WEIGHT_DTYPES = ("float32", "bfloat16", "int8")


def quantize_rows(matrix):
    """Symmetric int8 per output row: ``matrix [out, in]`` -> (int8 ``[out, in]``, float32
    scale ``[out]``) with ``matrix ≈ int8 * scale[:, None]``."""
    matrix = tf.convert_to_tensor(matrix, tf.float32)
    scale = tf.reduce_max(tf.abs(matrix), axis=1) / 127.0
    scale = tf.where(scale > 0, scale, tf.ones_like(scale))
    rows = tf.clip_by_value(tf.round(matrix / scale[:, None]), -127.0, 127.0)
    return tf.cast(rows, tf.int8), scale


def decoding_weights(backbone, dtype=None):
    """The backbone's weights as a nest of tensors for :func:`cached_forward`.

    Args:
      backbone: a keras-hub GPT-2 backbone (e.g. :class:`GPT2Backbone`).
      dtype: how the matrices are stored: ``"float32"`` (``[in, out]``), ``"bfloat16"``
        (``[out, in]``) or ``"int8"`` (``[out, in]`` with a float32 scale per output row);
        None is the backbone's compute dtype (bfloat16 under ``mixed_bfloat16``), or
        float32 where that is float16 (``mixed_float16``: the matrices are stored float32,
        the products still run in the compute dtype :func:`cached_forward` is given).
        LayerNorm parameters, biases and position embeddings stay float32.
    """
    if dtype is None:
        dtype = backbone.compute_dtype if backbone.compute_dtype in WEIGHT_DTYPES else "float32"
    if dtype not in WEIGHT_DTYPES:
        raise ValueError(f"decoding weights dtype {dtype!r} is not one of {WEIGHT_DTYPES}")
    hidden = backbone.hidden_dim

    def rows(matrix):  # [out, in] float32 -> the stored (matrix, scale?) for `dtype`
        if dtype == "int8":
            return quantize_rows(matrix)
        return (tf.cast(matrix, dtype),)

    def matrix(variable, shape):
        kernel = tf.cast(tf.reshape(variable, shape), tf.float32)
        return (kernel,) if dtype == "float32" else rows(tf.transpose(kernel))

    def vector(variable, shape=(-1,)):
        return tf.cast(tf.reshape(variable, shape), tf.float32)

    def dense(layer, shape):
        return (matrix(layer.kernel, shape), vector(layer.bias))

    blocks = []
    for layer in backbone.transformer_layers:
        attention = layer._self_attention_layer
        projections = (attention._query_dense, attention._key_dense, attention._value_dense)
        intermediate = layer._feedforward_intermediate_dense
        output = layer._feedforward_output_dense
        cross = getattr(layer, "_cross_attention_layer", None)
        if cross is not None:
            norm = layer._cross_attention_layer_norm
            blocks.append({
                "ln_cross": (vector(norm.gamma), vector(norm.beta)),
                "cross_q": dense(cross._query_dense, (hidden, hidden)),
                "cross_k": dense(cross._key_dense, (hidden, hidden)),
                "cross_v": dense(cross._value_dense, (hidden, hidden)),
                "cross_proj": dense(cross._output_dense, (hidden, hidden))})
        else:
            blocks.append({})
        blocks[-1].update({
            "ln_1": (vector(layer._self_attention_layer_norm.gamma),
                     vector(layer._self_attention_layer_norm.beta)),
            "c_attn": (matrix(tf.concat([tf.reshape(d.kernel, (hidden, hidden))
                                         for d in projections], 1), (hidden, -1)),
                       tf.concat([vector(d.bias) for d in projections], 0)),
            "attn_proj": (matrix(attention._output_dense.kernel, (hidden, hidden)),
                          vector(attention._output_dense.bias)),
            "ln_2": (vector(layer._feedforward_layer_norm.gamma),
                     vector(layer._feedforward_layer_norm.beta)),
            "c_fc": (matrix(intermediate.kernel, (hidden, -1)), vector(intermediate.bias)),
            "mlp_proj": (matrix(output.kernel, (-1, hidden)), vector(output.bias)),
        })
    embeddings = tf.cast(backbone.token_embedding.embeddings, tf.float32)  # [V, D]: [out, in]
    return {"blocks": tuple(blocks),
            "wpe": vector(backbone.position_embedding.position_embeddings, (-1, hidden)),
            "ln_f": (vector(backbone.layer_norm.gamma), vector(backbone.layer_norm.beta)),
            "lm_head": (embeddings,) if dtype == "float32" else rows(embeddings)}


def init_cache(backbone, batch_size, length, dtype="float32"):
    """Zero key/value cache: one ``[B, 2, heads, length, head_dim]`` tensor per block."""
    heads = backbone.num_heads
    shape = (batch_size, 2, heads, length, backbone.hidden_dim // heads)
    return tuple(tf.zeros(shape, dtype) for _ in range(backbone.num_layers))


def _layer_norm(x, gamma_beta, epsilon):
    gamma, beta = gamma_beta
    mean, variance = tf.nn.moments(x, [-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + epsilon) * gamma + beta


def _product(x, stored, transposed, compute_dtype):
    """``x [..., in]`` times a stored matrix ``(matrix,)`` or ``(int8 matrix, row scale)``
    (float32 ``[in, out]`` unless ``transposed``; other dtypes ``[out, in]``) -> float32.

    A bfloat16 matrix multiplies in bfloat16 (``x`` rounded to it); an int8 matrix is
    widened to ``compute_dtype`` inside the product, which XLA fuses into it.
    """
    matrix = stored[0]
    transposed = transposed or matrix.dtype != tf.float32
    dtype = tf.bfloat16 if matrix.dtype == tf.bfloat16 else compute_dtype
    rows = tf.reshape(tf.cast(x, dtype), [-1, x.shape[-1]])  # 2-D: no broadcast matrix
    out = tf.matmul(rows, tf.cast(matrix, dtype), transpose_b=transposed)
    units = matrix.shape[0] if transposed else matrix.shape[1]
    out = tf.reshape(tf.cast(out, tf.float32), tf.concat([tf.shape(x)[:-1], [units]], 0))
    return out * stored[1] if len(stored) == 2 else out


def _dense(x, kernel_bias, compute_dtype):
    stored, bias = kernel_bias
    return _product(x, stored, False, compute_dtype) + bias


def split_heads(x, num_heads):
    """``[B, T, D]`` -> ``[B, heads, T, D / heads]``."""
    batch, length, hidden = tf.shape(x)[0], tf.shape(x)[1], x.shape[-1]
    return tf.transpose(tf.reshape(x, [batch, length, num_heads, hidden // num_heads]),
                        [0, 2, 1, 3])


def attend_grouped(query, keys, values, scale=None, key_bias=None):
    """Cross-attention of ``query`` ``[N, heads, T, dim]`` over ``keys`` / ``values``
    ``[B, heads, S, dim]`` where ``N = B * R`` rows are ordered ``b * R + r`` (the decoding
    loop's repeated rows: beams or samples of image ``b``) -> ``[N, T, heads * dim]``.

    The ``R`` rows of an image attend to its keys in one product, so the keys are never
    repeated or gathered per step. ``scale`` multiplies the scores (default
    ``1 / sqrt(dim)``); ``key_bias`` ``[B, S]`` is added to them (e.g. -1e9 at padding)."""
    heads, dim = query.shape[1], query.shape[-1]
    rows, length = tf.shape(query)[0], tf.shape(query)[2]
    batch = tf.shape(keys)[0]
    repeats = rows // batch
    grouped = tf.reshape(query, [batch, repeats, heads, length, dim])
    grouped = tf.reshape(tf.transpose(grouped, [0, 2, 1, 3, 4]),
                         [batch, heads, repeats * length, dim])
    scale = 1.0 / math.sqrt(dim) if scale is None else scale
    scores = tf.matmul(grouped, keys, transpose_b=True)
    if scale != 1.0:
        scores *= scale
    if key_bias is not None:
        scores += key_bias[:, None, None, :]
    attended = tf.matmul(tf.nn.softmax(scores, axis=-1), values)  # [B, heads, R*T, dim]
    attended = tf.reshape(attended, [batch, heads, repeats, length, dim])
    return tf.reshape(tf.transpose(attended, [0, 2, 3, 1, 4]), [rows, length, heads * dim])


def cross_keys_values(weights, encoder_states, num_heads, compute_dtype="float32"):
    """Each block's cross-attention keys and values of ``encoder_states`` ``[B, S, D]``:
    a tuple with ``(keys, values)`` ``[B, heads, S, dim]`` per block (None for a block
    without cross-attention). Computed once per decoding call; :func:`cached_forward`
    reads them for ``B * R`` rows (beams or samples, ordered ``b * R + r``) as they are."""
    states = tf.cast(encoder_states, tf.float32)
    return tuple(
        (split_heads(_dense(states, block["cross_k"], compute_dtype), num_heads),
         split_heads(_dense(states, block["cross_v"], compute_dtype), num_heads))
        if "cross_k" in block else None
        for block in weights["blocks"])


def _block(weights, x, cache, index, num_heads, epsilon, compute_dtype, cross=None):
    """One GPT-2 block on ``x`` ``[B, T, D]`` written at positions ``index..index+T-1``;
    ``cross``: this block's cross-attention ``(keys, values)``, if it has one."""
    batch, length, hidden = tf.shape(x)[0], tf.shape(x)[1], x.shape[-1]
    head_dim = hidden // num_heads
    qkv = _dense(_layer_norm(x, weights["ln_1"], epsilon), weights["c_attn"], compute_dtype)
    qkv = tf.transpose(tf.reshape(qkv, [batch, length, 3, num_heads, head_dim]),
                       [0, 2, 3, 1, 4])  # [B, 3, heads, T, dim]
    cache = ops.slice_update(cache, [0, 0, 0, index, 0], tf.cast(qkv[:, 1:], cache.dtype))
    keys, values = cache[:, 0], cache[:, 1]
    query = tf.cast(qkv[:, 0], cache.dtype)
    scores = tf.cast(tf.matmul(query, keys, transpose_b=True), tf.float32)
    scores *= 1.0 / math.sqrt(head_dim)
    visible = tf.range(tf.shape(keys)[2])[None, :] <= index + tf.range(length)[:, None]
    scores = tf.where(visible, scores, tf.float32.min)
    probs = tf.cast(tf.nn.softmax(scores, axis=-1), cache.dtype)
    attended = tf.cast(tf.matmul(probs, values), tf.float32)  # [B, heads, T, dim]
    attended = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [batch, length, hidden])
    x = x + _dense(attended, weights["attn_proj"], compute_dtype)
    if cross is not None:
        query = _dense(_layer_norm(x, weights["ln_cross"], epsilon), weights["cross_q"],
                       compute_dtype)
        attended = attend_grouped(split_heads(query, num_heads), *cross)
        x = x + _dense(attended, weights["cross_proj"], compute_dtype)
    h = _dense(_layer_norm(x, weights["ln_2"], epsilon), weights["c_fc"], compute_dtype)
    h = tf.nn.gelu(h, approximate=True)
    return x + _dense(h, weights["mlp_proj"], compute_dtype), cache


def cached_forward(weights, embeddings, cache, index, num_heads, epsilon,
                   compute_dtype="float32", cross=None):
    """Input embeddings ``[B, T, D]`` at positions ``index..index+T-1`` -> (float32 logits
    ``[B, T, V]``, updated cache). Matches the backbone's own cached call (eval mode).
    ``compute_dtype`` is the matrix products' dtype (the backbone's compute dtype);
    ``cross`` is :func:`cross_keys_values` of the encoder states (required by a backbone
    with cross-attention)."""
    if cross is None and any("cross_q" in block for block in weights["blocks"]):
        raise ValueError("this GPT-2 has cross-attention: pass cross=cross_keys_values(...)")
    cross = cross or (None,) * len(weights["blocks"])
    index = tf.cast(index, tf.int32)
    length = tf.shape(embeddings)[1]
    positions = tf.slice(weights["wpe"], [index, 0], [length, -1])
    x = tf.cast(embeddings, tf.float32) + positions[None]
    new_cache = []
    for block, block_cache, block_cross in zip(weights["blocks"], cache, cross):
        x, block_cache = _block(block, x, block_cache, index, num_heads, epsilon,
                                compute_dtype, block_cross)
        new_cache.append(block_cache)
    x = _layer_norm(x, weights["ln_f"], epsilon)
    return _product(x, weights["lm_head"], True, compute_dtype), tuple(new_cache)
