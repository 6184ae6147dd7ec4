"""CgT-GAN training: one Keras model whose ``train_step`` samples, scores and updates D and G."""

import keras
import tensorflow as tf
from keras import ops

from tfcaption.decoding.decoding_config import DecodingConfig
from tfcaption.models.clipcap.cgtgan import clip_reward
from tfcaption.models.clipcap.cgtgan.caption_retokenizer import CaptionRetokenizer
from tfcaption.models.clipcap.cgtgan.discriminator_loss import (discriminator_accuracy,
                                                        discriminator_loss)
from tfcaption.models.clipcap.cgtgan.policy_gradient import (BASELINES, baseline, generator_loss,
                                                     policy_gradient_loss, sequence_log_probs)
from tfcaption.models.clipcap.cgtgan.reward_schedule import reward_weight_at
from tfcaption.training.gan_model import GanModel

METRICS = ("d_loss", "g_loss", "reward_loss", "fd_loss", "reward", "greedy_reward",
           "fd_reward", "rw", "d_real_accuracy", "d_fake_accuracy")


class _Untracked:
    """Holds objects Keras must not track: the reward CLIP (frozen; a ViT-L/14 would
    otherwise be copied into every checkpoint) and the tokenizers (weightless layers that
    would count as unbuilt layers of the model under ``tf.distribute``)."""

    def __init__(self, **objects):
        self.__dict__.update(objects)


