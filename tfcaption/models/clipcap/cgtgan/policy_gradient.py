"""Self-critical policy gradient for CgT-GAN (pure functions).

Rewards and log-probabilities of ``R`` sampled captions per image come as ``[B, R]``;
the greedy caption's reward as ``[B]``. Baselines never carry gradient.
"""

import tensorflow as tf
from keras import ops

BASELINES = ("greedy", "sample")


def sequence_log_probs(logits, token_ids, padding_mask):
    """Length-normalised log-probability of each sequence: the mean over its real tokens
    (``padding_mask`` True, the stop token included) of ``log softmax(logits)`` at the
    chosen ids. ``logits [N, T, V]``, ``token_ids`` / ``padding_mask [N, T]`` -> ``[N]``."""
    log_probs = tf.nn.log_softmax(ops.cast(logits, "float32"), axis=-1)
    chosen = tf.gather(log_probs, ops.cast(token_ids, "int32"), axis=-1, batch_dims=2)
    mask = ops.cast(padding_mask, "float32")
    return ops.sum(chosen * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)


def greedy_baseline(greedy_reward, num_samples):
    """Each sample's baseline is its image's greedy-caption reward: ``[B]`` -> ``[B, R]``."""
    return ops.repeat(ops.expand_dims(greedy_reward, -1), num_samples, axis=-1)


def leave_one_out_baseline(sample_reward):
    """Each sample's baseline is the mean reward of the other samples of its image
    (``[B, R]``, R >= 2)."""
    count = ops.shape(sample_reward)[-1]
    total = ops.sum(sample_reward, axis=-1, keepdims=True)
    return (total - sample_reward) / ops.cast(count - 1, sample_reward.dtype)


def baseline(kind, sample_reward, greedy_reward=None):
    """``"greedy"`` (needs ``greedy_reward``) or ``"sample"`` (leave-one-out) -> ``[B, R]``,
    with gradient stopped."""
    if kind == "greedy":
        if greedy_reward is None:
            raise ValueError("the greedy baseline needs the greedy captions' rewards")
        value = greedy_baseline(greedy_reward, ops.shape(sample_reward)[-1])
    elif kind == "sample":
        if sample_reward.shape[-1] is not None and sample_reward.shape[-1] < 2:
            raise ValueError("the 'sample' baseline needs at least 2 samples per image")
        value = leave_one_out_baseline(sample_reward)
    else:
        raise ValueError(f"baseline {kind!r} is not one of {BASELINES}")
    return ops.stop_gradient(value)


def policy_gradient_loss(log_probs, reward, base):
    """``-mean(log_probs * (reward - base))``; rewards and baseline carry no gradient."""
    advantage = ops.stop_gradient(ops.cast(reward, "float32") - ops.cast(base, "float32"))
    return -ops.mean(log_probs * advantage)


def generator_loss(reward_loss, fd_loss, rw):
    """``rw * reward_loss + (1 - rw) * fd_loss``."""
    return rw * reward_loss + (1.0 - rw) * fd_loss
