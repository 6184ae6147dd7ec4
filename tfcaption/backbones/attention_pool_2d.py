"""CLIP's attention pooling: one query (the mean token) attends over all grid tokens."""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="tfcaption")
class AttentionPool2d(layers.Layer):
    """``[B, H, W, embed_dim]`` -> ``[B, output_dim]``.

    The ``H * W`` grid tokens are flattened row-major, their mean is prepended, the learned
    ``positional_embedding`` (``H * W + 1`` rows) is added, and multi-head attention is run
    with only the mean token as the query. The result is ``c_proj`` of that query's output.
    Weights mirror the OpenAI module: ``positional_embedding``, ``q_proj``, ``k_proj``,
    ``v_proj`` and ``c_proj`` (Linear layers with bias).

    Args:
      spacial_dim: grid side ``H == W`` (the image resolution // 32 in CLIP).
      embed_dim: channels of the input grid.
      num_heads: attention heads; must divide ``embed_dim``.
      output_dim: output features; ``None`` keeps ``embed_dim``.
    """

    def __init__(self, spacial_dim, embed_dim, num_heads, output_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.spacial_dim = int(spacial_dim)
        self.embed_dim = int(embed_dim)
        self.num_heads = int(num_heads)
        self.output_dim = None if output_dim is None else int(output_dim)
        if self.num_heads < 1 or self.embed_dim % self.num_heads:
            raise ValueError(f"num_heads={num_heads} must divide embed_dim={embed_dim}")
        policy = self.dtype_policy
        self.q_proj = layers.Dense(self.embed_dim, dtype=policy, name="q_proj")
        self.k_proj = layers.Dense(self.embed_dim, dtype=policy, name="k_proj")
        self.v_proj = layers.Dense(self.embed_dim, dtype=policy, name="v_proj")
        self.c_proj = layers.Dense(self.output_dim or self.embed_dim, dtype=policy,
                                   name="c_proj")

    @property
    def num_tokens(self):
        return self.spacial_dim ** 2 + 1

    def build(self, input_shape):
        _, height, width, channels = tuple(input_shape)
        if channels != self.embed_dim or (height is not None and height != self.spacial_dim) \
                or (width is not None and width != self.spacial_dim):
            raise ValueError(
                f"{self.name}: expected a [B, {self.spacial_dim}, {self.spacial_dim}, "
                f"{self.embed_dim}] grid, got {tuple(input_shape)}")
        self.positional_embedding = self.add_weight(
            name="positional_embedding", shape=(self.num_tokens, self.embed_dim),
            initializer=keras.initializers.RandomNormal(stddev=self.embed_dim ** -0.5))
        for proj in (self.q_proj, self.k_proj, self.v_proj, self.c_proj):
            proj.build((None, self.embed_dim))

    def call(self, inputs):
        head_dim = self.embed_dim // self.num_heads
        tokens = ops.reshape(inputs, (-1, self.spacial_dim ** 2, self.embed_dim))
        tokens = ops.concatenate([ops.mean(tokens, axis=1, keepdims=True), tokens], axis=1)
        tokens = tokens + ops.cast(self.positional_embedding, tokens.dtype)[None]
        query = self.q_proj(tokens[:, :1])
        query = ops.reshape(query, (-1, 1, self.num_heads, head_dim)) * (head_dim ** -0.5)
        key = ops.reshape(self.k_proj(tokens), (-1, self.num_tokens, self.num_heads, head_dim))
        value = ops.reshape(self.v_proj(tokens),
                            (-1, self.num_tokens, self.num_heads, head_dim))
        weights = ops.softmax(ops.einsum("bqhd,bkhd->bhqk", query, key), axis=-1)
        attended = ops.einsum("bhqk,bkhd->bqhd", weights, value)
        return self.c_proj(ops.reshape(attended, (-1, self.embed_dim)))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim or self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update(spacial_dim=self.spacial_dim, embed_dim=self.embed_dim,
                      num_heads=self.num_heads, output_dim=self.output_dim)
        return config
