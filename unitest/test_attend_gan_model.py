"""ATTEND-GAN's compiled train steps: which network each update moves, and what they report."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcaption.models.attend_gan.attend_gan_model import AttendGanModel
from tfcaption.models.attend_gan.attention_lstm_generator import AttentionLstmGenerator
from tfcaption.models.attend_gan.gru_caption_discriminator import GruCaptionDiscriminator

V, B, T = 30, 4, 6


def networks(image_conditioned=False):
    keras.utils.set_random_seed(0)
    generator = AttentionLstmGenerator(V, feature_dim=16, grid_shape=(3, 3), embedding_dim=8,
                                       hidden_dim=12, attention_dim=6)
    discriminator = GruCaptionDiscriminator(V, embedding_dim=8, hidden_dim=12,
                                         image_conditioned=image_conditioned, feature_dim=16)
    return generator, discriminator


def batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(3, V, size=(B, T + 1)).astype(np.int32)
    ids[:, 0] = 1
    ids[:, 4] = 2  # <end>, then padding
    mask = np.arange(T + 1)[None, :] <= 4
    return {"features": rng.normal(size=(B, 3, 3, 16)).astype(np.float32),
            "token_ids": ids, "padding_mask": np.repeat(mask, B, 0)}


def gan(mode, image_conditioned=False, jit_compile=False, **kwargs):
    generator, discriminator = networks(image_conditioned)
    kwargs.setdefault("mc_num", 2)
    model = AttendGanModel(generator, discriminator, mode=mode, jit_compile=jit_compile,
                           **kwargs)
    model.compile(g_optimizer=None if mode == "discriminator" else keras.optimizers.Adam(1e-2),
                  d_optimizer=None if mode == "mle" else keras.optimizers.Adam(1e-2))
    model.build_optimizers()
    return model


def weights(network):
    return [w.numpy().copy() for w in network.trainable_weights]


def changed(before, network):
    return any(not np.array_equal(a, w.numpy()) for a, w in zip(before, network.trainable_weights))


@pytest.mark.parametrize("mode", ["mle", "discriminator", "adversarial"])
def test_each_update_moves_only_its_network(mode):
    model = gan(mode, image_conditioned=True)
    data = {k: tf.constant(v) for k, v in batch().items()}
    g_before, d_before = weights(model.generator), weights(model.discriminator)
    if mode == "adversarial":  # the two halves of the step, one at a time
        seed = model.noise_seed(0, 0, 2)
        inputs, targets = data["token_ids"][:, :-1], data["token_ids"][:, 1:]
        mask = data["padding_mask"][:, 1:]
        _, grads = model._g_gradients(data["features"], inputs, targets, mask, seed)
        model.g_optimizer.apply(grads, model.generator.trainable_variables)
        assert changed(g_before, model.generator) and not changed(d_before, model.discriminator)
        g_after = weights(model.generator)
        _, grads = model._d_gradients(data["features"], targets, mask, seed)
        model.d_optimizer.apply(grads, model.discriminator.trainable_variables)
        assert changed(d_before, model.discriminator) and not changed(g_after, model.generator)
        return
    logs = model.train_step(data)
    assert changed(g_before, model.generator) == (mode == "mle")
    assert changed(d_before, model.discriminator) == (mode == "discriminator")
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_adversarial_step_reports_and_counts_its_updates():
    model = gan("adversarial", g_steps=2, d_steps=3, reward_baseline="batch_mean",
                jit_compile=True)  # the step compiles with XLA
    logs = model.train_step({k: tf.constant(v) for k, v in batch().items()})
    assert set(logs) == {"g_loss", "pg_loss", "l2_loss", "cross_entropy", "attention_reg",
                         "reward", "d_loss", "d_real", "d_fake"}
    assert 0.0 < float(logs["reward"]) < 1.0
    np.testing.assert_allclose(float(logs["g_loss"]),
                               float(logs["pg_loss"]) + float(logs["l2_loss"]), rtol=1e-5)
    assert int(model.g_optimizer.iterations) == 2 and int(model.d_optimizer.iterations) == 3


def test_policy_gradient_raises_the_likelihood_of_rewarded_samples():
    """With the discriminator fixed to reward one word, the generator learns to say it."""
    model = gan("adversarial", attention_weight=0.0, pg_weight=1.0,
                reward_baseline="batch_mean")
    favourite = 7

    def score(features, token_ids, mask, training=False):
        hits = tf.reduce_sum(tf.cast(tf.equal(token_ids, favourite) & mask, tf.float32), -1)
        return 4.0 * hits - 2.0

    model.score = score
    data = {k: tf.constant(v) for k, v in batch().items()}
    seed = tf.constant([0, 0])
    first, _ = model.generator.decoding_start(data["features"], 1)
    before = float(tf.reduce_mean(tf.nn.softmax(first)[:, favourite]))
    for step in range(30):
        _, grads = model.generator_gradients(data["features"], data["token_ids"][:, :-1],
                                             data["token_ids"][:, 1:],
                                             data["padding_mask"][:, 1:], seed + step)
        grads = [g if g is not None else tf.zeros_like(v)
                 for g, v in zip(grads, model.generator.trainable_variables)]
        model.g_optimizer.apply(grads, model.generator.trainable_variables)
    first, _ = model.generator.decoding_start(data["features"], 1)
    after = float(tf.reduce_mean(tf.nn.softmax(first)[:, favourite]))
    assert after > 3 * before, (before, after)


def test_config_round_trip_and_refusals():
    model = gan("adversarial", g_steps=2, mc_num=3, reward_baseline="batch_mean")
    clone = AttendGanModel.from_config(model.get_config())
    assert (clone.mc_num, clone.g_steps, clone.reward_baseline) == (3, 2, "batch_mean")
    generator, discriminator = networks()
    with pytest.raises(ValueError, match="mode 'gan' is not one of"):
        AttendGanModel(generator, discriminator, mode="gan")
    with pytest.raises(ValueError, match="mc_num must be >= 1"):
        AttendGanModel(generator, discriminator, mc_num=0)
    other = GruCaptionDiscriminator(V + 1, embedding_dim=4, hidden_dim=4)
    with pytest.raises(ValueError, match="30 words but the discriminator 31"):
        AttendGanModel(generator, other)
