"""Contrastive (CLIP) training of a :class:`~tfcaption.backbones.clip_model.ClipModel`."""

import math

import keras
import tensorflow as tf
from keras import ops

from tfcaption.models.clip.contrastive_loss import contrastive_loss
from tfcaption.training.trainer_model import TrainerModel


@keras.saving.register_keras_serializable(package="tfcaption")
class ContrastiveClip(TrainerModel):
    """Trains image and text towers with symmetric InfoNCE and a learnable temperature.

    Batches are dicts with ``images`` (preprocessed) and ``token_ids`` (one caption per
    image; pair ``i`` is the positive of row ``i``, the rest of the batch are negatives),
    optionally with ``negative_token_ids`` and ``negative_mask``: hard-negative captions
    that every image is also scored against (see ``contrastive_loss``).
    After every update the log scale is clamped to ``max_logit_scale`` (CLIP's ``ln 100``),
    as in the original recipe. Under ``tf.distribute`` the replicas' embeddings are
    gathered, so every pair is scored against the whole global batch (as on one device;
    the loss is each replica's share of the global mean). The ``logit_scale`` metric
    reports ``exp(logit_scale)``, the factor on cosine similarities (the inverse
    temperature).

    Args:
      clip: a ``ClipModel`` (``encode_image``, ``encode_text``, ``logit_scale``).
      max_logit_scale: upper bound of the log temperature.
    """

    def __init__(self, clip, max_logit_scale=math.log(100.0), **kwargs):
        super().__init__(**kwargs)
        self.clip = clip
        self.max_logit_scale = float(max_logit_scale)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="i2t_accuracy")
        self.scale_tracker = keras.metrics.Mean(name="logit_scale")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker, self.scale_tracker]

    def call(self, inputs, training=False):
        return (self.clip.encode_image(inputs["images"], training=training),
                self.clip.encode_text(inputs["token_ids"], training=training))

    def _update_metrics(self, loss, logits, offset):
        labels = ops.arange(ops.shape(logits)[0]) + offset
        hits = ops.cast(ops.equal(ops.argmax(logits, axis=-1), labels), "float32")
        _, loss, accuracy = self.global_means(ops.shape(logits)[0], loss, ops.mean(hits))
        self.loss_tracker.update_state(loss)
        self.accuracy_tracker.update_state(accuracy)
        self.scale_tracker.update_state(ops.exp(self.clip.logit_scale))
        return {m.name: m.result() for m in self.metrics}

    def _loss(self, data, training):
        """``(this replica's loss, its logits, its first row in the global batch)``."""
        image_embeds, text_embeds = self(data, training=training)
        negatives, mask = None, data.get("negative_mask")
        if "negative_token_ids" in data:
            negatives = self.clip.encode_text(data["negative_token_ids"], training=training)
        context = tf.distribute.get_replica_context()
        if context.num_replicas_in_sync == 1:
            return contrastive_loss(image_embeds, text_embeds, self.clip.logit_scale,
                                    negatives, mask) + (0,)
        rows = tf.reshape(tf.shape(image_embeds)[0], [1])
        offset = tf.reduce_sum(context.all_gather(rows, 0)[:context.replica_id_in_sync_group])
        gather = lambda x: None if x is None else context.all_gather(x, 0)  # noqa: E731
        loss, logits = contrastive_loss(
            image_embeds, text_embeds, self.clip.logit_scale, gather(negatives), gather(mask),
            all_image_embeds=gather(image_embeds), all_text_embeds=gather(text_embeds),
            offset=offset)
        return loss, logits, offset

    def train_step(self, data):
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            loss, logits, offset = self._loss(data, training=True)
            share = loss * self.global_mean_scale(tf.shape(logits)[0])
            scaled = self.optimizer.scale_loss(share)
        variables = self.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        self.clip.logit_scale.assign(
            ops.minimum(self.clip.logit_scale, self.max_logit_scale))
        return self._update_metrics(loss, logits, offset)

    def test_step(self, data):
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self._update_metrics(*self._loss(data, training=False))

    def get_config(self):
        config = super().get_config()
        config.update(clip=keras.saving.serialize_keras_object(self.clip),
                      max_logit_scale=self.max_logit_scale)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["clip"] = keras.saving.deserialize_keras_object(config["clip"])
        return cls(**config)
