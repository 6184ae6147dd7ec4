"""The Show-and-Tell merge captioner: pooled image features and words through one LSTM."""

import keras
from keras import ops

MERGES = ("add", "none")


@keras.saving.register_keras_serializable(package="tfcaption")
class ShowTellModel(keras.Model):
    """Image feature → Dense(embedding_dim, relu) as the first step of the sequence, ahead
    of the word embeddings → LSTM(hidden_dim) → Dropout → (``merge="add"``: plus the image
    vector) → Dense(dense_dim, relu) → Dropout → Dense(vocabulary_size) (logits; softmax
    gives the next-word distribution).

    ``call({"features" [B, F], "token_ids" [B, T]})`` runs teacher-forced over the ``T``
    input tokens (``<start> w1 … w_{T-1}``) and returns logits ``[B, T, V]``: row ``t``
    predicts token ``t + 1``. The LSTM reads ``[image, <start>, w1, …]``; its output after
    the image alone predicts nothing. :meth:`decoding_start` and :meth:`decoding_step`
    run the same network one token at a time on a cache of the LSTM state ``{"h", "c"}``
    and the image vector, so decoding costs one LSTM step per token.

    ``merge="none"`` is the original Show-and-Tell form: the image enters only as the
    LSTM's first input.

    Args:
      vocabulary_size: words, specials included (``V``).
      feature_dim: the pooled image feature's size (1920 for DenseNet201).
      embedding_dim: the image vector's and the word embedding's size.
      hidden_dim: the LSTM's size (equal to ``embedding_dim`` with ``merge="add"``).
      dense_dim: the hidden Dense layer's size before the output.
      dropout: rate of both dropout layers.
      merge: "add" (the image vector added to the LSTM outputs) or "none".
    """

    def __init__(self, vocabulary_size, feature_dim=1920, embedding_dim=256, hidden_dim=256,
                 dense_dim=128, dropout=0.5, merge="add", **kwargs):
        super().__init__(**kwargs)
        if merge not in MERGES:
            raise ValueError(f"merge {merge!r} is not one of {MERGES}")
        if merge == "add" and int(embedding_dim) != int(hidden_dim):
            raise ValueError(f"merge 'add' adds the image vector (embedding_dim "
                             f"{embedding_dim}) to the LSTM outputs (hidden_dim {hidden_dim}): "
                             f"they must be equal")
        for name, value in (("vocabulary_size", vocabulary_size), ("feature_dim", feature_dim),
                            ("embedding_dim", embedding_dim), ("hidden_dim", hidden_dim),
                            ("dense_dim", dense_dim)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.vocabulary_size = int(vocabulary_size)
        self.feature_dim = int(feature_dim)
        self.embedding_dim = int(embedding_dim)
        self.hidden_dim = int(hidden_dim)
        self.dense_dim = int(dense_dim)
        self.dropout = float(dropout)
        self.merge = merge
        self.image_dense = keras.layers.Dense(self.embedding_dim, activation="relu",
                                              name="image_dense")
        self.embedding = keras.layers.Embedding(self.vocabulary_size, self.embedding_dim,
                                                name="embedding")
        self.lstm = keras.layers.LSTM(self.hidden_dim, return_sequences=True, name="lstm")
        self.lstm_dropout = keras.layers.Dropout(self.dropout, name="lstm_dropout")
        self.dense = keras.layers.Dense(self.dense_dim, activation="relu", name="dense")
        self.dense_dropout = keras.layers.Dropout(self.dropout, name="dense_dropout")
        self.to_logits = keras.layers.Dense(self.vocabulary_size, name="to_logits")
        self.image_dense.build((None, self.feature_dim))
        self.embedding.build((None, None))
        self.lstm.build((None, None, self.embedding_dim))
        self.dense.build((None, self.hidden_dim))
        self.to_logits.build((None, self.dense_dim))
        self.built = True

    def head(self, outputs, image, training=None):
        """LSTM outputs ``[..., H]`` (and the image vector, broadcast) -> logits."""
        x = self.lstm_dropout(outputs, training=training)
        if self.merge == "add":
            x = x + image
        x = self.dense_dropout(self.dense(x), training=training)
        return self.to_logits(x)

    def call(self, inputs, training=None):
        """Teacher-forced logits ``[B, T, V]``."""
        image = self.image_dense(ops.cast(inputs["features"], self.compute_dtype))
        words = self.embedding(inputs["token_ids"])
        outputs = self.lstm(ops.concatenate([image[:, None, :], words], axis=1),
                            training=training)
        return self.head(outputs[:, 1:], image[:, None, :], training=training)

    def cell_step(self, inputs, cache):
        """One LSTM step on input vectors ``[N, embedding_dim]`` -> (output, cache)."""
        output, (h, c) = self.lstm.cell(inputs, [cache["h"], cache["c"]], training=False)
        return output, {"h": h, "c": c, "image": cache["image"]}

    def initial_cache(self, features):
        """The cache after the LSTM has read the image: ``{"h", "c", "image"}``."""
        image = self.image_dense(ops.cast(features, self.compute_dtype))
        zeros = ops.zeros((ops.shape(image)[0], self.hidden_dim), self.compute_dtype)
        _, cache = self.cell_step(image, {"h": zeros, "c": zeros, "image": image})
        return cache

    def step(self, token_ids, cache):
        """One inference step from token ids ``[N]`` -> (logits ``[N, V]``, cache)."""
        output, cache = self.cell_step(self.embedding(token_ids), cache)
        return self.head(output, cache["image"], training=False), cache

    def decoding_start(self, features, start_id):
        """(first_logits ``[B, V]``, cache) after the image and the ``<start>`` token, for
        :func:`tfcaption.decoding.decode.decode`."""
        cache = self.initial_cache(features)
        start = ops.full((ops.shape(features)[0],), int(start_id), "int32")
        return self.step(start, cache)

    def decoding_step(self, token_ids, cache, index):
        """The ``step_fn`` of :func:`tfcaption.decoding.decode.decode` (``index`` unused:
        the LSTM state is the whole history)."""
        del index
        return self.step(token_ids, cache)

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, feature_dim=self.feature_dim,
                      embedding_dim=self.embedding_dim, hidden_dim=self.hidden_dim,
                      dense_dim=self.dense_dim, dropout=self.dropout, merge=self.merge)
        return config
