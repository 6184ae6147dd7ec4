"""The discriminator's binary cross-entropy and accuracies (pure functions)."""

import tensorflow as tf
from keras import ops


def discriminator_loss(real_logits, fake_logits):
    """Binary cross-entropy with logits, real labelled 1 and fake 0, averaged over all
    real and fake examples together -> scalar."""
    real_logits = ops.reshape(ops.cast(real_logits, "float32"), [-1])
    fake_logits = ops.reshape(ops.cast(fake_logits, "float32"), [-1])
    logits = ops.concatenate([real_logits, fake_logits], axis=0)
    labels = ops.concatenate([ops.ones_like(real_logits), ops.zeros_like(fake_logits)], axis=0)
    return ops.mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def discriminator_accuracy(real_logits, fake_logits):
    """(fraction of real examples with logit > 0, fraction of fake ones with logit < 0)."""
    real = ops.mean(ops.cast(ops.reshape(real_logits, [-1]) > 0, "float32"))
    fake = ops.mean(ops.cast(ops.reshape(fake_logits, [-1]) < 0, "float32"))
    return real, fake
