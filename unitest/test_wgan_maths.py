"""The WGAN-GP losses, the critic's soft one-hot input and its padding mask."""

import numpy as np
import pytest
import tensorflow as tf

from tfcaption.models.wgan import wgan_losses
from tfcaption.models.wgan.gru_critic import GruCritic, soft_embed

B, T, V = 3, 4, 7


def _random(shape, seed):
    return tf.constant(np.random.default_rng(seed).normal(size=shape), tf.float32)


def _distributions(seed):
    return tf.nn.softmax(_random([B, T, V], seed) * 3.0, axis=-1)


def test_gradient_penalty_of_a_linear_critic_is_the_closed_form():
    weights = _random([T, V], 0)
    real = tf.one_hot([[1, 2, 3, 4], [0, 0, 5, 6], [6, 5, 4, 3]], V)
    fake = _distributions(1)
    alpha = tf.constant([0.1, 0.5, 0.9])

    def critic(x):
        return tf.reduce_sum(x * weights, axis=[1, 2])

    penalty = wgan_losses.gradient_penalty(critic, real, fake, alpha, epsilon=1e-5)
    # the gradient of a linear critic is its weights, the same at every interpolate
    expected = (np.sqrt(np.sum(weights.numpy().astype(np.float64) ** 2) + 1e-5) - 1.0) ** 2
    np.testing.assert_allclose(penalty.numpy(), expected, rtol=1e-5)


def test_gradient_penalty_interpolates_per_sample():
    real = tf.one_hot([[1, 2, 3, 4], [0, 0, 5, 6], [6, 5, 4, 3]], V)
    fake = _distributions(2)
    alpha = tf.constant([0.0, 0.3, 1.0])

    def critic(x):  # gradient = the interpolate itself
        return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2])

    penalty = wgan_losses.gradient_penalty(critic, real, fake, alpha, epsilon=0.0)
    a = alpha.numpy()[:, None, None]
    mixed = a * real.numpy() + (1 - a) * fake.numpy()
    norms = np.sqrt(np.sum(mixed.astype(np.float64) ** 2, axis=(1, 2)))
    np.testing.assert_allclose(penalty.numpy(), np.mean((norms - 1) ** 2), rtol=1e-5)
    np.testing.assert_allclose(wgan_losses.interpolate(real, fake, alpha)[0], fake[0])
    np.testing.assert_allclose(wgan_losses.interpolate(real, fake, alpha)[2], real[2])


def test_critic_and_generator_losses_by_hand():
    real, fake = tf.constant([1.0, 2.0, 6.0]), tf.constant([-1.0, 0.5, 0.0])
    np.testing.assert_allclose(wgan_losses.critic_loss(real, fake, tf.constant(0.2), 10.0),
                               -3.0 + (-0.5 / 3) + 2.0, rtol=1e-6)
    np.testing.assert_allclose(wgan_losses.generator_loss(fake), 0.5 / 3, rtol=1e-6)
    np.testing.assert_allclose(wgan_losses.wasserstein_estimate(real, fake), 3.0 + 0.5 / 3,
                               rtol=1e-6)


def test_masked_cross_entropy_matches_numpy():
    logits = _random([B, T, V], 3)
    targets = tf.constant([[1, 2, 3, 4], [0, 0, 5, 6], [6, 5, 4, 3]])
    mask = tf.constant([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]]) > 0
    log_probs = tf.nn.log_softmax(logits).numpy()
    picked = np.take_along_axis(log_probs, targets.numpy()[..., None], -1)[..., 0]
    expected = -(picked * mask.numpy()).sum() / mask.numpy().sum()
    np.testing.assert_allclose(wgan_losses.masked_cross_entropy(targets, logits, mask),
                               expected, rtol=1e-5)


def test_gumbel_softmax_is_seeded_and_sharpens_with_temperature():
    logits = _random([2, V], 4)
    a = wgan_losses.gumbel_softmax(logits, 1.0, tf.constant([1, 2]))
    np.testing.assert_allclose(a, wgan_losses.gumbel_softmax(logits, 1.0, tf.constant([1, 2])))
    assert not np.allclose(a, wgan_losses.gumbel_softmax(logits, 1.0, tf.constant([1, 3])))
    np.testing.assert_allclose(tf.reduce_sum(a, -1), 1.0, rtol=1e-5)
    cold = wgan_losses.gumbel_softmax(logits, 0.01, tf.constant([1, 2]))
    assert np.all(np.max(cold, -1) > 0.99)
    assert np.all(np.argmax(cold, -1) == np.argmax(a, -1))


def test_annealed_temperature_schedule():
    values = [float(wgan_losses.annealed_temperature(s, 1.0, 0.1, 100)) for s in
              (0, 50, 100, 500)]
    np.testing.assert_allclose(values, [1.0, 0.1 ** 0.5, 0.1, 0.1], rtol=1e-5)


def test_soft_one_hot_embedding_equals_the_lookup():
    critic = GruCritic(V, 5, embedding_dim=6, hidden_dim=8, name="critic")
    ids = tf.constant([[1, 2, 3, 4], [0, 0, 5, 6], [6, 5, 4, 3]])
    one_hot = tf.one_hot(ids, V)
    np.testing.assert_allclose(soft_embed(one_hot, critic.embeddings),
                               tf.gather(critic.embeddings, ids), rtol=1e-6)
    features = _random([B, 5], 5)
    np.testing.assert_allclose(critic({"features": features, "sequence": one_hot}),
                               critic({"features": features, "sequence": ids}), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(ValueError, match=r"distributions \[B, T, 7\].*\(3, 4, 5\)"):
        critic({"features": features, "sequence": tf.zeros([B, T, 5])})


def test_critic_padding_mask_stops_at_each_caption_end():
    critic = GruCritic(V, 5, embedding_dim=6, hidden_dim=8, name="critic")
    features = _random([2, 5], 6)
    ids = tf.constant([[1, 2, 3, 0, 0, 0], [4, 5, 6, 2, 1, 1]])
    mask = tf.constant([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]]) > 0
    masked = critic({"features": features, "sequence": ids, "padding_mask": mask}).numpy()
    short = critic({"features": features[:1], "sequence": ids[:1, :3]}).numpy()
    full = critic({"features": features[1:], "sequence": ids[1:]}).numpy()
    np.testing.assert_allclose(masked, [short[0], full[0]], rtol=1e-5, atol=1e-6)
    unmasked = critic({"features": features, "sequence": ids}).numpy()
    assert abs(unmasked[0] - masked[0]) > 1e-6
