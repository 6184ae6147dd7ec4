"""AdamW with a linear-warmup schedule, from a ``train`` settings section."""

import keras

from tfcaption.training.linear_warmup_schedule import LinearWarmupSchedule

SCHEDULES = ("linear", "constant")


def build_adamw(settings, total_steps, prefix=""):
    """AdamW from ``settings[prefix + key]`` for ``learning_rate``, ``warmup_steps``,
    ``schedule`` (``"linear"``: warmup then linear decay to 0 at ``total_steps``;
    ``"constant"``: warmup then constant), ``weight_decay``, ``no_decay`` (variable-name
    substrings excluded from weight decay), ``adam_epsilon`` and ``clipnorm`` (global
    gradient-norm clip). A missing prefixed key falls back to the unprefixed one, so
    ``g_learning_rate`` can override ``learning_rate`` for one of two optimizers."""

    def get(key, default=None):
        return settings.get(prefix + key, settings.get(key, default))

    schedule = get("schedule", "linear")
    if schedule not in SCHEDULES:
        raise ValueError(f"train.{prefix}schedule {schedule!r} is not one of {SCHEDULES}")
    rate = LinearWarmupSchedule(get("learning_rate"), get("warmup_steps", 0),
                                total_steps if schedule == "linear" else None)
    kwargs = {}
    if get("adam_epsilon") is not None:
        kwargs["epsilon"] = float(get("adam_epsilon"))
    optimizer = keras.optimizers.AdamW(rate, weight_decay=get("weight_decay", 0.0),
                                       global_clipnorm=get("clipnorm"), **kwargs)
    optimizer.exclude_from_weight_decay(var_names=list(get("no_decay", [])))
    return optimizer
