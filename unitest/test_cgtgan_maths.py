"""CgT-GAN's pure functions: CLIP rewards, the rw schedule, baselines, losses."""

import numpy as np
import pytest
import tensorflow as tf

from tfcaption.models.clipcap.cgtgan import clip_reward
from tfcaption.models.clipcap.cgtgan.discriminator_loss import (discriminator_accuracy,
                                                        discriminator_loss)
from tfcaption.models.clipcap.cgtgan.policy_gradient import (baseline, generator_loss,
                                                     leave_one_out_baseline,
                                                     policy_gradient_loss, sequence_log_probs)
from tfcaption.models.clipcap.cgtgan.reward_schedule import reward_weight_at

GT = np.array([[1.0, 2.0, 2.0], [0.0, 3.0, 4.0]], np.float32)
GEN = np.array([[2.0, 2.0, 1.0], [0.0, -3.0, 4.0]], np.float32)
IMAGE = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], np.float32)


def test_l1_reward_by_hand():
    # row 0: |gt-gen| = 1, 0, 1 -> mean 2/3; row 1: 0, 6, 0 -> mean 2
    got = np.asarray(clip_reward.l1_reward(GT, GEN, 100.0))
    np.testing.assert_allclose(got, [100 * (1 - 2 / 3), 100 * (1 - 2)], rtol=1e-6)


def test_cos_and_image_rewards_by_hand():
    # row 0: gt.gen = 2+4+2 = 8, |gt| = 3, |gen| = 3; row 1: (-9+16)/25
    np.testing.assert_allclose(np.asarray(clip_reward.cos_reward(GT, GEN, 50.0)),
                               [50 * 8 / 9, 50 * 7 / 25], rtol=1e-6)
    # image . gen: row 0: 1/3; row 1: 0
    np.testing.assert_allclose(np.asarray(clip_reward.image_reward(IMAGE, GEN, 100.0)),
                               [100 / 3, 0.0], atol=1e-5)


def test_unnormalised_l1_depends_on_scale_of_features_but_cos_does_not():
    l1 = np.asarray(clip_reward.l1_reward(GT, 2 * GT, 1.0))
    cos = np.asarray(clip_reward.cos_reward(GT, 2 * GT, 1.0))
    np.testing.assert_allclose(cos, [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(l1, 1 - np.abs(GT).mean(-1), rtol=1e-6)


@pytest.mark.parametrize("cos_w,clip_w", [(0.5, 0.0), (0.2, 0.0), (0.5, 1.0), (0.3, 0.4)])
def test_combined_score(cos_w, clip_w):
    out = clip_reward.clip_rewards(GT, GEN, IMAGE, 100.0, cos_w, clip_w)
    l1, cos, clip = (np.asarray(out[k]) for k in ("l1", "cos", "clip"))
    expected = (1 - clip_w) * (cos_w * cos + (1 - cos_w) * l1) + clip_w * clip
    np.testing.assert_allclose(np.asarray(out["score"]), expected, rtol=1e-6)
    if clip_w == 1.0:  # "CLIP-cos": the image-text score alone
        np.testing.assert_allclose(np.asarray(out["score"]), clip, rtol=1e-6)


def test_default_reward_is_clip_agg_and_ignores_the_image():
    a = clip_reward.clip_rewards(GT, GEN, IMAGE, 100.0)["score"]
    b = clip_reward.clip_rewards(GT, GEN, -IMAGE, 100.0)["score"]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("step,expected", [
    (0, 0.0), (1, 0.0), (150, 0.0), (151, 0.5 / 2350), (150 + 1175, 0.25),
    (2500, 0.5), (2501, 0.5), (100000, 0.5)])
def test_reward_weight_schedule(step, expected):
    got = float(reward_weight_at(step, 150, 2350, 0.5))
    assert got == pytest.approx(expected, rel=1e-5, abs=1e-9)


def test_reward_weight_schedule_without_ramp_and_in_graph():
    assert float(reward_weight_at(10, 10, 0, 0.7)) == 0.0
    assert float(reward_weight_at(11, 10, 0, 0.7)) == pytest.approx(0.7)
    graph = tf.function(lambda s: reward_weight_at(s, 2, 4, 1.0))
    assert [float(graph(tf.constant(s))) for s in (2, 3, 6, 9)] == [0.0, 0.25, 1.0, 1.0]


def test_sequence_log_probs_are_length_normalised_over_real_tokens():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 6)).astype(np.float32)
    ids = np.array([[1, 2, 3, 0], [5, 4, 0, 0]], np.int32)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = [np.mean([log_softmax[0, t, ids[0, t]] for t in range(3)]),
                np.mean([log_softmax[1, t, ids[1, t]] for t in range(2)])]
    got = np.asarray(sequence_log_probs(logits, ids, mask))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_baselines():
    rewards = tf.constant([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])
    greedy = tf.constant([4.0, -1.0])
    np.testing.assert_allclose(np.asarray(baseline("greedy", rewards, greedy)),
                               [[4, 4, 4], [-1, -1, -1]])
    np.testing.assert_allclose(np.asarray(leave_one_out_baseline(rewards)),
                               [[4.0, 3.5, 1.5], [1.5, 1.5, 0.0]])
    np.testing.assert_allclose(np.asarray(baseline("sample", rewards)),
                               [[4.0, 3.5, 1.5], [1.5, 1.5, 0.0]])
    with pytest.raises(ValueError, match="greedy captions"):
        baseline("greedy", rewards)
    with pytest.raises(ValueError, match="at least 2"):
        baseline("sample", tf.constant([[1.0], [2.0]]))
    with pytest.raises(ValueError, match="not one of"):
        baseline("mean", rewards, greedy)


def test_policy_gradient_loss_value_and_gradient():
    log_probs = tf.Variable([[-1.0, -2.0], [-0.5, -3.0]])
    reward = tf.constant([[3.0, 1.0], [2.0, 2.0]])
    base = tf.constant([[2.0, 2.0], [1.0, 1.0]])
    with tf.GradientTape() as tape:
        loss = policy_gradient_loss(log_probs, reward, base)
    # advantages 1, -1, 1, 1 -> -mean(-1*1, -2*-1, -0.5*1, -3*1) = -(-1 + 2 - 0.5 - 3) / 4
    assert float(loss) == pytest.approx(2.5 / 4)
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, log_probs)),
                               [[-0.25, 0.25], [-0.25, -0.25]])
    assert float(generator_loss(2.0, 4.0, 0.25)) == pytest.approx(0.25 * 2 + 0.75 * 4)


def test_rewards_carry_no_gradient():
    reward = tf.Variable([[1.0, 2.0]])
    with tf.GradientTape() as tape:
        loss = policy_gradient_loss(tf.constant([[-1.0, -1.0]]), reward, tf.zeros([1, 2]))
    assert tape.gradient(loss, reward) is None


def test_discriminator_loss_and_accuracy_by_hand():
    real, fake = np.array([2.0, -1.0], np.float32), np.array([0.5, -3.0, -0.2], np.float32)

    def bce(x, y):
        return max(x, 0) - x * y + np.log1p(np.exp(-abs(x)))
    expected = np.mean([bce(x, 1) for x in real] + [bce(x, 0) for x in fake])
    assert float(discriminator_loss(real, fake)) == pytest.approx(expected, rel=1e-6)
    real_acc, fake_acc = discriminator_accuracy(real, fake)
    assert float(real_acc) == pytest.approx(0.5) and float(fake_acc) == pytest.approx(2 / 3)
