"""One ATTEND-GAN adversarial generator update at the real size: tfcaption's
:class:`AttendGanModel` (``_g_gradients``, XLA-compiled, then ``g_optimizer.apply``) vs the
same update written as the reference re-implementation writes it, in PyTorch
(``attend_gan_reference.py``), with the same weights.

    python bench/attend_gan.py [--runs=5] [--smoke]

The update, for a batch of ``BATCH`` images (7x7x2048 region features, non-negative as
ResNet-152 ``res5c``) and their captions (``<start>``, 8 to 19 words, ``<end>``, padding;
``STEPS`` = 20 target tokens): ``L2`` (masked cross-entropy + the doubly stochastic
attention term, weight 1, target 1) teacher-forced on the captions; one caption of
``STEPS`` tokens sampled per image (stops at ``<end>`` through masks); every prefix
``t = 1 .. STEPS - 1`` of it completed ``MC_NUM`` times by sampling and scored by the
discriminator (sigmoid of its logit; ``R_T`` is the sample's own score), the rewards
averaged over the ``MC_NUM`` completions; ``L1 = mean_b(-sum_t log p(y_t) R_t)`` over the
sample's tokens (no baseline); ``L = L1 + L2`` (``pg_weight`` 1); AdamW (1e-4, weight
decay 0.01, epsilon 1e-7, no clipping: ``attend_gan_settings``' defaults) on the
generator. The discriminator is not updated (one generator update is timed).

Models, random weights, the same on both sides (Keras built first, then copied):
generator LSTM 1024, attention 512, word embedding 768, deep output from the context and
``h``; discriminator a 2-layer bidirectional GRU of 1024 on embeddings of 768 (reading the
caption only, as the reference); a vocabulary of ``VOCAB`` = 10,000 words (the size of a
COCO word vocabulary; ids 0-3 are pad, start, end, unknown).

Ours: ``AttendGanModel(mode="adversarial", mc_num=4, reward_baseline="none",
jit_compile=True)``; one update is ``model._g_gradients`` (XLA: the teacher-forced passes,
the sample, every rollout of every prefix in one batched loop of ``STEPS`` iterations
over ``B * mc_num * ceil((T - 1) / 2)`` lanes that start from the teacher-forced states,
all ``B * mc_num * (T - 1) + B`` captions scored in one discriminator call) followed by
``g_optimizer.apply``, both in one ``tf.function`` as ``fit``'s train function runs them.

Reference: see ``attend_gan_reference.py`` (step by step at batch ``B``: ``Wa_linear``
recomputed every step; ``mc_num * (T - 1)`` completions each re-running the generator over
its prefix from the initial state, each scored by its own discriminator call).

Checks (before any update, same inputs): the teacher-forced logits and attention weights
of the batch's captions, ``L2`` and its two terms, and the discriminator's logits on the
real captions (varied lengths) and on rollout-like captions (random words with ``<end>``
somewhere and random words after it, read through the first ``<end>``). Sampling uses
different generators on the two sides, so samples, rewards and losses after sampling are
shown, not compared. ``flops`` (the MFU column) is :func:`step_flops` of our step; the
reference's estimate is in the notes.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from attend_gan_reference import Reference, torch_discriminator, torch_generator  # noqa: E402

BATCH = 16
STEPS = 20  # target tokens per caption (max_length)
MC_NUM = 4
VOCAB = 10_000  # a COCO word vocabulary's size
PAD, START, END, UNK = 0, 1, 2, 3
LEARNING_RATE, WEIGHT_DECAY, EPSILON = 1e-4, 0.01, 1e-7
TARGET = 0.3


def networks(sizes, seed=0):
    """The Keras generator and discriminator at ``sizes.attend_gan``, built with a seed."""
    import keras

    from tfcaption.models.attend_gan.attention_lstm_generator import AttentionLstmGenerator
    from tfcaption.models.attend_gan.gru_caption_discriminator import GruCaptionDiscriminator

    s = sizes.attend_gan
    keras.utils.set_random_seed(seed)
    generator = AttentionLstmGenerator(
        VOCAB, feature_dim=s["feature_dim"], grid_shape=s["grid_shape"],
        embedding_dim=s["embedding_dim"], hidden_dim=s["hidden_dim"],
        attention_dim=s["attention_dim"], dropout=0.0, name="generator")
    discriminator = GruCaptionDiscriminator(
        VOCAB, embedding_dim=s["d_embedding_dim"], hidden_dim=s["d_hidden_dim"],
        num_layers=s["d_num_layers"], dropout=0.1, name="discriminator")
    return generator, discriminator


def batch_arrays(sizes, seed=0, batch=BATCH, steps=STEPS):
    """``(features [B, *grid, F] float32 >= 0, token_ids [B, T + 1] int32, padding_mask
    [B, T + 1] bool)``: ``<start>``, 8 to ``T - 1`` words, ``<end>``, pad (row 0 full)."""
    s = sizes.attend_gan
    rng = np.random.default_rng(seed)
    features = np.abs(rng.normal(size=(batch, *s["grid_shape"], s["feature_dim"])))
    words = rng.integers(8, steps, size=batch)
    words[0] = steps - 1
    ids = np.full((batch, steps + 1), PAD, np.int32)
    ids[:, 0] = START
    for b, n in enumerate(words):
        ids[b, 1:n + 1] = rng.integers(UNK + 1, VOCAB, size=n)
        ids[b, n + 1] = END
    mask = np.arange(steps + 1)[None, :] <= words[:, None] + 1
    return features.astype(np.float32), ids, mask


def rollout_like(seed=1, rows=2 * BATCH, steps=STEPS):
    """Captions as the rollouts make them: random words, ``<end>`` at a random position in
    half of the rows, random words after it; their masks through the first ``<end>``."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(UNK + 1, VOCAB, size=(rows, steps)).astype(np.int32)
    ends = rng.integers(0, steps, size=rows)
    for r in range(0, rows, 2):
        ids[r, ends[r]] = END
    is_end = ids == END
    mask = (np.cumsum(is_end, axis=1) - is_end) == 0
    return ids, mask


