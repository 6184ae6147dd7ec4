"""Keras callback that marks the epoch and batch ends as kill points (:mod:`tfcaption.kill_point`)."""

import keras

from tfcaption.kill_point import kill_point


class KillPoints(keras.callbacks.Callback):
    """``kill_point("batch_end:E:B")`` after every batch and ``kill_point("epoch_end:E")``
    after every epoch (place it last, after the backup)."""

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        kill_point(f"batch_end:{self._epoch}:{batch}")

    def on_epoch_end(self, epoch, logs=None):
        kill_point(f"epoch_end:{epoch}")
