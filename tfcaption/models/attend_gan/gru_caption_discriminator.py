"""The ATTEND-GAN discriminator: a caption through a 2-layer bidirectional GRU -> real or fake."""

import keras
import tensorflow as tf
from keras import layers


@keras.saving.register_keras_serializable(package="tfcaption")
class GruCaptionDiscriminator(keras.Model):
    """``wte`` embedding -> ``num_layers`` bidirectional GRU layers (``hidden_dim`` each
    way, dropout between layers) -> the final state of every layer and direction
    concatenated -> ``linear_gru2logit`` (ReLU) -> dropout -> ``linear_logit2score``: one
    logit per caption (sigmoid gives the probability of a dataset caption), as the
    reference re-implementation.

    ``call({"token_ids" [N, T], "padding_mask" [N, T]})`` reads each caption up to its
    mask (the GRUs skip padding, so the backward direction starts at the caption's last
    word). With ``image_conditioned`` it also reads ``"features"`` (the generator's
    regions, ``[N, ..., feature_dim]``): their mean, through ``image_linear`` (ReLU), is
    concatenated to the caption's states, so the score judges the caption of that image
    rather than the caption alone. The reference reads the caption only (the default).

    Args:
      vocabulary_size: words (``V``), as the generator's.
      embedding_dim: word embedding size (768, GPT-2's ``wte``, in the reference).
      hidden_dim: the GRUs' size per direction (1024) and the head's width.
      num_layers: stacked bidirectional GRU layers (2).
      dropout: between the GRU layers and in the head (0.1).
      image_conditioned: also read the image (see above).
      feature_dim: the region features' channels (with ``image_conditioned``).
    """

    def __init__(self, vocabulary_size, embedding_dim=768, hidden_dim=1024, num_layers=2,
                 dropout=0.1, image_conditioned=False, feature_dim=2048, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("vocabulary_size", vocabulary_size),
                            ("embedding_dim", embedding_dim), ("hidden_dim", hidden_dim),
                            ("num_layers", num_layers), ("feature_dim", feature_dim)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.vocabulary_size = int(vocabulary_size)
        self.embedding_dim = int(embedding_dim)
        self.hidden_dim = int(hidden_dim)
        self.num_layers = int(num_layers)
        self.dropout = float(dropout)
        self.image_conditioned = bool(image_conditioned)
        self.feature_dim = int(feature_dim)
        self.wte = layers.Embedding(self.vocabulary_size, self.embedding_dim, name="wte")
        self.gru = [layers.Bidirectional(
            layers.GRU(self.hidden_dim, return_sequences=index < self.num_layers - 1,
                       return_state=True), name=f"gru_{index}")
            for index in range(self.num_layers)]
        self.between = layers.Dropout(self.dropout)
        self.image_linear = (layers.Dense(self.hidden_dim, activation="relu",
                                          name="image_linear")
                             if self.image_conditioned else None)
        self.linear_gru2logit = layers.Dense(self.hidden_dim, activation="relu",
                                             name="linear_gru2logit")
        self.head_dropout = layers.Dropout(self.dropout)
        self.linear_logit2score = layers.Dense(1, name="linear_logit2score")
        inputs = {"token_ids": tf.zeros([1, 2], tf.int32),
                  "padding_mask": tf.ones([1, 2], tf.bool)}
        if self.image_conditioned:
            inputs["features"] = tf.zeros([1, 1, self.feature_dim])
        self(inputs)
        self.built = True

    def call(self, inputs, training=None):
        """Logits ``[N]`` (float32)."""
        mask = tf.cast(inputs["padding_mask"], tf.bool)
        x = self.wte(tf.cast(inputs["token_ids"], tf.int32))
        states = []
        for index, gru in enumerate(self.gru):
            if index:
                x = self.between(x, training=training)
            x, forward, backward = gru(x, mask=mask, training=training)
            states += [forward, backward]
        pooled = tf.concat(states, axis=-1)
        if self.image_conditioned:
            features = tf.cast(inputs["features"], pooled.dtype)
            features = tf.reshape(features, [tf.shape(features)[0], -1, self.feature_dim])
            pooled = tf.concat([pooled, self.image_linear(tf.reduce_mean(features, 1))], -1)
        hidden = self.head_dropout(self.linear_gru2logit(pooled), training=training)
        return tf.cast(self.linear_logit2score(hidden)[:, 0], tf.float32)

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, embedding_dim=self.embedding_dim,
                      hidden_dim=self.hidden_dim, num_layers=self.num_layers,
                      dropout=self.dropout, image_conditioned=self.image_conditioned,
                      feature_dim=self.feature_dim)
        return config
