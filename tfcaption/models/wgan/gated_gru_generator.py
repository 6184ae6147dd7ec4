"""The WGAN-GP captioner's generator: two GRU cells gated by the image feature."""

import keras
import tensorflow as tf
from keras import ops

from tfcaption.models.wgan.image_gated_gru import ImageGatedGru


@keras.saving.register_keras_serializable(package="tfcaption")
class GatedGruGenerator(ImageGatedGru):
    """The :class:`ImageGatedGru` core with a ``tanh`` image gate → Dense(embedding_dim,
    tanh) → Dense(vocabulary_size) (logits; softmax gives the next-word distribution).
    The recurrent state ``h`` is zero at the start.

    ``call({"features" [B, F], "token_ids" [B, T]})`` runs teacher-forced over the ``T``
    input tokens (``<start> w1 … w_{T-1}``) in one ``tf.while_loop`` (a symbolic loop
    keeps XLA compilation short; its dropout masks are drawn before the loop) and returns
    logits ``[B, T, V]``: row ``t`` predicts token ``t + 1``. :meth:`step` advances one
    token (decoding); :meth:`embedded_step` takes an input vector instead of an id.
    The dropout layer holds only the seed of the masks :meth:`dropout_masks` draws.

    Args:
      vocabulary_size: words, specials included (``V``).
      feature_dim: the image feature's size (2048 for ResNet-50 pooled features).
      embedding_dim: word embedding size (300, GloVe's).
      hidden_dim: both GRU cells' size.
      dropout: rate between the first GRU cell and the gate.
    """

    def __init__(self, vocabulary_size, feature_dim=2048, embedding_dim=300, hidden_dim=256,
                 dropout=0.5, **kwargs):
        super().__init__(vocabulary_size, feature_dim, embedding_dim, hidden_dim, dropout,
                         "tanh", **kwargs)
        self.to_embedding = keras.layers.Dense(self.embedding_dim, activation="tanh",
                                               name="to_embedding")
        self.to_logits = keras.layers.Dense(self.vocabulary_size, name="to_logits")
        self.to_embedding.build((None, self.hidden_dim))
        self.to_logits.build((None, self.embedding_dim))
        self.built = True

    def initial_state(self, features):
        """``{"h", "gate"}`` for a batch of image features ``[B, F]``."""
        features = ops.cast(features, self.compute_dtype)
        zeros = ops.zeros((ops.shape(features)[0], self.hidden_dim), self.compute_dtype)
        return {"h": zeros, "gate": self.gate(features)}

    def embedded_step(self, inputs, state, mask=None):
        """One step from input vectors ``[N, embedding_dim]`` -> (logits ``[N, V]``, state);
        ``mask`` is the dropout keep-mask of this step (None: no dropout)."""
        h2 = self.gated_step(inputs, state["h"], state["gate"], mask)
        return self.to_logits(self.to_embedding(h2)), {"h": h2, "gate": state["gate"]}

    def step(self, token_ids, state):
        """One inference step from token ids ``[N]`` -> (logits ``[N, V]``, state)."""
        return self.embedded_step(self.embedding(token_ids), state)

    def call(self, inputs, training=None):
        """Teacher-forced logits ``[B, T, V]``, one ``tf.while_loop`` over the steps."""
        state = self.initial_state(inputs["features"])
        words = tf.transpose(self.embedding(inputs["token_ids"]), [1, 0, 2])
        steps = words.shape[0]
        if steps is None:
            raise ValueError("GatedGruGenerator needs a static sequence length")
        masks = self.dropout_masks(steps, tf.shape(words)[1], training)
        outputs = tf.TensorArray(self.compute_dtype, size=steps)

        def body(t, h, outputs):
            logits, new = self.embedded_step(words[t], {"h": h, "gate": state["gate"]},
                                           None if masks is None else masks[t])
            return t + 1, new["h"], outputs.write(t, logits)

        _, _, outputs = tf.while_loop(lambda t, h, o: t < steps, body,
                                      (tf.constant(0), state["h"], outputs),
                                      maximum_iterations=steps)
        return tf.transpose(outputs.stack(), [1, 0, 2])

    def decoding_start(self, features, start_id):
        """(first_logits ``[B, V]``, cache) after the ``<start>`` token, for
        :func:`tfcaption.decoding.decode.decode`."""
        state = self.initial_state(features)
        start = tf.fill([tf.shape(features)[0]], tf.constant(int(start_id), tf.int32))
        return self.step(start, state)

    def decoding_step(self, token_ids, cache, index):
        """The ``step_fn`` of :func:`tfcaption.decoding.decode.decode` (``index`` unused:
        the GRU state is the whole history)."""
        del index
        return self.step(token_ids, cache)
