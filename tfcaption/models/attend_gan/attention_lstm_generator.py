"""The ATTEND-GAN generator: an LSTM attending over a grid of image regions (Show-Attend-Tell)."""

import keras
import tensorflow as tf
from keras import layers


@keras.saving.register_keras_serializable(package="tfcaption")
class AttentionLstmGenerator(keras.Model):
    """Words from a grid of region features with soft attention, one LSTM step per word.

    Features are ``[B, *grid_shape, feature_dim]`` (e.g. ResNet-152 ``res5c``, 7x7x2048)
    or already flattened ``[B, R, feature_dim]``; the ``R = prod(grid_shape)`` regions are
    attended with no padding. Per step ``t``, from the previous state ``h``:

    * attention (additive): ``e_i = We_linear(tanh(Wa_linear(a_i) + Wh_linear(h)))``,
      ``alpha = softmax_i(e)`` over the ``R`` regions, context ``z = sum_i alpha_i a_i``
      (``Wa_linear(a)`` is computed once per image, not per step);
    * gate (Show-Attend-Tell's beta): ``z <- sigmoid(f_beta(h)) * z``;
    * ``lstm`` on ``[wte(y_{t-1}), z]``;
    * output (deep output from the context and the new state, as the reference):
      ``logits = Pa_linear(dropout(z)) + Ph_linear(dropout(h))``.

    The initial ``h`` and ``c`` are ``hidden_linear`` / ``cell_linear`` of the mean
    region feature. Layer names follow the reference re-implementation (``wte``,
    ``Wa_linear``, ``Wh_linear``, ``We_linear``, ``hidden_linear``, ``cell_linear``,
    ``Pa_linear``, ``Ph_linear``), so its weights map mechanically.

    ``call({"features", "token_ids" [B, T]})`` is teacher-forced and returns logits
    ``[B, T, V]`` (row ``t`` predicts token ``t + 1``); :meth:`unroll` also returns the
    attention weights ``[B, T, R]`` and the states after every input.
    :meth:`decoding_start` / :meth:`decoding_step` are the cached steps of
    :func:`tfcaption.decoding.decode.decode`.

    Args:
      vocabulary_size: output words, specials included (``V``).
      feature_dim: channels of each region feature (2048 for ResNet-152).
      grid_shape: the regions' grid (``[7, 7]``); features may be given flattened.
      embedding_dim: word embedding size (768 as GPT-2's ``wte``).
      hidden_dim: the LSTM's size (1024).
      attention_dim: the additive attention's size (512).
      dropout: before the output layers (0 in the reference).
    """

    def __init__(self, vocabulary_size, feature_dim=2048, grid_shape=(7, 7), embedding_dim=768,
                 hidden_dim=1024, attention_dim=512, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        grid_shape = tuple(int(d) for d in grid_shape)
        for name, value in (("vocabulary_size", vocabulary_size), ("feature_dim", feature_dim),
                            ("embedding_dim", embedding_dim), ("hidden_dim", hidden_dim),
                            ("attention_dim", attention_dim)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        if not grid_shape or min(grid_shape) < 1:
            raise ValueError(f"grid_shape must be positive sizes, got {grid_shape}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.vocabulary_size = int(vocabulary_size)
        self.feature_dim = int(feature_dim)
        self.grid_shape = grid_shape
        self.embedding_dim = int(embedding_dim)
        self.hidden_dim = int(hidden_dim)
        self.attention_dim = int(attention_dim)
        self.dropout = float(dropout)
        self.wte = layers.Embedding(self.vocabulary_size, self.embedding_dim, name="wte")
        self.Wa_linear = layers.Dense(self.attention_dim, name="Wa_linear")
        self.Wh_linear = layers.Dense(self.attention_dim, name="Wh_linear")
        self.We_linear = layers.Dense(1, name="We_linear")
        self.f_beta = layers.Dense(self.feature_dim, activation="sigmoid", name="f_beta")
        self.hidden_linear = layers.Dense(self.hidden_dim, name="hidden_linear")
        self.cell_linear = layers.Dense(self.hidden_dim, name="cell_linear")
        self.lstm = layers.LSTMCell(self.hidden_dim, name="lstm")
        self.Pa_linear = layers.Dense(self.vocabulary_size, name="Pa_linear")
        self.Ph_linear = layers.Dense(self.vocabulary_size, name="Ph_linear")
        self.drop = layers.Dropout(self.dropout)
        self.build_all()
        self.built = True

    @property
    def num_regions(self):
        return int(tf.reduce_prod(self.grid_shape))

    def build_all(self):
        """Creates every weight (so a fresh model can be saved, loaded or converted)."""
        features = tf.zeros([1, *self.grid_shape, self.feature_dim])
        cache = self.initial_cache(features)
        self.step(tf.zeros([1], tf.int32), cache)

    # --- the pieces ------------------------------------------------------------------------
    def regions(self, features):
        """``[B, ..., feature_dim]`` -> ``[B, R, feature_dim]`` in the compute dtype."""
        features = tf.cast(features, self.compute_dtype)
        return tf.reshape(features, [tf.shape(features)[0], -1, self.feature_dim])

    def initial_cache(self, features):
        """The decoding cache of a batch: regions, their attention projection, ``h``, ``c``."""
        regions = self.regions(features)
        mean = tf.reduce_mean(regions, axis=1)
        return {"regions": regions, "projected": self.Wa_linear(regions),
                "h": self.hidden_linear(mean), "c": self.cell_linear(mean)}

    def attend(self, cache, h):
        """(gated context ``[N, feature_dim]``, attention ``[N, R]`` float32) from ``h``."""
        energy = self.We_linear(tf.tanh(cache["projected"] + self.Wh_linear(h)[:, None, :]))
        alpha = tf.nn.softmax(tf.cast(energy[..., 0], tf.float32), axis=-1)
        context = tf.reduce_sum(tf.cast(alpha, cache["regions"].dtype)[..., None]
                                * cache["regions"], axis=1)
        return self.f_beta(h) * context, alpha

    def step(self, token_ids, cache, training=False):
        """One word: ``token_ids`` int ``[N]`` -> (logits ``[N, V]``, attention ``[N, R]``,
        the new cache)."""
        context, alpha = self.attend(cache, cache["h"])
        inputs = tf.concat([self.wte(token_ids), context], axis=-1)
        h, (h, c) = self.lstm(inputs, [cache["h"], cache["c"]], training=training)
        logits = (self.Pa_linear(self.drop(context, training=training))
                  + self.Ph_linear(self.drop(h, training=training)))
        return logits, alpha, {**cache, "h": h, "c": c}

    def grouped_step(self, token_ids, h, c, cache):
        """:meth:`step` for ``M`` sequences per image sharing one image's cache:
        ``token_ids`` ``[B, M]``, ``h``/``c`` ``[B, M, hidden]``, ``cache`` of ``B`` images
        (regions are never copied ``M`` times) -> (logits ``[B, M, V]``, ``h``, ``c``)."""
        energy = self.We_linear(tf.tanh(cache["projected"][:, None]
                                        + self.Wh_linear(h)[:, :, None, :]))
        alpha = tf.nn.softmax(tf.cast(energy[..., 0], tf.float32), axis=-1)  # [B, M, R]
        context = tf.einsum("bmr,brd->bmd", tf.cast(alpha, cache["regions"].dtype),
                            cache["regions"])
        context = self.f_beta(h) * context
        batch, rows = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
        flat = lambda x: tf.reshape(x, [batch * rows, -1])  # noqa: E731
        inputs = tf.concat([self.wte(flat(token_ids)[:, 0]), flat(context)], axis=-1)
        out, (new_h, new_c) = self.lstm(inputs, [flat(h), flat(c)])
        logits = self.Pa_linear(flat(context)) + self.Ph_linear(out)
        shape = lambda x: tf.reshape(x, [batch, rows, -1])  # noqa: E731
        return shape(logits), shape(new_h), shape(new_c)

    # --- teacher forcing -------------------------------------------------------------------
    def unroll(self, features, token_ids, training=False):
        """Teacher-forced over ``token_ids`` ``[B, T]`` (static ``T``): ``{"logits" [B, T, V],
        "attention" [B, T, R], "h", "c" [B, T, hidden]}``, the states after each input."""
        cache = self.initial_cache(features)
        token_ids = tf.cast(token_ids, tf.int32)
        steps = token_ids.shape[1]
        outputs = {key: tf.TensorArray(dtype, size=steps) for key, dtype in (
            ("logits", self.compute_dtype), ("attention", tf.float32),
            ("h", self.compute_dtype), ("c", self.compute_dtype))}

        def body(t, h, c, outputs):
            logits, alpha, new = self.step(token_ids[:, t], {**cache, "h": h, "c": c},
                                           training=training)
            values = {"logits": logits, "attention": alpha, "h": new["h"], "c": new["c"]}
            return (t + 1, new["h"], new["c"],
                    {key: outputs[key].write(t, values[key]) for key in outputs})

        _, _, _, outputs = tf.while_loop(lambda t, *_: t < steps, body,
                                         (tf.constant(0), cache["h"], cache["c"], outputs),
                                         maximum_iterations=steps)
        return {key: tf.transpose(array.stack(), [1, 0, 2]) for key, array in outputs.items()}

    def call(self, inputs, training=None):
        return self.unroll(inputs["features"], inputs["token_ids"], training=training)["logits"]

    # --- decoding --------------------------------------------------------------------------
    def decoding_start(self, features, start_id):
        """(first_logits ``[B, V]``, cache) after the ``<start>`` token."""
        cache = self.initial_cache(features)
        start = tf.fill([tf.shape(cache["h"])[0]], tf.constant(int(start_id), tf.int32))
        logits, _, cache = self.step(start, cache)
        return logits, cache

    def decoding_step(self, token_ids, cache, index):
        """The ``step_fn`` of :func:`tfcaption.decoding.decode.decode` (``index`` unused)."""
        del index
        logits, _, cache = self.step(token_ids, cache)
        return logits, cache

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary_size=self.vocabulary_size, feature_dim=self.feature_dim,
                      grid_shape=list(self.grid_shape), embedding_dim=self.embedding_dim,
                      hidden_dim=self.hidden_dim, attention_dim=self.attention_dim,
                      dropout=self.dropout)
        return config
