"""The Transformer mapping network of ClipCap."""

import keras
from keras import ops

from tfcaption.models.clipcap.mapper_block import MapperBlock


@keras.saving.register_keras_serializable(package="tfcaption")
class TransformerMapper(keras.layers.Layer):
    """``linear(prefix) -> [B, clip_length, D]``, concatenated with a learned
    ``prefix_const [prefix_length, D]``, through ``num_layers`` pre-LayerNorm blocks
    (no positional embedding); the output is the last ``prefix_length`` positions.

    Args:
      prefix_dim: CLIP embedding size.
      embed_dim: GPT-2 hidden size D.
      prefix_length: number of output prefix embeddings.
      clip_length: number of positions the CLIP embedding is expanded to.
      num_layers: mapper blocks (8 in ClipCap).
      num_heads: attention heads per block (8).
      mlp_ratio: block MLP width ratio (2).
      layer_norm_epsilon: LayerNorm epsilon (1e-5).
    """

    def __init__(self, prefix_dim, embed_dim, prefix_length, clip_length, num_layers=8,
                 num_heads=8, mlp_ratio=2.0, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.prefix_dim = int(prefix_dim)
        self.embed_dim = int(embed_dim)
        self.prefix_length = int(prefix_length)
        self.clip_length = int(clip_length)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.mlp_ratio = float(mlp_ratio)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        policy = self.dtype_policy
        self.linear = keras.layers.Dense(self.clip_length * self.embed_dim, name="linear",
                                         dtype=policy)
        self.blocks = [MapperBlock(self.embed_dim, self.num_heads, self.mlp_ratio,
                                   self.layer_norm_epsilon, name=f"layers_{i}", dtype=policy)
                       for i in range(self.num_layers)]

    def build(self, input_shape):
        self.linear.build((None, self.prefix_dim))
        self.prefix_const = self.add_weight(
            name="prefix_const", shape=(self.prefix_length, self.embed_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0))
        for block in self.blocks:
            block.build((None, None, self.embed_dim))
        self.built = True

    def call(self, prefix):
        batch = ops.shape(prefix)[0]
        x = ops.reshape(self.linear(prefix), (batch, self.clip_length, self.embed_dim))
        const = ops.cast(self.prefix_const, x.dtype)
        const = ops.broadcast_to(const[None], (batch, self.prefix_length, self.embed_dim))
        x = ops.concatenate([x, const], axis=1)
        for block in self.blocks:
            x = block(x)
        return x[:, self.clip_length:]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.prefix_length, self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update(prefix_dim=self.prefix_dim, embed_dim=self.embed_dim,
                      prefix_length=self.prefix_length, clip_length=self.clip_length,
                      num_layers=self.num_layers, num_heads=self.num_heads,
                      mlp_ratio=self.mlp_ratio, layer_norm_epsilon=self.layer_norm_epsilon)
        return config
