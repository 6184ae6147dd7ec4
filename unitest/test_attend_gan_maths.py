"""ATTEND-GAN's pure maths: attention, the attention term, rewards, the policy gradient, rollouts."""

import numpy as np
import pytest
import tensorflow as tf

from tfcaption.models.attend_gan import attend_gan_losses as losses
from tfcaption.models.attend_gan.attention_lstm_generator import AttentionLstmGenerator
from tfcaption.models.attend_gan.mc_rollout import rollout_captions, rollout_rewards
from tfcaption.models.attend_gan.rollout_plan import rollout_plan


def small_generator(vocabulary=30, feature_dim=16, grid=(7, 7), seed=0):
    tf.keras.utils.set_random_seed(seed)
    return AttentionLstmGenerator(vocabulary, feature_dim=feature_dim, grid_shape=grid,
                                  embedding_dim=8, hidden_dim=12, attention_dim=6)


def test_attention_is_a_softmax_over_the_49_regions():
    generator = small_generator()
    features = np.random.default_rng(0).normal(size=(2, 7, 7, 16)).astype(np.float32)
    cache = generator.initial_cache(features)
    context, alpha = generator.attend(cache, cache["h"])
    regions = features.reshape(2, 49, 16)
    weights = {layer.name: [w.numpy() for w in layer.weights] for layer in generator.layers}
    wa, ba = weights["Wa_linear"]
    wh, bh = weights["Wh_linear"]
    we, be = weights["We_linear"]
    h = cache["h"].numpy()
    energy = (np.tanh(regions @ wa + ba + (h @ wh + bh)[:, None]) @ we + be)[..., 0]
    expected = np.exp(energy - energy.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    assert alpha.shape == (2, 49)
    np.testing.assert_allclose(alpha.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(alpha.numpy().sum(-1), 1.0, atol=1e-5)
    wb, bb = weights["f_beta"]
    gate = 1 / (1 + np.exp(-(h @ wb + bb)))
    np.testing.assert_allclose(context.numpy(), gate * np.einsum("br,brd->bd", expected, regions),
                               atol=1e-4)


def test_attention_regularizer_matches_numpy():
    rng = np.random.default_rng(1)
    alpha = rng.dirichlet(np.ones(9), size=(3, 5)).astype(np.float32)  # [B, T, R]
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    for target in (1.0, 5 / 9):
        totals = (alpha * mask[..., None]).sum(1)
        expected = ((target - totals) ** 2).sum(-1).mean()
        got = losses.attention_regularizer(alpha, mask, target)
        np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_policy_gradient_loss_by_hand():
    log_probs = np.log(np.array([[0.5, 0.25, 0.1], [0.2, 0.4, 0.8]], np.float32))
    rewards = np.array([[0.9, 0.3, 0.7], [0.1, 0.6, 0.2]], np.float32)
    mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
    first = -(np.log(0.5) * 0.9 + np.log(0.25) * 0.3)
    second = -(np.log(0.2) * 0.1 + np.log(0.4) * 0.6 + np.log(0.8) * 0.2)
    got = losses.policy_gradient_loss(log_probs, rewards, mask)
    np.testing.assert_allclose(float(got), (first + second) / 2, rtol=1e-6)
    centred = losses.batch_mean_baseline(rewards, mask).numpy()
    np.testing.assert_allclose(centred[:, 0], [0.4, -0.4], atol=1e-6)
    np.testing.assert_allclose(centred[1, 2], 0.0, atol=1e-6)  # the only caption running


def test_token_log_probs_and_mask_through_end():
    logits = np.random.default_rng(2).normal(size=(2, 3, 5)).astype(np.float32)
    ids = np.array([[1, 4, 2], [0, 2, 3]])
    expected = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = np.take_along_axis(expected, ids[..., None], -1)[..., 0]
    np.testing.assert_allclose(losses.token_log_probs(logits, ids).numpy(), expected, atol=1e-5)
    mask = losses.mask_through_end(np.array([[5, 2, 7, 2], [5, 6, 7, 8]]), end_id=2).numpy()
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0], [1, 1, 1, 1]])


def test_discriminator_loss_is_binary_cross_entropy():
    real, fake = np.array([2.0, -1.0], np.float32), np.array([0.5], np.float32)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    expected = 0.5 * (-np.log(sig(real)).mean() - np.log(1 - sig(fake)).mean())
    np.testing.assert_allclose(float(losses.discriminator_loss(real, fake)), expected, rtol=1e-5)


@pytest.mark.parametrize("steps", [2, 3, 4, 7, 16, 20])
def test_rollout_plan_gives_every_prefix_its_steps(steps):
    plan = rollout_plan(steps)
    lanes = len(plan["first_prefix"])
    assert lanes == steps // 2  # about half the lanes of one per prefix
    busy = np.zeros([lanes, steps], int)
    for t in range(1, steps):
        lane, offset = plan["lane"][t - 1], plan["offset"][t - 1]
        busy[lane, offset:offset + steps - t] += 1  # the iterations sampling its tokens
        starts_here = plan["first_prefix"][lane] == t or (
            plan["second_prefix"][lane] == t and plan["switch"][lane] == offset)
        assert starts_here
    assert busy.max() == 1  # no two rollouts share an iteration of a lane


