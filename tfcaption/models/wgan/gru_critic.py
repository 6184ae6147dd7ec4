"""The WGAN-GP captioner's critic: two GRU cells gated by the image feature, read to the end."""

import keras
import tensorflow as tf
from keras import ops

from tfcaption.models.wgan.step_dropout import step_dropout_masks


def soft_embed(distributions, embeddings):
    """Distributions over words ``[B, T, V]`` times the embedding matrix ``[V, E]`` ->
    ``[B, T, E]`` (a one-hot row gives exactly that word's embedding)."""
    return ops.einsum("btv,ve->bte", distributions, ops.cast(embeddings, distributions.dtype))


@keras.saving.register_keras_serializable(package="tfcaption")
class GruCritic(keras.Model):
    """Scores (image, caption) pairs with one unbounded real number (Wasserstein critic).

    Word vectors → GRUCell → dropout → ``* relu(Dense(image feature))`` → GRUCell, with
    one recurrent state as in :class:`GatedGruGenerator` (zero at the start); the state
    after the last step → Dense(1) (``score_activation`` None: an unbounded score; the
    reference code puts a sigmoid there, ``"sigmoid"``). The critic has its own
    embedding table.

    ``call({"features" [B, F], "sequence": ..., ["padding_mask" [B, T]]})``: ``sequence``
    is either int token ids ``[B, T]`` (real captions: an embedding lookup) or float
    distributions over words ``[B, T, V]`` (the generator's softmax outputs, or
    interpolates for the gradient penalty: multiplied by the embedding matrix,
    :func:`soft_embed`). With a ``padding_mask`` the state stops changing after each
    row's last real step, so a padded batch scores as the reference's batches of
    equal-length captions do; without one all ``T`` steps are read. Returns ``[B]``. The
    steps run in one ``tf.while_loop`` with a fixed trip count, which XLA compiles (the
    gradient penalty's second-order gradients included) in seconds where an unrolled
    loop takes minutes.

    Args: as :class:`GatedGruGenerator`; ``dropout`` defaults to 0 (the reference's
    critic has none).
    """

    def __init__(self, vocabulary_size, feature_dim=2048, embedding_dim=300, hidden_dim=256,
                 dropout=0.0, score_activation=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.feature_dim = int(feature_dim)
        self.embedding_dim = int(embedding_dim)
        self.hidden_dim = int(hidden_dim)
        self.dropout = float(dropout)
        self.score_activation = score_activation
        self.embedding = keras.layers.Embedding(self.vocabulary_size, self.embedding_dim,
                                                name="embedding")
        self.gru1 = keras.layers.GRUCell(self.hidden_dim, name="gru1")
        self.dropout_layer = keras.layers.Dropout(self.dropout, name="dropout")
        self.image_gate = keras.layers.Dense(self.hidden_dim, activation="relu",
                                             name="image_gate")
        self.gru2 = keras.layers.GRUCell(self.hidden_dim, name="gru2")
        self.score = keras.layers.Dense(1, activation=score_activation, name="score")
        self.embedding.build((None,))
        self.gru1.build((None, self.embedding_dim))
        self.image_gate.build((None, self.feature_dim))
        self.gru2.build((None, self.hidden_dim))
        self.score.build((None, self.hidden_dim))
        self.built = True

    @property
    def embeddings(self):
        return self.embedding.embeddings

    def embed(self, sequence):
        """Token ids ``[B, T]`` or distributions ``[B, T, V]`` -> word vectors ``[B, T, E]``."""
        if len(sequence.shape) == 2:
            return self.embedding(sequence)
        if len(sequence.shape) == 3 and sequence.shape[-1] == self.vocabulary_size:
            return soft_embed(ops.cast(sequence, self.compute_dtype), self.embeddings)
        raise ValueError(f"GruCritic takes token ids [B, T] or distributions "
                         f"[B, T, {self.vocabulary_size}], got shape {tuple(sequence.shape)}")

    def call(self, inputs, training=None):
        features = ops.cast(inputs["features"], self.compute_dtype)
        words = self.embed(inputs["sequence"])
        steps = words.shape[1]
        if steps is None:
            raise ValueError("GruCritic needs a static sequence length")
        gate = self.image_gate(features)
        batch = tf.shape(features)[0]
        mask = inputs.get("padding_mask")
        mask = (tf.ones([steps, batch], tf.bool) if mask is None
                else tf.transpose(tf.cast(mask, tf.bool), [1, 0]))
        words = tf.transpose(words, [1, 0, 2])
        keep = step_dropout_masks(self.dropout_layer,
                                  (steps, batch, self.hidden_dim), self.compute_dtype,
                                  training)

        def body(t, h):
            h1, _ = self.gru1(words[t], [h])
            h2, _ = self.gru2((h1 if keep is None else h1 * keep[t]) * gate, [h1])
            return t + 1, tf.where(mask[t][:, None], h2, h)

        h = tf.zeros([batch, self.hidden_dim], self.compute_dtype)
        _, h = tf.while_loop(lambda t, h: t < steps, body, (tf.constant(0), h),
                             maximum_iterations=steps)
        return self.score(h)[:, 0]

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, feature_dim=self.feature_dim,
                      embedding_dim=self.embedding_dim, hidden_dim=self.hidden_dim,
                      dropout=self.dropout, score_activation=self.score_activation)
        return config
