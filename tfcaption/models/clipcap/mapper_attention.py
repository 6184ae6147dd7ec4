"""Multi-head attention of the ClipCap Transformer mapper."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfcaption")
class MapperAttention(keras.layers.Layer):
    """Self-attention as in the official mapper: ``to_queries`` and ``to_keys_values``
    without bias (keys then values, each ``[heads, head_dim]``, along the output axis),
    softmax over keys scaled by ``head_dim ** -0.5``, then ``project`` with bias.
    No mask: every prefix position sees every other.

    Args:
      dim: width of the input and output.
      num_heads: number of heads; must divide ``dim``.
    """

    def __init__(self, dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f"MapperAttention: dim={dim} is not divisible by "
                             f"num_heads={num_heads}")
        self.dim = int(dim)
        self.num_heads = int(num_heads)
        self.head_dim = self.dim // self.num_heads
        policy = self.dtype_policy
        self.to_queries = keras.layers.Dense(dim, use_bias=False, name="to_queries",
                                             dtype=policy)
        self.to_keys_values = keras.layers.Dense(2 * dim, use_bias=False,
                                                 name="to_keys_values", dtype=policy)
        self.project = keras.layers.Dense(dim, name="project", dtype=policy)

    def build(self, input_shape):
        for layer in (self.to_queries, self.to_keys_values, self.project):
            layer.build((None, None, self.dim))
        self.built = True

    def call(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        heads, head_dim = self.num_heads, self.head_dim
        queries = ops.reshape(self.to_queries(x), (batch, length, heads, head_dim))
        keys_values = ops.reshape(self.to_keys_values(x), (batch, length, 2, heads, head_dim))
        keys, values = keys_values[:, :, 0], keys_values[:, :, 1]
        scores = ops.einsum("bnhd,bmhd->bhnm", queries, keys) * (head_dim ** -0.5)
        weights = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        out = ops.einsum("bhnm,bmhd->bnhd", ops.cast(weights, values.dtype), values)
        return self.project(ops.reshape(out, (batch, length, self.dim)))

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, num_heads=self.num_heads)
        return config