@keras.saving.register_keras_serializable(package="tfcaption")
class CgtGanModel(GanModel):
    """The CgT-GAN recipe around a ClipCap generator and a RoBERTa discriminator.

    Each ``train_step`` on a batch ``{"prefix" [B, D], "target" [B, D],
    "real_token_ids" / "real_padding_mask" [B * num_samples, max_gen_length + 2]}``:

    1. decodes a greedy caption and ``num_samples`` captions by pure multinomial sampling
       (temperature 1) per image, in XLA-compiled loops, without gradient;
    2. turns them into text and then into CLIP and RoBERTa ids
       (:class:`CaptionRetokenizer`), and scores every caption with the CLIP reward
       (:func:`clip_reward.clip_rewards` against ``target``, the aggregated corpus
       embedding, and ``prefix``, the CLIP image embedding) and with the discriminator's
       raw logit (inference mode);
    3. updates the discriminator with binary cross-entropy, ``real`` corpus sentences
       labelled 1 and the sampled captions 0 (training mode);
    4. updates the generator with ``rw * reward_loss + (1 - rw) * fd_loss``, two
       self-critical policy-gradient losses on the length-normalised log-probabilities
       of the samples, with the ``"greedy"`` or leave-one-out ``"sample"`` baseline;
       ``rw`` follows :func:`reward_weight_at` of the generator's update count. The
       log-probabilities are recomputed with gradient by one teacher-forced pass of the
       network that sampled (inference mode, so exactly the sampling distribution; the
       reference samples with dropout active and differentiates that sampling pass).

    Sampling noise comes from ``(seed, generator updates so far)``, so a resumed run
    draws what the uninterrupted run would have drawn.

    Args:
      generator: a :class:`ClipCapModel` (all of it is trained).
      discriminator: a :class:`CaptionDiscriminator`.
      clip: the reward :class:`ClipModel` (frozen; its text tower encodes captions).
      gpt2_tokenizer, clip_tokenizer, roberta_tokenizer: the three models' tokenizers.
      stop_token_ids: generator ids that end a caption (kept in its log-probability).
      strip_token_ids: generator ids left out of the caption text.
      num_samples, max_gen_length: captions sampled per image and their most tokens.
      baseline: ``"greedy"`` or ``"sample"``.
      cos_weight, clip_weight: the reward's mix (see :func:`clip_reward.combined_reward`).
      gan_training_steps, gan_warm_steps, reward_weight: the ``rw`` schedule.
      update_discriminator: apply the discriminator's update (False keeps it fixed, as
        the released reference code does in effect: it never steps D's optimizer).
      jit_compile: XLA for the decoding loops and the two gradient computations.
      seed: base seed of the sampling noise.
    """

    def __init__(self, generator, discriminator, clip, gpt2_tokenizer, clip_tokenizer,
                 roberta_tokenizer, stop_token_ids, strip_token_ids=(), num_samples=5,
                 max_gen_length=20, baseline="greedy", cos_weight=0.5, clip_weight=0.0,
                 gan_training_steps=150, gan_warm_steps=2350, reward_weight=0.5,
                 update_discriminator=True, jit_compile=True, seed=0, **kwargs):
        if baseline not in BASELINES:
            raise ValueError(f"baseline {baseline!r} is not one of {BASELINES}")
        if baseline == "sample" and int(num_samples) < 2:
            raise ValueError("the 'sample' baseline needs num_samples >= 2")
        if generator.prefix_dim != clip.projection_dim:
            raise ValueError(f"the generator's prefix has {generator.prefix_dim} dimensions "
                             f"but the reward CLIP embeds into {clip.projection_dim}")
        super().__init__(generator, discriminator, METRICS, jit_compile=jit_compile, seed=seed,
                         **kwargs)
        clip.trainable = False
        self._untracked = _Untracked(clip=clip, gpt2_tokenizer=gpt2_tokenizer,
                                     clip_tokenizer=clip_tokenizer,
                                     roberta_tokenizer=roberta_tokenizer)
        self.stop_token_ids = tuple(int(i) for i in stop_token_ids)
        self.strip_token_ids = tuple(int(i) for i in strip_token_ids)
        self.num_samples = int(num_samples)
        self.max_gen_length = int(max_gen_length)
        self.baseline = baseline
        self.cos_weight = float(cos_weight)
        self.clip_weight = float(clip_weight)
        self.gan_training_steps = int(gan_training_steps)
        self.gan_warm_steps = int(gan_warm_steps)
        self.reward_weight = float(reward_weight)
        self.update_discriminator = bool(update_discriminator)
        self.retokenizer = CaptionRetokenizer(
            gpt2_tokenizer, clip_tokenizer, roberta_tokenizer,
            clip_length=clip.text_max_sequence_length, roberta_length=self.max_gen_length + 2,
            strip_token_ids=self.strip_token_ids)
        common = dict(max_length=self.max_gen_length, stop_token_ids=self.stop_token_ids)
        self.sample_config = DecodingConfig("sample", num_return_sequences=self.num_samples,
                                            **common)
        self.greedy_config = DecodingConfig("greedy", **common)
        jit = self.jit_compile
        self._scores = tf.function(self._score_captions, jit_compile=jit, reduce_retracing=True)
        self._d_gradients = tf.function(self._discriminator_gradients, jit_compile=jit,
                                        reduce_retracing=True)
        self._g_gradients = tf.function(self._generator_gradients, jit_compile=jit,
                                        reduce_retracing=True)
        self.built = True  # both networks exist from construction (backups restore into them)

    @property
    def clip(self):
        return self._untracked.clip

    @property
    def gpt2_tokenizer(self):
        return self._untracked.gpt2_tokenizer

    @property
    def clip_tokenizer(self):
        return self._untracked.clip_tokenizer

    @property
    def roberta_tokenizer(self):
        return self._untracked.roberta_tokenizer

    # --- the numeric pieces (XLA) --------------------------------------------------------
    def _score_captions(self, clip_ids, d_token_ids, d_mask, target, image):
        """CLIP reward and discriminator logit of every caption (no gradient)."""
        clip = self.clip
        gen = clip.encode_text(clip_ids, training=False)
        scale = ops.exp(ops.cast(clip.logit_scale, "float32"))
        rewards = clip_reward.clip_rewards(target, gen, image, scale, self.cos_weight,
                                           self.clip_weight)
        logits = self.discriminator({"token_ids": d_token_ids, "padding_mask": d_mask},
                                    training=False)
        return rewards["score"], ops.stop_gradient(logits)

    def _discriminator_gradients(self, real_ids, real_mask, fake_ids, fake_mask, scale):
        variables = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            real = self.discriminator({"token_ids": real_ids, "padding_mask": real_mask},
                                      training=True)
            fake = self.discriminator({"token_ids": fake_ids, "padding_mask": fake_mask},
                                      training=True)
            loss = discriminator_loss(real, fake)
            scaled = self.d_optimizer.scale_loss(loss * scale)
        return loss, real, fake, tape.gradient(scaled, variables)

    def _generator_gradients(self, prefix, token_ids, padding_mask, reward, reward_base,
                             fd_reward, fd_base, rw, scale):
        variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            # the policy that drew the samples: the same network in inference mode
            logits = self.generator({"prefix": ops.repeat(prefix, self.num_samples, axis=0),
                                     "token_ids": token_ids, "padding_mask": padding_mask},
                                    training=False)
            log_probs = ops.reshape(sequence_log_probs(logits, token_ids, padding_mask),
                                    [-1, self.num_samples])
            reward_loss = policy_gradient_loss(log_probs, reward, reward_base)
            fd_loss = policy_gradient_loss(log_probs, fd_reward, fd_base)
            loss = generator_loss(reward_loss, fd_loss, rw)
            scaled = self.g_optimizer.scale_loss(loss * scale)
        return loss, reward_loss, fd_loss, tape.gradient(scaled, variables)

    # --- the step ------------------------------------------------------------------------
    def _decode(self, prefix, seed):
        sampled = self.generator.generate_function(self.sample_config, self.jit_compile)(
            prefix, seed)
        greedy = self.generator.generate_function(self.greedy_config, self.jit_compile)(
            prefix, seed)
        return sampled, greedy

    def train_step(self, data):
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        prefix = tf.cast(data["prefix"], tf.float32)
        target = tf.cast(data["target"], tf.float32)
        batch, samples = tf.shape(prefix)[0], self.num_samples
        step = tf.cast(self.g_optimizer.iterations, tf.int32)
        sampled, greedy = self._decode(prefix, self.noise_seed(step))
        length = self.max_gen_length
        sample_ids = tf.reshape(sampled.token_ids, [-1, length])
        sample_lengths = tf.reshape(sampled.lengths, [-1])
        ids = tf.concat([sample_ids, greedy.token_ids[:, 0]], axis=0)
        lengths = tf.concat([sample_lengths, greedy.lengths[:, 0]], axis=0)

        texts = self.retokenizer.texts(ids, lengths)
        d_inputs = self.retokenizer.roberta_inputs(texts)
        score, fd = self._scores(self.retokenizer.clip_token_ids(texts),
                                 d_inputs["token_ids"], d_inputs["padding_mask"],
                                 tf.concat([tf.repeat(target, samples, axis=0), target], 0),
                                 tf.concat([tf.repeat(prefix, samples, axis=0), prefix], 0))
        num = batch * samples
        reward, greedy_reward = tf.reshape(score[:num], [-1, samples]), score[num:]
        fd_reward, fd_greedy = tf.reshape(fd[:num], [-1, samples]), fd[num:]

        scale = self.replica_scale()
        fake_ids, fake_mask = d_inputs["token_ids"][:num], d_inputs["padding_mask"][:num]
        d_loss, real_logits, fake_logits, d_grads = self._d_gradients(
            data["real_token_ids"], data["real_padding_mask"], fake_ids, fake_mask, scale)
        if self.update_discriminator:
            self.d_optimizer.apply(d_grads, self.discriminator.trainable_variables)

        rw = reward_weight_at(step + 1, self.gan_training_steps, self.gan_warm_steps,
                              self.reward_weight)
        sample_mask = tf.sequence_mask(sample_lengths, length)
        g_loss, reward_loss, fd_loss, g_grads = self._g_gradients(
            prefix, sample_ids, sample_mask, reward,
            baseline(self.baseline, reward, greedy_reward), fd_reward,
            baseline(self.baseline, fd_reward, fd_greedy), rw, scale)
        self.g_optimizer.apply(g_grads, self.generator.trainable_variables)

        real_accuracy, fake_accuracy = discriminator_accuracy(real_logits, fake_logits)
        values = {"d_loss": d_loss, "g_loss": g_loss, "reward_loss": reward_loss,
                  "fd_loss": fd_loss, "reward": tf.reduce_mean(reward),
                  "greedy_reward": tf.reduce_mean(greedy_reward),
                  "fd_reward": tf.reduce_mean(fd_reward), "rw": rw,
                  "d_real_accuracy": real_accuracy, "d_fake_accuracy": fake_accuracy}
        return self.report(values)

    # --- serialisation -------------------------------------------------------------------
    SERIALIZED = ("generator", "discriminator", "clip", "gpt2_tokenizer", "clip_tokenizer",
                  "roberta_tokenizer")

    def get_config(self):
        config = super().get_config()
        config.update(stop_token_ids=list(self.stop_token_ids),
                      strip_token_ids=list(self.strip_token_ids), num_samples=self.num_samples,
                      max_gen_length=self.max_gen_length, baseline=self.baseline,
                      cos_weight=self.cos_weight, clip_weight=self.clip_weight,
                      gan_training_steps=self.gan_training_steps,
                      gan_warm_steps=self.gan_warm_steps, reward_weight=self.reward_weight,
                      update_discriminator=self.update_discriminator)
        return config
