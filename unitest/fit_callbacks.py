"""Keras callbacks the trainer tests use to crash a run and see what a resume trains."""

import keras


class CrashAfterFirstEpoch(keras.callbacks.Callback):
    """Raises ``RuntimeError("simulated crash after the first epoch")`` at its end."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise RuntimeError("simulated crash after the first epoch")


class EpochsSeen(keras.callbacks.Callback):
    """Records in ``seen`` every epoch that begins."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)