# --- ours ----------------------------------------------------------------------------------

class Ours:
    """:class:`AttendGanModel` in ``"adversarial"`` mode, compiled as
    ``attend_gan_training.gan_model`` compiles it (AdamW; ``jit_compile``); one update is
    ``_g_gradients`` + ``g_optimizer.apply`` in one ``tf.function`` (as ``train_step``
    runs them inside ``fit``'s train function), seeded from the optimizer's iterations."""

    def __init__(self, generator, discriminator, features, token_ids, padding_mask):
        import keras
        import tensorflow as tf

        from tfcaption.models.attend_gan.attend_gan_model import AttendGanModel

        model = AttendGanModel(generator, discriminator, mode="adversarial", start_id=START,
                               end_id=END, mc_num=MC_NUM, pg_weight=1.0, attention_weight=1.0,
                               attention_target=1.0, reward_baseline="none", jit_compile=True,
                               seed=0)

        def adamw():
            return keras.optimizers.AdamW(LEARNING_RATE, weight_decay=WEIGHT_DECAY,
                                          epsilon=EPSILON)

        model.compile(g_optimizer=adamw(), d_optimizer=adamw())
        model.build_optimizers()
        self.model = model
        ids = tf.constant(token_ids)
        self.features = tf.constant(features)
        self.inputs, self.targets = ids[:, :-1], ids[:, 1:]
        self.mask = tf.constant(padding_mask)[:, 1:]

        @tf.function
        def update(features, inputs, targets, mask):
            seed = model.noise_seed(model.g_optimizer.iterations, 0, 2)
            values, grads = model._g_gradients(features, inputs, targets, mask, seed)
            model.g_optimizer.apply(grads, model.generator.trainable_variables)
            return values

        self.update = update
        self.first_values = None

    def step(self):
        values = self.update(self.features, self.inputs, self.targets, self.mask)
        if self.first_values is None:
            self.first_values = {k: float(v) for k, v in values.items()}
        return values

    # checks (eager, before any update)
    def teacher_forced(self):
        out = self.model.generator.unroll(self.features, self.inputs)
        l2, ce, reg = self.model.l2_loss(self.features, self.inputs, self.targets, self.mask)
        return (np.asarray(out["logits"], np.float32), np.asarray(out["attention"]),
                float(l2), float(ce), float(reg))

    def d_logits(self, token_ids, mask):
        import tensorflow as tf

        return np.asarray(self.model.score(self.features, tf.constant(token_ids),
                                           tf.constant(mask)), np.float32)

    def traces(self):
        return (f"update {self.update.experimental_get_tracing_count()}, g_gradients "
                f"{self.model._g_gradients.experimental_get_tracing_count()}")


