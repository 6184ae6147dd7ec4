"""One pre-LayerNorm block of the ClipCap Transformer mapper."""

import keras

from tfcaption.models.clipcap.mapper_attention import MapperAttention


@keras.saving.register_keras_serializable(package="tfcaption")
class MapperBlock(keras.layers.Layer):
    """``x + attn(norm1(x))``, then ``x + fc2(relu(fc1(norm2(x))))`` (official
    ``TransformerLayer``: MLP ratio 2, ReLU, no dropout at inference).

    Args:
      dim: width.
      num_heads: attention heads (8 in ClipCap).
      mlp_ratio: hidden width of the MLP as a multiple of ``dim``.
      layer_norm_epsilon: epsilon of ``norm1`` / ``norm2`` (PyTorch default 1e-5).
    """

    def __init__(self, dim, num_heads=8, mlp_ratio=2.0, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.num_heads = int(num_heads)
        self.mlp_ratio = float(mlp_ratio)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        policy = self.dtype_policy
        self.norm1 = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                     name="norm1", dtype=policy)
        self.attn = MapperAttention(self.dim, self.num_heads, name="attn", dtype=policy)
        self.norm2 = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                     name="norm2", dtype=policy)
        self.fc1 = keras.layers.Dense(int(self.dim * self.mlp_ratio), activation="relu",
                                      name="fc1", dtype=policy)
        self.fc2 = keras.layers.Dense(self.dim, name="fc2", dtype=policy)

    def build(self, input_shape):
        shape = (None, None, self.dim)
        self.norm1.build(shape)
        self.attn.build(shape)
        self.norm2.build(shape)
        self.fc1.build(shape)
        self.fc2.build((None, None, int(self.dim * self.mlp_ratio)))
        self.built = True

    def call(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.fc1(self.norm2(x)))

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, num_heads=self.num_heads, mlp_ratio=self.mlp_ratio,
                      layer_norm_epsilon=self.layer_norm_epsilon)
        return config
