"""CgT-GAN's discriminator: RoBERTa's pooled output -> MLP -> one real/fake logit."""

import keras
from keras import ops

from tfcaption.backbones.roberta_encoder import RobertaEncoder


@keras.saving.register_keras_serializable(package="tfcaption")
class CaptionDiscriminator(keras.Model):
    """``Dense(hidden -> hidden/2)`` -> Tanh -> ``Dense(-> 1)`` on the pooler output of a
    :class:`RobertaEncoder` (768 -> 384 -> 1 for ``roberta-base``).

    ``call({"token_ids", "padding_mask"})`` -> float32 logits ``[N]`` (> 0 means "real").
    Token ids are RoBERTa's: ``<s>`` caption ``</s>``, right-padded with ``<pad>``.

    Args:
      encoder: a :class:`RobertaEncoder` (e.g. ``load_roberta(...).model``).
      mlp_dim: width of the hidden MLP layer; ``None`` = ``encoder.hidden_dim // 2``.
    """

    def __init__(self, encoder, mlp_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.mlp_dim = int(mlp_dim or encoder.hidden_dim // 2)
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.hidden = keras.layers.Dense(self.mlp_dim, activation="tanh",
                                         kernel_initializer=init, name="classifier_0")
        self.out = keras.layers.Dense(1, kernel_initializer=init, name="classifier_2")
        self.hidden.build((None, encoder.hidden_dim))
        self.out.build((None, self.mlp_dim))
        self.built = True

    def call(self, inputs, training=None):
        pooled = self.encoder({"token_ids": ops.cast(inputs["token_ids"], "int32"),
                               "padding_mask": ops.cast(inputs["padding_mask"], "int32")},
                              training=training)["pooled_output"]
        logits = self.out(self.hidden(pooled))
        return ops.cast(ops.squeeze(logits, -1), "float32")

    def get_config(self):
        config = super().get_config()
        config.update(encoder=keras.saving.serialize_keras_object(self.encoder),
                      mlp_dim=self.mlp_dim)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


def build_discriminator(vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                        max_sequence_length, dropout=0.1, mlp_dim=None):
    """A randomly initialised discriminator from a RoBERTa config."""
    encoder = RobertaEncoder(vocabulary_size, num_layers, num_heads, hidden_dim,
                             intermediate_dim, dropout=dropout,
                             max_sequence_length=max_sequence_length, name="roberta")
    return CaptionDiscriminator(encoder, mlp_dim=mlp_dim, name="discriminator")
