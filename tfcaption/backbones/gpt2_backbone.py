"""keras-hub's GPT-2 backbone with a configurable LayerNorm epsilon, and tied-head logits.

keras-hub 0.32's ``GPT2Backbone`` hard-codes ``epsilon=1e-5`` in all its LayerNorms and
does not list it in ``get_config``. Hugging Face GPT-2 configs carry
``layer_norm_epsilon``; this subclass takes it as a constructor argument, sets it on
every LayerNorm (``keras.layers.LayerNormalization.call`` reads ``self.epsilon`` on each
call) and returns it from ``get_config``, so a saved model keeps it.
"""

import keras
import keras_hub

DEFAULT_LAYER_NORM_EPSILON = 1e-5


@keras.saving.register_keras_serializable(package="tfcaption")
class GPT2Backbone(keras_hub.models.GPT2Backbone):
    """``keras_hub.models.GPT2Backbone`` plus ``layer_norm_epsilon``.

    Args:
      vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim, dropout,
        max_sequence_length, dtype: as in keras-hub.
      layer_norm_epsilon: epsilon of the ``ln_1`` / ``ln_2`` / ``ln_f`` LayerNorms
        (Hugging Face ``config.layer_norm_epsilon``; GPT-2 uses 1e-5).

    Inputs and outputs are keras-hub's: ``{"token_ids", "padding_mask"}`` ->
    final-LayerNorm hidden states ``[batch, seq, hidden_dim]``.
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim,
                 intermediate_dim, dropout=0.1, max_sequence_length=1024,
                 layer_norm_epsilon=DEFAULT_LAYER_NORM_EPSILON, dtype=None, **kwargs):
        super().__init__(vocabulary_size=vocabulary_size, num_layers=num_layers,
                         num_heads=num_heads, hidden_dim=hidden_dim,
                         intermediate_dim=intermediate_dim, dropout=dropout,
                         max_sequence_length=max_sequence_length, dtype=dtype, **kwargs)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        for norm in self.layer_norms():
            norm.epsilon = self.layer_norm_epsilon
        for layer in self.transformer_layers:
            layer.layer_norm_epsilon = self.layer_norm_epsilon

    def layer_norms(self):
        """Every LayerNorm of the network: ``ln_1``, ``ln_2`` per block, then ``ln_f``."""
        norms = []
        for layer in self.transformer_layers:
            norms += [layer._self_attention_layer_norm, layer._feedforward_layer_norm]
        return norms + [self.layer_norm]

    def lm_logits(self, hidden_states):
        """Next-token logits from hidden states with the tied token embedding."""
        return lm_logits(self, hidden_states)

    def get_config(self):
        config = super().get_config()
        config["layer_norm_epsilon"] = self.layer_norm_epsilon
        return config


def lm_logits(backbone, hidden_states):
    """GPT-2's LM head: ``hidden_states @ wte.T`` (``[..., hidden]`` -> ``[..., vocab]``).

    Works for any keras-hub GPT-2 backbone: its ``token_embedding`` is a
    ``keras.layers.ReversibleEmbedding`` with tied weights, whose ``reverse=True`` call
    multiplies by the transposed embedding matrix (as Hugging Face's tied ``lm_head``).
    """
    return backbone.token_embedding(hidden_states, reverse=True)
