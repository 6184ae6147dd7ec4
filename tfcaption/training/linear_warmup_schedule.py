"""Linear warmup then linear decay to zero (``get_linear_schedule_with_warmup``)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfcaption")
class LinearWarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``lr * step / warmup_steps`` for ``step < warmup_steps``, then linear decay to 0 at
    ``total_steps`` (held at 0 after). With ``total_steps=None`` the rate stays at ``lr``
    after warmup.

    Args:
      learning_rate: peak rate.
      warmup_steps: steps of the linear ramp (0 = none).
      total_steps: step where the rate reaches 0, or None for no decay.
    """

    def __init__(self, learning_rate, warmup_steps, total_steps=None):
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = None if total_steps is None else int(total_steps)
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        if self.total_steps is not None and self.total_steps < self.warmup_steps:
            raise ValueError(f"total_steps={total_steps} is smaller than "
                             f"warmup_steps={warmup_steps}")

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = float(max(1, self.warmup_steps))
        rate = self.learning_rate * ops.minimum(1.0, step / warmup)
        if self.total_steps is not None:
            span = float(max(1, self.total_steps - self.warmup_steps))
            decay = ops.clip((self.total_steps - step) / span, 0.0, 1.0)
            rate = ops.where(step < self.warmup_steps, rate, self.learning_rate * decay)
        return rate

    def get_config(self):
        return {"learning_rate": self.learning_rate, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps}