# --- FLOPs ---------------------------------------------------------------------------------

def step_flops(sizes, batch=BATCH, steps=STEPS, mc_num=MC_NUM, vocab=VOCAB):
    """About the FLOPs of one update on each side, by part (2 per multiply-add; backward =
    2 x forward; element-wise ops, softmaxes and the optimizer left out; every caption
    counted at its full ``steps`` tokens, as sampled captions of random weights rarely
    stop early):

    - a generator step of one row: ``Wh_linear``, ``We_linear``, the attended context,
      ``f_beta``, the LSTM, the output layers (``out``); ``Wa_linear`` of one image's
      regions (``wa``) and the initial state (``init``) apart;
    - ours: ``wa`` once per pass; the rollouts as ``B * mc_num * ceil((T - 1) / 2)`` lanes
      of ``T`` full steps (from saved states); ``B * mc_num * (T - 1) + B`` captions
      through the discriminator;
    - the reference: ``wa`` at every step; each of the ``mc_num * (T - 1)`` completions
      re-runs its ``t``-token prefix without the output layer and samples ``T - t``
      tokens; ``B * mc_num * T`` captions through the discriminator (the sample's own
      score again at every ``i``).

    Returns ``{"ours": {part: flops}, "reference": {part: flops}}``."""
    s = sizes.attend_gan
    regions = math.prod(s["grid_shape"])
    f, e, h, a = s["feature_dim"], s["embedding_dim"], s["hidden_dim"], s["attention_dim"]
    state = 2 * h * a + 2 * regions * a + 2 * regions * f + 2 * h * f + 2 * (e + f + h) * 4 * h
    out = 2 * (f + h) * vocab
    full = state + out
    wa = 2 * regions * f * a
    init = 2 * 2 * f * h
    dh, layers = s["d_hidden_dim"], s["d_num_layers"]
    per_token = sum(2 * 2 * (in_dim + dh) * 3 * dh
                    for in_dim in [s["d_embedding_dim"]] + [2 * dh] * (layers - 1))
    d_caption = steps * per_token + 2 * (2 * layers * dh * dh + dh)
    b, t, m = batch, steps, mc_num
    lanes = math.ceil((t - 1) / 2)
    pairs = t * (t - 1) // 2  # prefix steps (= sampled steps) over the T - 1 completions
    ours = {"teacher-forced L2 + PG passes (fwd+bwd)": 2 * 3 * b * (t * full + wa + init),
            "sample": b * (t * full + wa + init),
            "rollouts": b * m * lanes * t * full + b * (wa + init),
            "discriminator": (b * m * (t - 1) + b) * d_caption}
    reference = {"teacher-forced L2 + PG passes (fwd+bwd)": 2 * 3 * b * (t * (full + wa) + init),
                 "sample": b * (t * (full + wa) + init),
                 "rollouts": b * m * (pairs * (state + wa) + pairs * (full + wa)
                                      + (t - 1) * init),
                 "discriminator": b * m * t * d_caption}
    return {"ours": ours, "reference": reference}


def flops_text(parts):
    return ", ".join(f"{k} {v / 1e9:.0f}" for k, v in parts.items()) + \
        f" (total {sum(parts.values()) / 1e9:.0f} GFLOP)"


# --- checks and rows -----------------------------------------------------------------------

