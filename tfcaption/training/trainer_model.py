"""The Keras model base of every trainer: ``fit`` under any ``tf.distribute`` strategy."""

import keras
import tensorflow as tf

from tfcaption.training.distribution import is_multi_worker, xla_collectives
from tfcaption.training.replica_clipping import clip_after_all_reduce


class TrainerModel(keras.Model):
    """A ``keras.Model`` whose ``train_step`` / ``test_step`` run under one device, a
    ``MirroredStrategy``, a ``MultiWorkerMirroredStrategy`` or a ``TPUStrategy``.

    * :meth:`replica_scale` / :meth:`global_mean_scale`: Keras optimizers sum the
      replicas' gradients, so a replica's loss is scaled to its share of the global
      batch's loss;
    * under a multi-worker strategy Keras 3.15's ``fit`` reduces each step's scalar logs
      with ``strategy.reduce("MEAN", value, axis=0)`` (an error on a scalar): the step's
      values are given a length-1 axis there (so the reduction is the mean over the
      workers);
    * under any strategy with several replicas (mirrored, multi-worker, TPU) Keras
      3.15's ``fit`` builds a model, even a built one, again from its first batch
      reduced with ``strategy.reduce("MEAN", batch)`` (an error on a bool padding mask:
      ``AddN`` takes no bool): a built model is not rebuilt. Every trainer builds its
      model (and optimizer) before ``fit``, so that a backup can be restored into it;
    * XLA cannot compile collectives on CPU devices: with several CPU replicas the step
      runs without ``jit_compile`` (GPUs and TPUs keep it);
    * at the end of a dataset of unknown length (every trainer's pipeline) Keras 3.15
      calls the step once more, on a ``get_next()`` that fails; the step's ops that read
      no batch would still run (one more ``optimizer.iterations``, hence one more step
      of the learning-rate schedule and of the GAN noise seeds, and one more count in
      each ``Mean`` tracker updated without a batch-dependent weight, so an epoch's
      logged means came out ``steps / (steps + 1)`` of the true ones; under several
      replicas how many of them ran varied from run to run). Every op of the step
      waits for the batch instead;
    * Keras clips each replica's gradients before summing them: the step's optimizers
      clip the summed gradients instead (:func:`clip_after_all_reduce`).
    """

    def compile(self, *args, **kwargs):
        if kwargs.get("jit_compile") and not xla_collectives(self.distribute_strategy):
            kwargs["jit_compile"] = False
        super().compile(*args, **kwargs)
        for optimizer in self.step_optimizers():
            clip_after_all_reduce(optimizer)

    def replica_scale(self):
        """``1 / replicas``: a replica's mean loss times this sums to the global mean."""
        return 1.0 / self.distribute_strategy.num_replicas_in_sync

    @staticmethod
    def global_mean_scale(count):
        """``count / (the count summed over the replicas)``: a replica's loss averaged
        over its ``count`` items (tokens), times this, sums over the replicas to the
        average over every item of the global batch (exact, however the items fall)."""
        count = tf.cast(count, tf.float32)
        total = tf.distribute.get_replica_context().all_reduce("SUM", count)
        return tf.math.divide_no_nan(count, total)

    @staticmethod
    def global_means(count, *means):
        """``(the global count, each of means averaged over every replica's items)``: the
        values a one-device step over the global batch would report (``count`` items per
        replica, ``means`` over them)."""
        context = tf.distribute.get_replica_context()
        count = tf.cast(count, tf.float32)
        sums = context.all_reduce("SUM", tf.stack([count] + [tf.cast(m, tf.float32) * count
                                                             for m in means]))
        return (sums[0],) + tuple(tf.math.divide_no_nan(sums[i + 1], sums[0])
                                  for i in range(len(means)))

    def _make_function(self, step_function):
        multi_worker = is_multi_worker(self.distribute_strategy)
        inner = step_function

        def step_function(data):
            # Every op of the step waits for the batch: at the end of a dataset of unknown
            # length Keras runs the step once more on a failing get_next(), and the step's
            # ops that read no batch (optimizer iterations, the metrics' counts) would run.
            # (Not while an optimizer is unbuilt: its variables, created in this first
            # trace, could not be lifted out of the function from under the dependency.
            # The trainers build theirs before fit.)
            batch = [t for t in tf.nest.flatten(data, expand_composites=True)
                     if isinstance(t, tf.Tensor)] if self._optimizers_built() else []
            with tf.control_dependencies(batch):
                outputs = inner(data)
            if multi_worker:
                outputs = tf.nest.map_structure(lambda v: tf.reshape(v, [1]), outputs)
            return outputs
        return super()._make_function(step_function)

    def step_optimizers(self):
        """The optimizers the train step applies (a subclass with others says which)."""
        return [self.optimizer] if getattr(self, "optimizer", None) is not None else []

    def _optimizers_built(self):
        return all(o.built for o in self.step_optimizers())

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self.built and self.distribute_strategy.num_replicas_in_sync > 1:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
