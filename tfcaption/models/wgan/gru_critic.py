"""The WGAN-GP captioner's critic: two GRU cells gated by the image feature, read to the end."""

import keras
import tensorflow as tf
from keras import ops

from tfcaption.models.wgan.image_gated_gru import ImageGatedGru


def soft_embed(distributions, embeddings):
    """Distributions over words ``[B, T, V]`` times the embedding matrix ``[V, E]`` ->
    ``[B, T, E]`` (a one-hot row gives exactly that word's embedding)."""
    return ops.einsum("btv,ve->bte", distributions, ops.cast(embeddings, distributions.dtype))


@keras.saving.register_keras_serializable(package="tfcaption")
class GruCritic(ImageGatedGru):
    """Scores (image, caption) pairs with one unbounded real number (Wasserstein critic).

    The :class:`ImageGatedGru` core with a ``relu`` image gate (zero state at the
    start); the state after the last step → Dense(1) (``score_activation`` None: an unbounded score; the
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
        super().__init__(vocabulary_size, feature_dim, embedding_dim, hidden_dim, dropout,
                         "relu", **kwargs)
        self.score_activation = score_activation
        self.score = keras.layers.Dense(1, activation=score_activation, name="score")
        self.score.build((None, self.hidden_dim))
        self.built = True

    def embed(self, sequence):
        """Token ids ``[B, T]`` or distributions ``[B, T, V]`` -> word vectors ``[B, T, E]``."""
        if len(sequence.shape) == 2:
            return self.embedding(sequence)
        if len(sequence.shape) == 3 and sequence.shape[-1] == self.vocabulary_size:
            return soft_embed(ops.cast(sequence, self.compute_dtype), self.embeddings)
        raise ValueError(f"GruCritic takes token ids [B, T] or distributions "
                         f"[B, T, {self.vocabulary_size}], got shape {tuple(sequence.shape)}")

    def call(self, inputs, training=None):
        words = self.embed(inputs["sequence"])
        steps = words.shape[1]
        if steps is None:
            raise ValueError("GruCritic needs a static sequence length")
        gate = self.gate(inputs["features"])
        batch = tf.shape(gate)[0]
        mask = inputs.get("padding_mask")
        mask = (tf.ones([steps, batch], tf.bool) if mask is None
                else tf.transpose(tf.cast(mask, tf.bool), [1, 0]))
        words = tf.transpose(words, [1, 0, 2])
        keep = self.dropout_masks(steps, batch, training)

        def body(t, h):
            h2 = self.gated_step(words[t], h, gate, None if keep is None else keep[t])
            return t + 1, tf.where(mask[t][:, None], h2, h)

        h = tf.zeros([batch, self.hidden_dim], self.compute_dtype)
        _, h = tf.while_loop(lambda t, h: t < steps, body, (tf.constant(0), h),
                             maximum_iterations=steps)
        return self.score(h)[:, 0]

    def get_config(self):
        config = super().get_config()
        config.update(score_activation=self.score_activation)
        return config