def test_rollout_reward_at_the_last_step_is_the_full_captions_score():
    tokens = tf.constant([[5, 6, 7, 2], [8, 9, 2, 0]])
    rollouts = tf.random.uniform([2, 3, 3, 4], 3, 20, tf.int32)

    def score_fn(token_ids, rows):  # any deterministic score of the caption and its image
        return tf.cast(tf.reduce_sum(token_ids, -1) % 11, tf.float32) / 10 + tf.cast(rows, tf.float32)

    rewards = rollout_rewards(score_fn, rollouts, tokens, mc_num=3).numpy()
    full = score_fn(tokens, tf.range(2)).numpy()
    np.testing.assert_allclose(rewards[:, -1], full)
    partial = score_fn(tf.reshape(rollouts, [-1, 4]), tf.repeat(tf.range(2), 9)).numpy()
    np.testing.assert_allclose(rewards[:, :-1], partial.reshape(2, 3, 3).mean(1), rtol=1e-6)


def peaked(generator):
    """Scales the output layers so that sampling is the argmax (a deterministic rollout)."""
    for layer in (generator.Pa_linear, generator.Ph_linear):
        layer.kernel.assign(layer.kernel * 1e4)
    return generator


def naive_rollouts(generator, features, tokens):
    """Greedy completion of every prefix, prefix by prefix, from the start (reference way)."""
    batch, steps = tokens.shape
    out = np.zeros([batch, steps - 1, steps], np.int32)
    for t in range(1, steps):
        cache = generator.initial_cache(features)
        inputs = np.concatenate([np.ones([batch, 1], np.int32), tokens[:, :t]], 1)
        for k in range(t + 1):
            logits, _, cache = generator.step(tf.constant(inputs[:, k]), cache)
        seq = list(tokens[:, :t].T)
        for _ in range(steps - t):
            token = tf.argmax(logits, -1, output_type=tf.int32)
            seq.append(token.numpy())
            logits, _, cache = generator.step(token, cache)
        out[:, t - 1] = np.stack(seq, 1)
    return out


@pytest.mark.parametrize("steps", [5, 6])
def test_batched_rollouts_equal_prefix_by_prefix_completion(steps):
    generator = peaked(small_generator(grid=(3, 3)))
    rng = np.random.default_rng(3)
    features = rng.normal(size=(3, 3, 3, 16)).astype(np.float32)
    tokens = rng.integers(3, 30, size=(3, steps)).astype(np.int32)
    inputs = np.concatenate([np.ones([3, 1], np.int32), tokens[:, :-1]], 1)
    states = generator.unroll(features, inputs)
    rollouts = rollout_captions(generator, generator.initial_cache(features), tf.constant(tokens),
                                states["h"], states["c"], 2, tf.constant([4, 5]))
    assert rollouts.shape == (3, 2, steps - 1, steps)  # [B, mc_num, prefixes, tokens]
    expected = naive_rollouts(generator, features, tokens)
    for m in range(2):
        np.testing.assert_array_equal(rollouts[:, m].numpy(), expected)


def test_rollouts_do_not_depend_on_the_batch():
    generator = small_generator(grid=(3, 3))
    rng = np.random.default_rng(4)
    features = rng.normal(size=(5, 3, 3, 16)).astype(np.float32)
    tokens = rng.integers(3, 30, size=(5, 8)).astype(np.int32)
    inputs = np.concatenate([np.ones([5, 1], np.int32), tokens[:, :-1]], 1)
    seed = tf.constant([7, 8])

    def run(rows):
        states = generator.unroll(features[rows], inputs[rows])
        return rollout_captions(generator, generator.initial_cache(features[rows]),
                                tf.constant(tokens[rows]), states["h"], states["c"], 4,
                                seed).numpy()

    five = run(slice(0, 5))
    one = run(slice(0, 1))
    np.testing.assert_array_equal(one[0], five[0])
    assert len(np.unique(five[0].reshape(4, -1), axis=0)) > 1  # the rollouts are sampled
    other = features.copy()
    other[1:] = rng.normal(size=other[1:].shape)
    states = generator.unroll(other, inputs)
    changed = rollout_captions(generator, generator.initial_cache(other), tf.constant(tokens),
                               states["h"], states["c"], 4, seed).numpy()
    np.testing.assert_array_equal(changed[0], five[0])


def test_gumbel_max_sampling_follows_the_softmax():
    from tfcaption.models.attend_gan.mc_rollout import gumbel_max_sample

    probs = np.array([0.5, 0.3, 0.15, 0.05], np.float32)
    logits = tf.tile(tf.math.log(probs)[None, None], [4000, 2, 1])
    drawn = gumbel_max_sample(logits, tf.constant([1, 2])).numpy()
    assert drawn.shape == (4000, 2)
    frequencies = np.bincount(drawn.ravel(), minlength=4) / drawn.size
    np.testing.assert_allclose(frequencies, probs, atol=0.02)
