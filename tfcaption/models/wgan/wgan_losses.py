"""The WGAN-GP losses over caption sequences (pure functions of critic scores and inputs).

The critic ``D`` reads a sequence of word distributions ``[B, T, V]`` (one-hot for real
captions, softmax for generated ones):

- ``d_loss = -mean(D(real)) + mean(D(fake)) + gp_weight * GP``;
- ``GP = mean_b (sqrt(sum_{t,v} g_btv^2 + epsilon) - 1)^2`` with ``g = dD(x̂)/dx̂`` at
  ``x̂ = alpha * real + (1 - alpha) * fake``, one ``alpha ~ U(0, 1)`` per sample;
- ``g_loss = -mean(D(fake))``;
- the Wasserstein estimate ``mean(D(real)) - mean(D(fake))``.
"""

import tensorflow as tf


def interpolate(real, fake, alpha):
    """``alpha * real + (1 - alpha) * fake`` with ``alpha [B]`` broadcast over the rest."""
    alpha = tf.reshape(tf.cast(alpha, fake.dtype), [-1] + [1] * (len(fake.shape) - 1))
    return alpha * tf.cast(real, fake.dtype) + (1.0 - alpha) * fake


def gradient_norm(gradients, epsilon):
    """Per-sample ``sqrt(sum of squares over all but the first axis + epsilon)``."""
    axes = list(range(1, len(gradients.shape)))
    return tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=axes) + epsilon)


def gradient_penalty(critic_fn, real, fake, alpha, epsilon=1e-5):
    """``mean((|| dD(x̂)/dx̂ || - 1)^2)`` at the interpolates ``x̂`` (see the module doc).

    ``critic_fn(x [B, T, V]) -> scores [B]``; the penalty is differentiable with respect
    to the critic's variables (call it inside the critic update's tape).
    """
    mixed = interpolate(real, fake, alpha)
    with tf.GradientTape() as tape:
        tape.watch(mixed)
        scores = critic_fn(mixed)
    gradients = tf.cast(tape.gradient(scores, mixed), tf.float32)
    return tf.reduce_mean(tf.square(gradient_norm(gradients, epsilon) - 1.0))


def critic_loss(real_scores, fake_scores, penalty, gp_weight=10.0):
    """``-mean(D(real)) + mean(D(fake)) + gp_weight * penalty`` (float32)."""
    return (-_mean(real_scores) + _mean(fake_scores)
            + gp_weight * tf.cast(penalty, tf.float32))


def generator_loss(fake_scores):
    """``-mean(D(fake))`` (float32)."""
    return -_mean(fake_scores)


def wasserstein_estimate(real_scores, fake_scores):
    """``mean(D(real)) - mean(D(fake))``, the critic's estimate of the distance."""
    return _mean(real_scores) - _mean(fake_scores)


def _mean(scores):
    """The mean of scores in float32 (a mixed-precision critic scores in bfloat16 or
    float16)."""
    return tf.reduce_mean(tf.cast(scores, tf.float32))


def masked_cross_entropy(targets, logits, mask):
    """Mean next-word cross-entropy over the real (``mask``) positions (MLE loss)."""
    # Rank-2 logits: for [B, L, V] with an unknown B, TensorFlow adds a shape Assert that
    # XLA cannot compile ("Ignoring Assert operator").
    losses = tf.reshape(tf.nn.sparse_softmax_cross_entropy_with_logits(
        tf.reshape(tf.cast(targets, tf.int32), [-1]),
        tf.reshape(tf.cast(logits, tf.float32), [-1, tf.shape(logits)[-1]])), tf.shape(targets))
    mask = tf.cast(mask, tf.float32)
    return tf.reduce_sum(losses * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def gumbel_softmax(logits, temperature, seed):
    """``softmax((logits + Gumbel noise) / temperature)``, stateless noise from ``seed``."""
    uniform = tf.random.stateless_uniform(tf.shape(logits), seed, minval=1e-20, maxval=1.0)
    noise = -tf.math.log(-tf.math.log(uniform))
    return tf.nn.softmax((tf.cast(logits, tf.float32) + noise) / temperature, axis=-1)


def annealed_temperature(step, start, end, decay_steps):
    """Exponential annealing ``start -> end`` over ``decay_steps`` steps, then ``end``."""
    step = tf.cast(step, tf.float32)
    fraction = tf.minimum(step / float(max(int(decay_steps), 1)), 1.0)
    return start * tf.pow(end / start, fraction)
