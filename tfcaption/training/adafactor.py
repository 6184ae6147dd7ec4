"""Adafactor with a warmup-then-cosine (or constant) learning rate, from a ``train``
settings section: the optimiser of the Pix2Struct and T5 recipes."""

import keras

SCHEDULES = ("cosine", "constant")


def adafactor_rate(learning_rate, warmup_steps, total_steps, schedule="cosine"):
    """The learning rate: linear warmup from 0 to ``learning_rate`` over ``warmup_steps``,
    then cosine decay to 0 at ``total_steps`` (``"cosine"``) or constant."""
    if schedule not in SCHEDULES:
        raise ValueError(f"train.schedule {schedule!r} is not one of {SCHEDULES} (Adafactor)")
    warmup = int(warmup_steps)
    decay = max(int(total_steps) - warmup, 1) if schedule == "cosine" else 10 ** 12
    alpha = 0.0 if schedule == "cosine" else 1.0  # "constant": the floor is the peak
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else float(learning_rate), decay, alpha=alpha,
        warmup_target=float(learning_rate) if warmup else None, warmup_steps=warmup)


def build_adafactor(settings, total_steps):
    """Keras Adafactor (factored second moments, update clipping at 1, steps scaled by each
    variable's RMS) from ``settings`` ``learning_rate``, ``warmup_steps``, ``schedule``
    and ``clipnorm`` (global gradient-norm clip, None: none)."""
    rate = adafactor_rate(settings["learning_rate"], settings.get("warmup_steps", 0),
                          total_steps, settings.get("schedule", "cosine"))
    return keras.optimizers.Adafactor(rate, clip_threshold=1.0,
                                      global_clipnorm=settings.get("clipnorm"))
