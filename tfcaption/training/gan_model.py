"""The base of every adversarially trained captioner: a generator, a discriminator, two optimizers."""

import keras
import tensorflow as tf

from tfcaption.training.trainer_model import TrainerModel


def loss_scaled(optimizer):
    """``optimizer`` in a ``keras.optimizers.LossScaleOptimizer`` (once)."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)


class GanModel(TrainerModel):
    """What the GAN families share, following the Keras guide's GAN recipe.

    A subclass builds its networks, passes them here with the names of the metrics its
    ``train_step`` reports, and writes ``train_step`` with :meth:`noise_seed`,
    :meth:`replica_scale` and :meth:`report`. This base holds:

    * ``generator`` and ``discriminator`` (tracked, so backups hold both);
    * ``compile(g_optimizer=, d_optimizer=)`` (calling ``super().compile()``; under a
      ``mixed_float16`` policy both are wrapped in a ``LossScaleOptimizer``, and the
      subclass's gradients come from ``optimizer.scale_loss(loss)``; the step
      runs in ``tf.function``, its numeric parts are XLA-compiled by the subclass when
      ``jit_compile``) and :meth:`build_optimizers` (slots made before ``fit``, so a
      backup can be restored into them);
    * one ``keras.metrics.Mean`` tracker per metric, created in ``__init__`` and listed by
      :attr:`metrics` (so Keras resets them every epoch);
    * the sampling noise: every draw is a stateless op seeded by :meth:`noise_seed`, a
      function of ``seed`` and an optimizer's iteration count. The iteration counts are
      saved with the optimizers, so a resumed run draws exactly what the uninterrupted
      run would have; a ``keras.random.SeedGenerator`` would not (its state is not
      restored by ``load_weights`` or ``BackupAndRestore`` in Keras 3). Under several
      replicas each replica folds its id into the seed, so the replicas' rows get
      independent noise (the draws are not those of one device over the global batch);
    * :meth:`replica_scale` for losses under ``tf.distribute`` (:class:`TrainerModel`);
    * ``get_config`` / ``from_config`` of the two networks and the shared settings.

    Args:
      generator, discriminator: the two networks (Keras models).
      metric_names: the names of the values ``train_step`` reports.
      jit_compile: XLA for the subclass's numeric functions.
      seed: the base seed of the sampling noise.
    """

    def __init__(self, generator, discriminator, metric_names=(), jit_compile=True, seed=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.jit_compile = bool(jit_compile)
        self.seed = int(seed)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}
        self.g_optimizer = None
        self.d_optimizer = None

    @property
    def metrics(self):
        return list(self.trackers.values())

    def compile(self, g_optimizer, d_optimizer=None, **kwargs):
        """The generator's and the discriminator's optimizers (a subclass may run without
        ``d_optimizer``, e.g. in maximum-likelihood pre-training)."""
        kwargs.setdefault("jit_compile", False)
        if self.dtype_policy.name == "mixed_float16":  # float16 gradients need loss scaling
            g_optimizer = loss_scaled(g_optimizer)
            d_optimizer = d_optimizer and loss_scaled(d_optimizer)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        super().compile(**kwargs)  # TrainerModel: the step optimizers clip after all-reduce

    def step_optimizers(self):
        return [o for o in (self.g_optimizer, self.d_optimizer) if o is not None]

    def build_optimizers(self):
        """Creates the optimizers' slots now (so a backup can be restored before fit)."""
        self.g_optimizer.build(self.generator.trainable_variables)
        if self.d_optimizer is not None:
            self.d_optimizer.build(self.discriminator.trainable_variables)

    def call(self, inputs, training=None):
        return self.generator(inputs, training=training)

    def noise_seed(self, counter, stream=0, streams=1):
        """The int32 ``[2]`` seed of draw ``stream`` (of ``streams`` per step) at step
        ``counter`` (an optimizer's iteration count): ``[seed, streams * counter +
        stream]``; under several replicas, that seed with the replica's id folded in (each
        replica draws its own noise for its own rows). Called in the step's replica
        context."""
        counter = tf.cast(counter, tf.int32)
        seed = tf.stack([tf.constant(self.seed, tf.int32), streams * counter + stream])
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return seed
        replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
        return tf.cast(tf.random.experimental.stateless_fold_in(seed, replica), tf.int32)

    @staticmethod
    def caption_batch(data):
        """A batch ``{"features", "token_ids" [B, T + 1], "padding_mask"}`` (``<start> w1 …
        <end>`` then padding) -> ``(features float32, inputs [B, T], targets [B, T], target
        mask bool [B, T])``: the generator reads ``inputs`` and predicts ``targets``."""
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        token_ids = tf.cast(data["token_ids"], tf.int32)
        mask = tf.cast(data["padding_mask"], tf.bool)[:, 1:]
        return (tf.cast(data["features"], tf.float32), token_ids[:, :-1], token_ids[:, 1:],
                mask)

    def report(self, values):
        """Updates the trackers with ``{name: value}``; returns every tracker's result."""
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # --- serialisation -------------------------------------------------------------------
    SERIALIZED = ("generator", "discriminator")

    def get_config(self):
        config = super().get_config()
        for name in self.SERIALIZED:
            config[name] = keras.saving.serialize_keras_object(getattr(self, name))
        config.update(jit_compile=self.jit_compile, seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.SERIALIZED:
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)
