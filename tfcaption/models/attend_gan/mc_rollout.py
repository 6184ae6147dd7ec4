"""Monte-Carlo rollouts from every prefix of a batch of sampled captions, in one loop."""

import numpy as np
import tensorflow as tf

from tfcaption.models.attend_gan.rollout_plan import rollout_plan


def completion_index(steps):
    """Static tables composing each prefix's completed caption from the lane samples:
    ``(flat_index [steps - 1, steps], from_prefix [steps - 1, steps])``; position ``p``
    of prefix ``t``'s caption is the sampled caption's token ``p`` when ``p < t``, else
    lane sample ``flat_index[t - 1, p]`` (lane * steps + iteration)."""
    plan = rollout_plan(steps)
    prefixes = np.arange(1, steps)[:, None]
    positions = np.arange(steps)[None, :]
    iteration = np.maximum(plan["offset"][:, None] + positions - prefixes, 0)
    flat = plan["lane"][:, None] * steps + iteration
    return flat.astype(np.int32), positions < prefixes


def rollout_captions(generator, cache, tokens, states_h, states_c, mc_num, seed):
    """Completes every prefix of every sampled caption ``mc_num`` times.

    Args:
      generator: an :class:`AttentionLstmGenerator` (its :meth:`grouped_step`).
      cache: ``generator.initial_cache`` of the ``B`` images.
      tokens: int32 ``[B, T]``, the sampled captions ``y_1 .. y_T`` (static ``T``).
      states_h, states_c: ``[B, T, hidden]``: the generator's state after each input of
        the teacher-forced pass over ``<start>, y_1 .. y_{T-1}``.
      mc_num: rollouts per prefix.
      seed: int32 ``[2]`` (stateless Gumbel-max sampling; iteration ``s`` folds in ``s``).

    Returns:
      int32 ``[B, mc_num, T - 1, T]``: for prefix ``t`` (row ``t - 1``), ``y_1 .. y_t``
      followed by sampled tokens. All ``B * mc_num * ceil((T - 1) / 2)`` lanes run as one
      ``tf.while_loop`` of ``T`` iterations (:func:`rollout_plan`).
    """
    steps = int(tokens.shape[1])
    plan = rollout_plan(steps)
    lanes = len(plan["first_prefix"])
    batch = tf.shape(tokens)[0]
    per_lane = lambda x: tf.tile(x, [1, mc_num] + [1] * (x.shape.rank - 2))  # noqa: E731

    def start(prefixes):
        index = tf.constant(np.maximum(prefixes - 1, 0))
        return (per_lane(tf.gather(tokens, index, axis=1)),
                per_lane(tf.gather(states_h, index, axis=1)),
                per_lane(tf.gather(states_c, index, axis=1)))

    token, h, c = start(plan["first_prefix"])
    next_token, next_h, next_c = start(plan["second_prefix"])
    switch = tf.tile(tf.constant(plan["switch"]), [mc_num])  # [M]
    samples = tf.TensorArray(tf.int32, size=steps)

    def body(s, token, h, c, samples):
        now = tf.equal(switch, s)
        token = tf.where(now[None, :], next_token, token)
        h = tf.where(now[None, :, None], next_h, h)
        c = tf.where(now[None, :, None], next_c, c)
        logits, h, c = generator.grouped_step(token, h, c, cache)
        token = gumbel_max_sample(logits, tf.random.experimental.stateless_fold_in(seed, s))
        return s + 1, token, h, c, samples.write(s, token)

    _, _, _, _, samples = tf.while_loop(lambda s, *_: s < steps, body,
                                        (tf.constant(0), token, h, c, samples),
                                        maximum_iterations=steps)
    samples = tf.transpose(samples.stack(), [1, 2, 0])  # [B, M, steps]
    samples = tf.reshape(samples, [batch, mc_num, lanes * steps])
    flat_index, from_prefix = completion_index(steps)
    completed = tf.gather(samples, tf.constant(flat_index), axis=2)  # [B, mc, T-1, T]
    return tf.where(tf.constant(from_prefix)[None, None], tokens[:, None, None, :], completed)


def gumbel_max_sample(logits, seed):
    """One token per row of ``logits`` ``[..., V]``, drawn from their softmax:
    ``argmax(logits + Gumbel noise)`` (the noise of each row depends on its position only,
    so a row's draw does not depend on the rows after it). Several times faster than
    ``stateless_categorical`` under XLA on CPU at this size."""
    logits = tf.cast(logits, tf.float32)
    uniform = tf.random.stateless_uniform(tf.shape(logits), seed)
    return tf.argmax(logits - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)


def rollout_rewards(score_fn, rollouts, tokens, mc_num):
    """Rewards ``[B, T]``: ``R_t`` = the mean score of prefix ``t``'s ``mc_num`` rollouts
    for ``t < T``, and the full caption's score at ``t = T``. ``score_fn(token_ids [N, T],
    image_rows [N]) -> [N]`` scores captions (``image_rows`` the image of each row)."""
    batch, steps = tf.shape(tokens)[0], int(tokens.shape[1])
    rows = tf.reshape(tf.tile(tf.range(batch)[:, None], [1, mc_num * (steps - 1)]), [-1])
    flat = tf.concat([tf.reshape(rollouts, [-1, steps]), tokens], axis=0)
    scores = score_fn(flat, tf.concat([rows, tf.range(batch)], axis=0))
    split = batch * mc_num * (steps - 1)
    partial = tf.reduce_mean(tf.reshape(scores[:split], [batch, mc_num, steps - 1]), axis=1)
    return tf.concat([partial, scores[split:, None]], axis=1)
