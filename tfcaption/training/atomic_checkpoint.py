"""Keras callback that writes the model's weights at every epoch end, atomically."""

import os

import keras


def save_weights_atomically(model, path):
    """``model.save_weights(path)`` through a temporary file in the same directory and a
    rename, so a crash mid-save never leaves a truncated file at ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-" + os.path.basename(path))
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves ``model.save_weights`` to ``path`` (``*.weights.h5``) after every epoch.

    The file is written under a temporary name in the same directory and renamed over
    ``path``, so a crash mid-save never leaves a truncated checkpoint behind.
    """

    def __init__(self, path):
        super().__init__()
        if not str(path).endswith(".weights.h5"):
            raise ValueError(f"checkpoint path must end with .weights.h5, got {path}")
        self.path = os.fspath(path)

    def on_epoch_end(self, epoch, logs=None):
        save_weights_atomically(self.model, self.path)
