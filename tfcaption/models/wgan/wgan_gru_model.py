"""WGAN-GP training of the gated GRU captioner: one Keras model, two optimizers."""

import keras
import tensorflow as tf

from tfcaption.models.wgan import wgan_losses
from tfcaption.training.gan_model import GanModel
from tfcaption.models.wgan.gated_gru_generator import GatedGruGenerator  # noqa: F401
from tfcaption.models.wgan.gru_critic import GruCritic  # noqa: F401  (both registered)

MODES = ("adversarial", "mle")
FAKE_INPUTS = ("softmax", "gumbel")
START_ID = 1  # WordVocabulary.start_id: the first input of a free-running generator
ADVERSARIAL_METRICS = ("d_loss", "g_loss", "gp", "wasserstein", "mle_loss", "temperature")


@keras.saving.register_keras_serializable(package="tfcaption")
class WganGruModel(GanModel):
    """The WGAN-GP recipe around a :class:`GatedGruGenerator` and a :class:`GruCritic`.

    A batch is ``{"features" [B, F], "token_ids" [B, T + 1], "padding_mask" [B, T + 1]}``:
    ``<start> w1 … <end>`` then padding. The generator reads ``token_ids[:, :-1]``; the
    real sequence is ``token_ids[:, 1:]`` (``T`` words, padding included, as the critic
    reads all ``T`` steps).

    ``mode="adversarial"``: each ``train_step`` draws one set of fake sequences for the
    step's batch, makes ``n_critic`` critic updates against it (fresh interpolation
    weights each), then one generator update with fresh fakes (as the reference):

    * fake sequences (``fake_input``): ``"softmax"``, the generator's softmax at every
      step, teacher-forced on the real caption (the reference design); or ``"gumbel"``,
      free running: each step's Gumbel-softmax sample (temperature annealed from
      ``gumbel_start`` to ``gumbel_end`` over ``gumbel_steps`` generator updates) is the
      fake word and, times the generator's embedding, its next input;
    * critic: :func:`wgan_losses.critic_loss` with :func:`wgan_losses.gradient_penalty`;
      it reads each caption up to its end (``padding_mask``), fakes and interpolates as
      long as their real caption;
    * generator: :func:`wgan_losses.generator_loss` plus ``supervised_weight`` times the
      teacher-forced cross-entropy (0 in the reference design).

    ``mode="mle"``: each ``train_step`` is one generator update on the cross-entropy only
    (pre-training); the critic is untouched.

    Random draws come from ``(seed, optimizer iterations)`` (:meth:`GanModel.noise_seed`),
    so a resumed run draws what the uninterrupted run would have. The critic is the
    :class:`GanModel`'s ``discriminator`` (``critic`` is the same network).
    """

    def __init__(self, generator, critic, mode="adversarial", n_critic=9, gp_weight=10.0,
                 gp_epsilon=1e-5, supervised_weight=0.0, fake_input="softmax",
                 gumbel_start=1.0, gumbel_end=0.1, gumbel_steps=1000, jit_compile=True,
                 seed=0, **kwargs):
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        if fake_input not in FAKE_INPUTS:
            raise ValueError(f"fake_input {fake_input!r} is not one of {FAKE_INPUTS}")
        if int(n_critic) < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if not 0 < float(gumbel_end) <= float(gumbel_start):
            raise ValueError(f"need 0 < gumbel_end ({gumbel_end}) <= gumbel_start "
                             f"({gumbel_start})")
        if generator.vocabulary_size != critic.vocabulary_size:
            raise ValueError(f"the generator has {generator.vocabulary_size} words but the "
                             f"critic {critic.vocabulary_size}")
        names = ADVERSARIAL_METRICS if mode == "adversarial" else ("mle_loss",)
        if fake_input != "gumbel":
            names = tuple(n for n in names if n != "temperature")
        super().__init__(generator, critic, names, jit_compile=jit_compile, seed=seed,
                         **kwargs)
        self.mode = mode
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)
        self.gp_epsilon = float(gp_epsilon)
        self.supervised_weight = float(supervised_weight)
        self.fake_input = fake_input
        self.gumbel_start = float(gumbel_start)
        self.gumbel_end = float(gumbel_end)
        self.gumbel_steps = int(gumbel_steps)
        jit = self.jit_compile
        # The critic's gradients stay out of XLA: the gradient penalty differentiates the
        # gradient of a while loop, whose inputs XLA then treats as compile-time
        # constants, so it would compile again for every batch. As a graph it runs as fast.
        self._d_gradients = tf.function(self._critic_gradients, reduce_retracing=True)
        self._fake_fn = tf.function(self._fake_sequences, jit_compile=jit,
                                    reduce_retracing=True)
        self._g_gradients = tf.function(self._generator_gradients, jit_compile=jit,
                                        reduce_retracing=True)
        self.built = True

    @property
    def critic(self):
        return self.discriminator

    def compile(self, g_optimizer, d_optimizer=None, **kwargs):
        """The generator's and the critic's optimizers (``d_optimizer`` unused in
        ``"mle"`` mode); the numeric parts are XLA-compiled when ``jit_compile``."""
        if self.mode == "adversarial" and d_optimizer is None:
            raise ValueError("adversarial training needs a d_optimizer")
        super().compile(g_optimizer, d_optimizer, **kwargs)

    # --- fake sequences ------------------------------------------------------------------
    def temperature(self, g_step):
        return wgan_losses.annealed_temperature(g_step, self.gumbel_start, self.gumbel_end,
                                                self.gumbel_steps)

    def _free_running(self, features, steps, seed, temperature):
        """Gumbel-softmax words ``[B, T, V]``, each fed back (times the embedding)."""
        generator = self.generator
        state = generator.initial_state(features)
        batch = tf.shape(features)[0]
        masks = generator.dropout_masks(steps, batch, True)
        embeddings = tf.cast(generator.embeddings, generator.compute_dtype)
        words = tf.TensorArray(tf.float32, size=steps)

        def body(t, inputs, h, words):
            logits, new = generator.embedded_step(inputs, {"h": h, "gate": state["gate"]},
                                                None if masks is None else masks[t])
            word = wgan_losses.gumbel_softmax(logits, temperature,
                                              tf.stack([seed[0], seed[1] * steps + t]))
            return t + 1, tf.matmul(word, embeddings), new["h"], words.write(t, word)

        start = generator.embedding(tf.fill([batch], tf.constant(START_ID, tf.int32)))
        _, _, _, words = tf.while_loop(lambda t, *_: t < steps, body,
                                       (tf.constant(0), start, state["h"], words),
                                       maximum_iterations=steps)
        return tf.transpose(words.stack(), [1, 0, 2])

    def _fakes(self, features, inputs, seed, temperature):
        """(fake sequences ``[B, T, V]``, teacher-forced logits ``[B, T, V]``)."""
        logits = self.generator({"features": features, "token_ids": inputs}, training=True)
        if self.fake_input == "softmax":
            return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1), logits
        return self._free_running(features, inputs.shape[1], seed, temperature), logits

    # --- the numeric pieces (XLA) --------------------------------------------------------
    def _fake_sequences(self, features, inputs, seed, temperature):
        """Fakes for the critic updates (no teacher-forced pass in Gumbel mode)."""
        if self.fake_input == "gumbel":
            fake = self._free_running(features, inputs.shape[1], seed, temperature)
        else:
            fake, _ = self._fakes(features, inputs, seed, temperature)
        return tf.stop_gradient(fake)

    def _critic_gradients(self, features, targets, mask, fake, alpha):
        real = tf.one_hot(targets, self.critic.vocabulary_size, dtype=fake.dtype)

        def critic_fn(sequence):
            return self.critic({"features": features, "sequence": sequence,
                                "padding_mask": mask}, training=True)

        variables = self.critic.trainable_variables
        with tf.GradientTape() as tape:
            real_scores = critic_fn(targets)
            fake_scores = critic_fn(fake)
            penalty = wgan_losses.gradient_penalty(critic_fn, real, fake, alpha,
                                                   self.gp_epsilon)
            loss = wgan_losses.critic_loss(real_scores, fake_scores, penalty, self.gp_weight)
            scaled = self.d_optimizer.scale_loss(loss * self.replica_scale())
        distance = wgan_losses.wasserstein_estimate(real_scores, fake_scores)
        return loss, penalty, distance, tape.gradient(scaled, variables)

    def _generator_gradients(self, features, inputs, targets, mask, seed, temperature,
                             mle_scale=1.0):
        """(loss, MLE cross-entropy, gradients); ``mle_scale`` weighs the replica's token
        mean cross-entropy (:meth:`global_mean_scale`; 1 on one device), ``replica_scale``
        the rest."""
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            if self.mode == "mle":
                logits = self.generator({"features": features, "token_ids": inputs},
                                        training=True)
                mle = wgan_losses.masked_cross_entropy(targets, logits, mask)
                loss, share = mle, mle * mle_scale
            else:
                fake, logits = self._fakes(features, inputs, seed, temperature)
                scores = self.critic({"features": features, "sequence": fake,
                                      "padding_mask": mask}, training=True)
                mle = wgan_losses.masked_cross_entropy(targets, logits, mask)
                loss = wgan_losses.generator_loss(scores)
                share = loss * self.replica_scale()
                if self.supervised_weight:
                    loss += self.supervised_weight * mle
                    share += self.supervised_weight * mle * mle_scale
            scaled = self.g_optimizer.scale_loss(share)
        return loss, mle, tape.gradient(scaled, variables)

    # --- the step ------------------------------------------------------------------------
    def train_step(self, data):
        features, inputs, targets, mask = self.caption_batch(data)
        g_step = tf.cast(self.g_optimizer.iterations, tf.int32)
        temperature = self.temperature(g_step)
        values = {}
        if self.mode == "adversarial":
            fake = self._fake_fn(features, inputs, self.noise_seed(g_step, 0, 3), temperature)
            for _ in range(self.n_critic):
                alpha = tf.random.stateless_uniform(
                    tf.shape(features)[:1], self.noise_seed(self.d_optimizer.iterations, 1, 3))
                d_loss, penalty, distance, grads = self._d_gradients(
                    features, targets, mask, fake, alpha)
                self.d_optimizer.apply(grads, self.critic.trainable_variables)
            values.update(d_loss=d_loss, gp=penalty, wasserstein=distance)
            if self.fake_input == "gumbel":
                values["temperature"] = temperature
        seed = self.noise_seed(g_step, 2, 3)
        tokens = tf.reduce_sum(tf.cast(mask, tf.float32))
        g_loss, mle, grads = self._g_gradients(features, inputs, targets, mask, seed,
                                               temperature, self.global_mean_scale(tokens))
        self.g_optimizer.apply(grads, self.generator.trainable_variables)
        _, values["mle_loss"] = self.global_means(tokens, mle)  # the global batch's
        if self.mode == "adversarial":
            values["g_loss"] = g_loss + self.supervised_weight * (values["mle_loss"] - mle)
        return self.report(values)

    # --- serialisation -------------------------------------------------------------------
    SERIALIZED = ("generator", "critic")

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, n_critic=self.n_critic, gp_weight=self.gp_weight,
                      gp_epsilon=self.gp_epsilon, supervised_weight=self.supervised_weight,
                      fake_input=self.fake_input, gumbel_start=self.gumbel_start,
                      gumbel_end=self.gumbel_end, gumbel_steps=self.gumbel_steps)
        return config
