"""RoBERTa encoder with Hugging Face's pooler: keras-hub ``RobertaBackbone`` + ``pooler.dense``.

``call({"token_ids", "padding_mask"})`` returns ``{"sequence_output": [batch, len, hidden],
"pooled_output": [batch, hidden]}``, where ``pooled_output = tanh(Dense(sequence_output[:,
0]))`` as in Hugging Face's ``RobertaPooler`` (the CgT-GAN discriminator reads it).

Differences from Hugging Face's ``RobertaModel`` that the converter
(:mod:`tfcaption.backbones.roberta_loader`) accounts for:

- Positions: keras-hub numbers positions ``0 .. len-1``; Hugging Face numbers the real
  tokens of a right-padded sequence ``pad_token_id + 1 ..`` (2, 3, ... in ``roberta-base``).
  The converter drops the first ``pad_token_id + 1`` rows of the position table, so
  ``max_sequence_length = max_position_embeddings - 2`` and outputs agree at every
  non-padding position of right-padded input whose ``padding_mask`` marks the
  ``<pad>`` tokens. Left padding is not supported (as in keras-hub).
- Token types: keras-hub has none. Hugging Face adds ``token_type_embeddings[0]`` to every
  token when no ``token_type_ids`` are given (always, for captions); the converter folds
  that row into the position table, which is exact for type-0 input, also when
  ``type_vocab_size > 1``.
- LayerNorm epsilon: keras-hub hardcodes 1e-5; ``layer_norm_epsilon`` is set on every
  LayerNormalization (Keras reads the attribute at call time).
- Dropout: keras-hub uses one rate for hidden and attention dropout (0.1 in ``roberta-base``
  for both); only training is affected.
"""

import keras
import keras_hub


def _layer_norms(backbone):
    norms = [backbone.embeddings_layer_norm]
    for layer in backbone.transformer_layers:
        norms += [layer._self_attention_layer_norm, layer._feedforward_layer_norm]
    return norms


@keras.saving.register_keras_serializable(package="tfcaption")
class RobertaEncoder(keras.Model):
    """keras-hub RoBERTa + pooler; see the module docstring for the exact semantics.

    Args:
      vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim, dropout,
        max_sequence_length: as in ``keras_hub.models.RobertaBackbone``.
      layer_norm_epsilon: epsilon of every LayerNormalization (Hugging Face
        ``layer_norm_eps``; 1e-5 in ``roberta-base``).
      dtype: dtype policy of the backbone and the pooler.
      **kwargs: ``keras.Model`` arguments (``name``, ``trainable``).

    Attributes:
      backbone: the ``keras_hub.models.RobertaBackbone`` (named ``"roberta"``).
      pooler: the ``Dense(hidden_dim, activation="tanh")`` layer (``"pooler_dense"``).
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 dropout=0.1, max_sequence_length=512, layer_norm_epsilon=1e-5, dtype=None,
                 **kwargs):
        backbone = keras_hub.models.RobertaBackbone(
            vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads,
            hidden_dim=hidden_dim, intermediate_dim=intermediate_dim, dropout=dropout,
            max_sequence_length=max_sequence_length, dtype=dtype, name="roberta")
        for norm in _layer_norms(backbone):
            norm.epsilon = float(layer_norm_epsilon)
        for layer in backbone.transformer_layers:
            layer.layer_norm_epsilon = float(layer_norm_epsilon)
        pooler = keras.layers.Dense(
            hidden_dim, activation="tanh",
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=dtype, name="pooler_dense")

        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        sequence = backbone({"token_ids": token_ids, "padding_mask": padding_mask})
        pooled = pooler(sequence[:, 0, :])
        super().__init__(inputs={"token_ids": token_ids, "padding_mask": padding_mask},
                         outputs={"sequence_output": sequence, "pooled_output": pooled},
                         **kwargs)
        self.backbone = backbone
        self.pooler = pooler
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.dtype_arg = dtype

    @property
    def layer_norms(self):
        """Every LayerNormalization of the encoder (1 + 2 per transformer layer)."""
        return _layer_norms(self.backbone)

    def get_config(self):
        dtype = self.dtype_arg
        if dtype is not None and not isinstance(dtype, str):
            dtype = keras.dtype_policies.serialize(dtype)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "max_sequence_length": self.max_sequence_length,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "dtype": dtype,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
