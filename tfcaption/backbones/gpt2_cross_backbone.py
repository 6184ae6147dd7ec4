"""GPT-2 with cross-attention (Hugging Face ``add_cross_attention=True``), as used by the
decoders of VisionEncoderDecoder checkpoints, built from keras-hub's layers.

Each block runs ``x += attn(ln_1(x))`` (causal), ``x += crossattention(ln_cross_attn(x),
encoder_states)`` (no mask), ``x += mlp(ln_2(x))``: keras-hub's ``TransformerDecoder`` with
``normalize_first=True`` called with an encoder sequence does exactly this. The layers carry
the names and attributes of :class:`~tfcaption.backbones.gpt2_backbone.GPT2Backbone`
(``token_embedding``, ``position_embedding``, ``transformer_layers``, ``layer_norm``), so
the GPT-2 converter and the lean decoding path read both.
"""

import keras
from keras.layers import ReversibleEmbedding
from keras_hub.layers import PositionEmbedding, TransformerDecoder
from keras_hub.models import Backbone

from tfcaption.backbones.gpt2_backbone import DEFAULT_LAYER_NORM_EPSILON, lm_logits


def _gelu_tanh(x):
    return keras.activations.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="tfcaption")
class GPT2CrossBackbone(Backbone):
    """GPT-2 blocks with cross-attention over encoder states of width ``hidden_dim``.

    Args:
      vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim, dropout,
        max_sequence_length, layer_norm_epsilon: as for ``GPT2Backbone``.

    Inputs ``{"token_ids" [B, T], "padding_mask" [B, T], "encoder_sequence" [B, S, D]}``
    -> final-LayerNorm hidden states ``[B, T, D]``; :meth:`lm_logits` applies the tied head.
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 dropout=0.1, max_sequence_length=1024,
                 layer_norm_epsilon=DEFAULT_LAYER_NORM_EPSILON, dtype=None, **kwargs):
        initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.token_embedding = ReversibleEmbedding(
            vocabulary_size, hidden_dim, embeddings_initializer=initializer, dtype=dtype,
            name="token_embedding")
        self.position_embedding = PositionEmbedding(
            sequence_length=max_sequence_length, initializer=initializer, dtype=dtype,
            name="position_embedding")
        self.embeddings_dropout = keras.layers.Dropout(dropout, dtype=dtype,
                                                       name="embeddings_dropout")
        self.transformer_layers = [
            TransformerDecoder(intermediate_dim=intermediate_dim, num_heads=num_heads,
                               dropout=dropout, layer_norm_epsilon=layer_norm_epsilon,
                               activation=_gelu_tanh, kernel_initializer=initializer,
                               normalize_first=True, dtype=dtype,
                               name=f"transformer_layer_{i}")
            for i in range(num_layers)]
        self.layer_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon,
                                                          dtype=dtype, name="layer_norm")

        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        encoder_sequence = keras.Input(shape=(None, hidden_dim), name="encoder_sequence")
        tokens = self.token_embedding(token_ids)
        x = self.embeddings_dropout(tokens + self.position_embedding(tokens))
        for layer in self.transformer_layers:
            x = layer(x, encoder_sequence, decoder_padding_mask=padding_mask)
        super().__init__(inputs={"token_ids": token_ids, "padding_mask": padding_mask,
                                 "encoder_sequence": encoder_sequence},
                         outputs=self.layer_norm(x), dtype=dtype, **kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.num_layers = int(num_layers)
        self.num_heads = int(num_heads)
        self.hidden_dim = int(hidden_dim)
        self.intermediate_dim = int(intermediate_dim)
        self.dropout = float(dropout)
        self.max_sequence_length = int(max_sequence_length)
        self.layer_norm_epsilon = float(layer_norm_epsilon)

    def lm_logits(self, hidden_states):
        """Next-token logits from hidden states with the tied token embedding."""
        return lm_logits(self, hidden_states)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_size": self.vocabulary_size, "num_layers": self.num_layers,
                       "num_heads": self.num_heads, "hidden_dim": self.hidden_dim,
                       "intermediate_dim": self.intermediate_dim, "dropout": self.dropout,
                       "max_sequence_length": self.max_sequence_length,
                       "layer_norm_epsilon": self.layer_norm_epsilon})
        return config
