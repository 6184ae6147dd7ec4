"""Dropout masks for every step of a recurrent loop, drawn once before the loop."""

import keras
from keras import ops


def step_dropout_masks(dropout_layer, shape, dtype, training):
    """Scaled keep-masks of ``shape`` (``[steps, batch, units]``) at ``dropout_layer``'s
    rate, from its seed, or None when not ``training`` or the rate is 0. Drawing them
    before a ``tf.while_loop`` keeps random state updates out of the loop body (and out
    of its gradients)."""
    rate = float(dropout_layer.rate)
    if not training or rate <= 0:
        return None
    keep = keras.random.uniform(shape, seed=dropout_layer.seed_generator) >= rate
    return ops.cast(keep, dtype) / (1.0 - rate)
