"""The MLP mapping network: CLIP embedding -> ``prefix_length`` GPT-2 input embeddings."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfcaption")
class MlpMapper(keras.layers.Layer):
    """``Linear(prefix_dim -> hidden_dim) -> Tanh -> Linear(hidden_dim ->
    embed_dim * prefix_length)``, reshaped to ``[B, prefix_length, embed_dim]``.

    The official ClipCap ``MLP`` (``clip_project.model.0`` / ``model.2``); the layers are
    named ``model_0`` and ``model_2`` after it.

    Args:
      prefix_dim: size of the CLIP embedding (512 for ViT-B/32, 640 for RN50x4).
      embed_dim: GPT-2 hidden size (768 for GPT-2 124M).
      prefix_length: number of prefix embeddings.
      hidden_dim: hidden width; default ``embed_dim * prefix_length // 2``, as official.
    """

    def __init__(self, prefix_dim, embed_dim, prefix_length, hidden_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.prefix_dim = int(prefix_dim)
        self.embed_dim = int(embed_dim)
        self.prefix_length = int(prefix_length)
        self.hidden_dim = int(hidden_dim or embed_dim * prefix_length // 2)
        self.model_0 = keras.layers.Dense(self.hidden_dim, activation="tanh", name="model_0",
                                          dtype=self.dtype_policy)
        self.model_2 = keras.layers.Dense(self.embed_dim * self.prefix_length, name="model_2",
                                          dtype=self.dtype_policy)

    def build(self, input_shape):
        self.model_0.build((None, self.prefix_dim))
        self.model_2.build((None, self.hidden_dim))
        self.built = True

    def call(self, prefix):
        x = self.model_2(self.model_0(prefix))
        return ops.reshape(x, (-1, self.prefix_length, self.embed_dim))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.prefix_length, self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update(prefix_dim=self.prefix_dim, embed_dim=self.embed_dim,
                      prefix_length=self.prefix_length, hidden_dim=self.hidden_dim)
        return config
