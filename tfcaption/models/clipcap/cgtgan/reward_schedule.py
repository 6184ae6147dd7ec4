"""The weight ``rw`` of the CLIP reward in CgT-GAN's generator loss, per training step."""

from keras import ops


def reward_weight_at(step, gan_training_steps=150, gan_warm_steps=2350, reward_weight=0.5):
    """``reward_weight * clip((step - gan_training_steps) / gan_warm_steps, 0, 1)``: 0 up to
    ``gan_training_steps`` (discriminator feedback only), then a linear ramp over
    ``gan_warm_steps`` steps to ``reward_weight``, held after that.

    ``step`` is the 1-based number of the current generator update (the reference's
    ``global_step``, incremented before the weight is computed); traceable."""
    step = ops.cast(step, "float32")
    if gan_warm_steps <= 0:
        return ops.where(step <= gan_training_steps, 0.0, float(reward_weight))
    ramp = (step - float(gan_training_steps)) / float(gan_warm_steps)
    return float(reward_weight) * ops.clip(ramp, 0.0, 1.0)
