"""The gated GRU core the WGAN-GP generator and critic share: two GRU cells gated by the image."""

import keras
from keras import ops

from tfcaption.models.wgan.step_dropout import step_dropout_masks


class ImageGatedGru(keras.Model):
    """Word embedding → GRUCell → dropout → ``* activation(Dense(image feature))`` →
    GRUCell, with one recurrent state ``h``: the first cell reads the word vector and
    ``h``; the second reads the gated output of the first and takes the first cell's
    (undropped) output as its previous state; its output is the next ``h`` (a stacked
    conditional GRU, as the reference). The generator and the critic each add their
    head (:class:`GatedGruGenerator`, :class:`GruCritic`) and have their own weights.

    The layers are attributes of the model itself (``embedding``, ``gru1``,
    ``dropout_layer``, ``image_gate``, ``gru2``), so saved weights keep those names.

    Args:
      vocabulary_size: words, specials included (``V``).
      feature_dim: the image feature's size.
      embedding_dim: word embedding size.
      hidden_dim: both GRU cells' size.
      dropout: rate between the first GRU cell and the gate.
      gate_activation: the image gate's activation (the generator's tanh, the critic's
        relu); not a constructor argument of the subclasses.
    """

    def __init__(self, vocabulary_size, feature_dim, embedding_dim, hidden_dim, dropout,
                 gate_activation, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.feature_dim = int(feature_dim)
        self.embedding_dim = int(embedding_dim)
        self.hidden_dim = int(hidden_dim)
        self.dropout = float(dropout)
        self.embedding = keras.layers.Embedding(self.vocabulary_size, self.embedding_dim,
                                                name="embedding")
        self.gru1 = keras.layers.GRUCell(self.hidden_dim, name="gru1")
        self.dropout_layer = keras.layers.Dropout(self.dropout, name="dropout")
        self.image_gate = keras.layers.Dense(self.hidden_dim, activation=gate_activation,
                                             name="image_gate")
        self.gru2 = keras.layers.GRUCell(self.hidden_dim, name="gru2")
        self.embedding.build((None,))
        self.gru1.build((None, self.embedding_dim))
        self.image_gate.build((None, self.feature_dim))
        self.gru2.build((None, self.hidden_dim))

    @property
    def embeddings(self):
        """The word embedding matrix ``[V, embedding_dim]``."""
        return self.embedding.embeddings

    def gate(self, features):
        """The image gate ``[B, hidden_dim]`` of image features ``[B, F]``."""
        return self.image_gate(ops.cast(features, self.compute_dtype))

    def gated_step(self, inputs, h, gate, mask=None):
        """One step from word vectors ``[N, embedding_dim]`` and state ``h`` -> the next
        state ``[N, hidden_dim]``; ``mask`` is the dropout keep-mask of this step (None:
        no dropout)."""
        h1, _ = self.gru1(inputs, [h])
        h2, _ = self.gru2((h1 if mask is None else h1 * mask) * gate, [h1])
        return h2

    def dropout_masks(self, steps, batch, training):
        """Keep-masks ``[steps, batch, hidden]`` for the dropout after the first cell, or
        None (see :func:`step_dropout_masks`)."""
        return step_dropout_masks(self.dropout_layer, (steps, batch, self.hidden_dim),
                                  self.compute_dtype, training)

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, feature_dim=self.feature_dim,
                      embedding_dim=self.embedding_dim, hidden_dim=self.hidden_dim,
                      dropout=self.dropout)
        return config
