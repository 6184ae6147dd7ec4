"""Keras ``fit`` wrapper that trains a captioner with the masked caption loss (any family
whose model maps a batch to logits predicting its ``token_ids``, or its ``target_ids``)."""

import keras
import tensorflow as tf

from tfcaption.training.caption_loss import caption_loss
from tfcaption.training.trainer_model import TrainerModel


def _targets(batch):
    """The ids the logits of ``batch`` predict: its ``target_ids``, else its ``token_ids``."""
    return batch.get("target_ids", batch["token_ids"])


@keras.saving.register_keras_serializable(package="tfcaption")
class CaptionLmTrainer(TrainerModel):
    """Teacher-forced training of ``captioner`` (e.g. ClipCap's model, or ViT-GPT2's).

    Batches are dicts the captioner takes (e.g. ``{"prefix", "token_ids",
    "padding_mask"}``); ``logits[:, t]`` of ``captioner(batch)`` predicts the target
    ``target_ids[:, t]`` when the batch has ``"target_ids"`` (a captioner whose logits
    predict the next input token, e.g. Show-and-Tell: ``token_ids`` ``<start> w1 …``,
    ``target_ids`` ``w1 … <end>``), else ``token_ids[:, t]``; ``padding_mask`` is True
    on the real target tokens. The loss is the mean cross-entropy over real caption
    tokens (:func:`caption_loss`), so the end-of-caption token is learned and padding
    never is. Under ``tf.distribute`` each replica's loss is weighted by its share of the
    global batch's tokens (the update is the one-device update of the whole batch). Under
    a ``mixed_float16`` policy the loss is scaled by the optimizer (Keras wraps it in a
    ``LossScaleOptimizer``). Only the captioner's trainable weights are updated (the
    mapper alone with ``only_prefix``).

    Metrics: ``loss`` (token-weighted mean over the epoch) and ``token_accuracy``.
    """

    def __init__(self, captioner, **kwargs):
        super().__init__(**kwargs)
        self.captioner = captioner
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="token_accuracy")

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, inputs, training=None):
        return self.captioner(inputs, training=training)

    def _update(self, loss, accuracy, count):
        count, loss, accuracy = self.global_means(count, loss, accuracy)  # the global batch's
        self.loss_tracker.update_state(loss, sample_weight=count)
        self.accuracy_tracker.update_state(accuracy, sample_weight=count)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        variables = self.captioner.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.captioner(data, training=True)
            loss, accuracy, count = caption_loss(logits, _targets(data),
                                                 data["padding_mask"])
            scaled = self.optimizer.scale_loss(loss * self.global_mean_scale(count))
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        return self._update(loss, accuracy, count)

    def test_step(self, data):
        data, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        logits = self.captioner(data, training=False)
        return self._update(*caption_loss(logits, _targets(data), data["padding_mask"]))

    def get_config(self):
        config = super().get_config()
        config["captioner"] = keras.saving.serialize_keras_object(self.captioner)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["captioner"] = keras.saving.deserialize_keras_object(config["captioner"])
        return cls(**config)


def build_trainer(model, optimizer, example_inputs, jit_compile=True):
    """A :class:`CaptionLmTrainer` of ``model`` compiled with ``optimizer``, then built on
    ``example_inputs`` (a batch dict) with its optimizer, so that a backup can be restored
    into it before ``fit`` (:func:`resumable_fit`)."""
    trainer = CaptionLmTrainer(model)
    trainer.compile(optimizer=optimizer, jit_compile=jit_compile)
    trainer(example_inputs)
    trainer.optimizer.build(model.trainable_variables)
    return trainer


def prefix_example_batch(prefix_dim, length):
    """A 2-row batch ``{"prefix", "token_ids", "padding_mask"}`` of a prefix captioner
    (ClipCap) to build its trainer on."""
    return {"prefix": tf.zeros([2, prefix_dim]), "token_ids": tf.zeros([2, length], tf.int32),
            "padding_mask": tf.ones([2, length], tf.bool)}
