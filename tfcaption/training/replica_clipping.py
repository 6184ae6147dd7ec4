"""Gradient clipping of the global batch's gradients under ``tf.distribute``."""

import tensorflow as tf


def clip_after_all_reduce(optimizer):
    """Makes ``optimizer`` (or the optimizer a ``LossScaleOptimizer`` wraps) clip the sum of
    the replicas' gradients, as one device clips the gradients of the whole batch.

    Keras 3 clips (``clipnorm``, ``global_clipnorm``, ``clipvalue``) each replica's
    gradients before it sums them over the replicas: under ``N`` replicas the update is
    then clipped at up to ``N`` times the set norm. Here, with several replicas, the
    gradients are summed over the replicas first, clipped, and each replica hands
    ``clipped / N`` on to Keras's sum (one more all-reduce per step, only when clipping is
    set). With one replica nothing changes. Returns ``optimizer``."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if not any(getattr(inner, name, None) for name in ("clipnorm", "global_clipnorm",
                                                        "clipvalue")):
        return optimizer
    if getattr(inner, "_clips_after_all_reduce", False):
        return optimizer
    clip = inner._clip_gradients

    def clip_global_gradients(grads):
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas == 1:
            return clip(grads)
        summed = iter(context.all_reduce("SUM", [g for g in grads if g is not None]))
        clipped = clip([None if g is None else next(summed) for g in grads])
        return [None if g is None else _divide(g, replicas) for g in clipped]

    inner._clip_gradients = clip_global_gradients
    inner._clips_after_all_reduce = True
    return optimizer


def _divide(gradient, divisor):
    if isinstance(gradient, tf.IndexedSlices):  # an embedding's gradient
        return tf.IndexedSlices(gradient.values / divisor, gradient.indices,
                                gradient.dense_shape)
    return gradient / divisor