def diff(ours, ref, mask=None):
    d = np.abs(ours - ref)
    scale = np.abs(ref)
    if mask is not None:
        d, scale = d[mask], scale[mask]
    return f"{d.max():.1e} (max |ref| {scale.max():.2g})"


def checks_before_update(ours, reference, token_ids, padding_mask):
    o_logits, o_att, o_l2, o_ce, o_reg = ours.teacher_forced()
    r_logits, r_att, r_l2, r_ce, r_reg = reference.teacher_forced()
    mask = padding_mask[:, 1:]
    real_ids, real_mask = token_ids[:, 1:], mask
    roll_ids, roll_mask = rollout_like()
    return {
        "teacher-forced logits max abs diff": diff(o_logits, r_logits, mask),
        "attention max abs diff": diff(o_att, r_att, mask),
        "L2 ours/ref": f"{o_l2:.5f}/{r_l2:.5f} (CE {o_ce:.4f}/{r_ce:.4f}, "
                       f"attention term {o_reg:.4f}/{r_reg:.4f})",
        "D logits (real captions) max abs diff": diff(ours.d_logits(real_ids, real_mask),
                                                      reference.d_logits(real_ids, real_mask)),
        "D logits (rollout-like) max abs diff": diff(ours.d_logits(roll_ids, roll_mask),
                                                     reference.d_logits(roll_ids, roll_mask)),
    }


def run(ctx):
    import torch

    sizes = ctx.sizes
    generator, discriminator = networks(sizes)
    features, token_ids, padding_mask = batch_arrays(sizes)
    reference = Reference(torch_generator(generator), torch_discriminator(discriminator),
                          features, token_ids, padding_mask, START, END, MC_NUM, 1.0, 1.0,
                          1.0, LEARNING_RATE, WEIGHT_DECAY, EPSILON,
                          device=ctx.torch_device, autocast=ctx.autocast)
    ours = Ours(generator, discriminator, features, token_ids, padding_mask)
    checks = checks_before_update(ours, reference, token_ids, padding_mask)

    ours_timing, _ = ctx.time(ours.step, sync=lambda values: values["g_loss"].numpy())
    torch.manual_seed(0)
    ref_timing, _ = ctx.time(reference.step)
    flops = step_flops(sizes)
    checks["first update g_loss / reward ours"] = (f"{ours.first_values['g_loss']:.3f} / "
                                                   f"{ours.first_values['reward']:.3f}")
    checks["first update g_loss / reward ref"] = (f"{reference.first_losses['g_loss']:.3f} / "
                                                  f"{reference.first_losses['reward']:.3f}")
    checks["traces"] = ours.traces()
    work = (f"ATTEND-GAN adversarial generator update, {BATCH} images × {STEPS} tokens, "
            f"mc_num {MC_NUM} rollouts of every prefix, D scoring, PG + L2, AdamW "
            f"({sizes.attend_gan_label}; vocabulary {VOCAB:,} words, a COCO word "
            f"vocabulary's size), {ctx.precision}, vs the reference's step in PyTorch")
    notes = ("Ours: AttendGanModel adversarial, _g_gradients (XLA) + g_optimizer.apply in one "
             "tf.function; rollouts batched over every prefix x mc_num x image in one loop "
             "from the teacher-forced states, one D call. Reference: Dragonyong-siu/"
             "ATTEND-GAN-image-caption-using-gan-Pytorch get_reward / caption_sampler / "
             "advertrain_generator, bugs fixed (see attend_gan_reference.py): Wa_linear per "
             "step, each completion re-runs its prefix from the initial state (state only), "
             "one D call per completed batch, torch.multinomial, no_grad rollouts, AdamW. "
             f"Estimated GFLOP: ours {flops_text(flops['ours'])}; reference "
             f"{flops_text(flops['reference'])}.")
    return [harness.row(f"attend_gan_step_b{BATCH}", work, ours_timing, ref_timing,
                        target=TARGET, items=BATCH, unit="images", checks=checks, notes=notes,
                        flops=sum(flops["ours"].values()))]


if __name__ == "__main__":
    harness.standalone(run)
