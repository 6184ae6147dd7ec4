"""ATTEND-GAN training: maximum likelihood, discriminator pre-training and the adversarial
phase with Monte-Carlo rollout rewards, on the GAN base."""

import keras
import tensorflow as tf

from tfcaption.decoding.decode import decode_sample
from tfcaption.models.attend_gan import attend_gan_losses as losses
from tfcaption.models.attend_gan.attention_lstm_generator import AttentionLstmGenerator  # noqa: F401
from tfcaption.models.attend_gan.gru_caption_discriminator import GruCaptionDiscriminator  # noqa: F401
from tfcaption.models.attend_gan.mc_rollout import rollout_captions, rollout_rewards
from tfcaption.training.gan_model import GanModel

MODES = ("mle", "discriminator", "adversarial")
BASELINES = ("none", "batch_mean")
METRICS = {
    "mle": ("l2_loss", "cross_entropy", "attention_reg"),
    "discriminator": ("d_loss", "d_real", "d_fake"),
    "adversarial": ("g_loss", "pg_loss", "l2_loss", "cross_entropy", "attention_reg",
                    "reward", "d_loss", "d_real", "d_fake"),
}


@keras.saving.register_keras_serializable(package="tfcaption")
class AttendGanModel(GanModel):
    """One Keras model for the three phases of ATTEND-GAN (``mode``).

    A batch is ``{"features", "token_ids" [B, T + 1], "padding_mask" [B, T + 1]}``:
    ``<start> w1 … <end>`` then padding; the generator reads ``token_ids[:, :-1]`` and
    predicts ``token_ids[:, 1:]`` (``T`` = ``max_length`` steps).

    * ``"mle"``: one generator update on ``L2 = cross-entropy + attention_weight *``
      :func:`~attend_gan_losses.attention_regularizer` (teacher-forced).
    * ``"discriminator"``: ``d_steps`` discriminator updates, each on the batch's
      captions (real) against fresh generator samples (fake):
      :func:`~attend_gan_losses.discriminator_loss`.
    * ``"adversarial"``: ``g_steps`` generator updates, then ``d_steps`` discriminator
      updates. A generator update samples one caption per image, completes each of its
      ``T - 1`` prefixes ``mc_num`` times (:func:`rollout_captions`: every prefix, every
      rollout and every image in one compiled loop), scores them with the
      discriminator (the probability of a dataset caption) into rewards ``R_t``
      (:func:`rollout_rewards`; ``R_T`` the full caption's score) and minimises
      ``pg_weight * L1 + L2`` with ``L1`` :func:`~attend_gan_losses.policy_gradient_loss`
      of the sampled caption and ``L2`` on the batch's captions. ``reward_baseline``
      ``"batch_mean"`` subtracts the batch's mean reward at each step
      (:func:`~attend_gan_losses.batch_mean_baseline`); the reference uses none.

    Sampling draws from the generator's softmax (no dropout; captions stop at
    ``end_id``); every draw is seeded by :meth:`GanModel.noise_seed` from the optimizers'
    step counts, so a resumed run draws what the uninterrupted run would have. The
    numeric functions are XLA-compiled when ``jit_compile``.
    """

    def __init__(self, generator, discriminator, mode="adversarial", start_id=1, end_id=2,
                 mc_num=4, g_steps=1, d_steps=1, pg_weight=1.0, attention_weight=1.0,
                 attention_target=1.0, reward_baseline="none", jit_compile=True, seed=0,
                 **kwargs):
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        if reward_baseline not in BASELINES:
            raise ValueError(f"reward_baseline {reward_baseline!r} is not one of {BASELINES}")
        for name, value in (("mc_num", mc_num), ("g_steps", g_steps), ("d_steps", d_steps)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        if generator.vocabulary_size != discriminator.vocabulary_size:
            raise ValueError(f"the generator has {generator.vocabulary_size} words but the "
                             f"discriminator {discriminator.vocabulary_size}")
        super().__init__(generator, discriminator, METRICS[mode], jit_compile=jit_compile,
                         seed=seed, **kwargs)
        self.mode = mode
        self.start_id, self.end_id = int(start_id), int(end_id)
        self.mc_num, self.g_steps, self.d_steps = int(mc_num), int(g_steps), int(d_steps)
        self.pg_weight = float(pg_weight)
        self.attention_weight = float(attention_weight)
        self.attention_target = float(attention_target)
        self.reward_baseline = reward_baseline
        jit = self.jit_compile
        self._g_gradients = tf.function(self.generator_gradients, jit_compile=jit,
                                        reduce_retracing=True)
        self._d_gradients = tf.function(self.discriminator_gradients, jit_compile=jit,
                                        reduce_retracing=True)
        self.built = True

    def compile(self, g_optimizer=None, d_optimizer=None, **kwargs):
        """The optimizers a mode needs: ``g_optimizer`` (mle, adversarial),
        ``d_optimizer`` (discriminator, adversarial)."""
        if self.mode != "discriminator" and g_optimizer is None:
            raise ValueError(f"mode {self.mode!r} needs a g_optimizer")
        if self.mode != "mle" and d_optimizer is None:
            raise ValueError(f"mode {self.mode!r} needs a d_optimizer")
        super().compile(g_optimizer, d_optimizer, **kwargs)

    def build_optimizers(self):
        if self.g_optimizer is not None:
            self.g_optimizer.build(self.generator.trainable_variables)
        if self.d_optimizer is not None:
            self.d_optimizer.build(self.discriminator.trainable_variables)

    # --- the pieces ------------------------------------------------------------------------
    def sample(self, features, steps, seed):
        """Captions sampled from the generator: (token ids ``[B, steps]``, mask through
        the first ``end_id``)."""
        generator = self.generator
        first_logits, cache = generator.decoding_start(features, self.start_id)
        result = decode_sample(generator.decoding_step, first_logits, cache, 0, seed,
                               max_length=steps, stop_token_ids=(self.end_id,))
        tokens = result.token_ids[:, 0]
        return tokens, result.padding_mask()[:, 0]

    def score(self, features, token_ids, mask, training=False):
        """The discriminator's logits of captions (of the images ``features``)."""
        inputs = {"token_ids": token_ids, "padding_mask": mask}
        if self.discriminator.image_conditioned:
            inputs["features"] = features
        return self.discriminator(inputs, training=training)

    def l2_loss(self, features, inputs, targets, mask):
        """(L2, cross-entropy, attention term) teacher-forced on the batch's captions."""
        out = self.generator.unroll(features, inputs, training=True)
        cross_entropy = losses.token_log_probs(out["logits"], targets)
        weights = tf.cast(mask, tf.float32)
        cross_entropy = -tf.math.divide_no_nan(tf.reduce_sum(cross_entropy * weights),
                                               tf.reduce_sum(weights))
        regularizer = losses.attention_regularizer(out["attention"], mask,
                                                   self.attention_target)
        return cross_entropy + self.attention_weight * regularizer, cross_entropy, regularizer

    def rewards(self, features, tokens, states_h, states_c, seed):
        """``[B, T]`` Monte-Carlo rollout rewards of sampled captions ``tokens``."""
        cache = self.generator.initial_cache(features)
        rollouts = rollout_captions(self.generator, cache, tokens, states_h, states_c,
                                    self.mc_num, seed)
        mean_features = tf.reduce_mean(self.generator.regions(features), axis=1)

        def score_fn(token_ids, image_rows):
            mask = losses.mask_through_end(token_ids, self.end_id)
            logits = self.score(tf.gather(mean_features, image_rows)[:, None], token_ids,
                                mask)
            return tf.sigmoid(logits)

        return tf.stop_gradient(rollout_rewards(score_fn, rollouts, tokens, self.mc_num))

    # --- gradients (XLA) -------------------------------------------------------------------
    def generator_gradients(self, features, inputs, targets, mask, seed, ce_scale=1.0):
        """(values, gradients); ``ce_scale`` weighs the replica's token-mean
        cross-entropy (:meth:`global_mean_scale`; 1 on one device), ``replica_scale`` the other
        terms."""
        variables = self.generator.trainable_variables
        values = {}
        with tf.GradientTape() as tape:
            loss, cross_entropy, regularizer = self.l2_loss(features, inputs, targets, mask)
            values.update(l2_loss=loss, cross_entropy=cross_entropy,
                          attention_reg=regularizer)
            if self.mode == "adversarial":
                steps = targets.shape[1]
                sample_seed = tf.random.experimental.stateless_fold_in(seed, 0)
                tokens, sample_mask = self.sample(features, steps, sample_seed)
                start = tf.fill([tf.shape(tokens)[0], 1], tf.constant(self.start_id, tf.int32))
                out = self.generator.unroll(features,
                                            tf.concat([start, tokens[:, :-1]], axis=1),
                                            training=True)
                rewards = self.rewards(features, tokens, tf.stop_gradient(out["h"]),
                                       tf.stop_gradient(out["c"]),
                                       tf.random.experimental.stateless_fold_in(seed, 1))
                advantages = rewards if self.reward_baseline == "none" else \
                    losses.batch_mean_baseline(rewards, sample_mask)
                pg = losses.policy_gradient_loss(
                    losses.token_log_probs(out["logits"], tokens), advantages, sample_mask)
                values.update(pg_loss=pg, reward=tf.reduce_mean(rewards[:, -1]))
                loss = self.pg_weight * pg + loss
                values["g_loss"] = loss
            share = (loss - cross_entropy) * self.replica_scale() + cross_entropy * ce_scale
            scaled = self.g_optimizer.scale_loss(share)
        return values, tape.gradient(scaled, variables)

    def discriminator_gradients(self, features, targets, mask, seed):
        fake, fake_mask = self.sample(features, targets.shape[1], seed)
        variables = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            real_logits = self.score(features, targets, mask, training=True)
            fake_logits = self.score(features, fake, fake_mask, training=True)
            loss = losses.discriminator_loss(real_logits, fake_logits)
            scaled = self.d_optimizer.scale_loss(loss * self.replica_scale())
        values = {"d_loss": loss, "d_real": tf.reduce_mean(tf.sigmoid(real_logits)),
                  "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits))}
        return values, tape.gradient(scaled, variables)

    def global_cross_entropy(self, values, tokens):
        """``values`` with the cross-entropy (and the losses holding it) of the global
        batch's tokens in place of the replica's."""
        values = dict(values)
        _, global_ce = self.global_means(tokens, values["cross_entropy"])
        shift = global_ce - values["cross_entropy"]
        for name in ("cross_entropy", "l2_loss", "g_loss"):
            if name in values:
                values[name] = values[name] + shift
        return values

    # --- the step --------------------------------------------------------------------------
    def train_step(self, data):
        features, inputs, targets, mask = self.caption_batch(data)
        tokens = tf.reduce_sum(tf.cast(mask, tf.float32))
        values = {}
        if self.mode != "discriminator":
            ce_scale = self.global_mean_scale(tokens)
            for _ in range(self.g_steps if self.mode == "adversarial" else 1):
                seed = self.noise_seed(self.g_optimizer.iterations, 0, 2)
                values, grads = self._g_gradients(features, inputs, targets, mask, seed,
                                                  ce_scale)
                self.g_optimizer.apply(grads, self.generator.trainable_variables)
            values = self.global_cross_entropy(values, tokens)
        if self.mode != "mle":
            for _ in range(self.d_steps):
                seed = self.noise_seed(self.d_optimizer.iterations, 1, 2)
                d_values, grads = self._d_gradients(features, targets, mask, seed)
                self.d_optimizer.apply(grads, self.discriminator.trainable_variables)
            values = {**values, **d_values}
        return self.report(values)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode, start_id=self.start_id, end_id=self.end_id,
                      mc_num=self.mc_num, g_steps=self.g_steps, d_steps=self.d_steps,
                      pg_weight=self.pg_weight, attention_weight=self.attention_weight,
                      attention_target=self.attention_target,
                      reward_baseline=self.reward_baseline)
        return config
