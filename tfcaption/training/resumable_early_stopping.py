"""Early stopping whose state survives a killed and resumed ``fit``."""

import os

import keras

from tfcaption.training.atomic_checkpoint import save_weights_atomically
from tfcaption.training.epoch_log import EpochLog


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras ``EarlyStopping`` (``monitor``, ``patience``, ``min_delta``, ``mode``) that
    rebuilds its state from the run's epoch log after a resume.

    Keras keeps the best value and the epochs waited in memory only, so a resumed
    ``fit`` would start counting again. Here, at the first epoch a ``fit`` runs, the
    logged epochs before it (``epochs.json`` of :func:`resumable_fit`) are replayed
    through the same rule, so the run stops at the epoch an uninterrupted run would.
    :meth:`planned_epochs` tells a trainer, before ``fit``, that the logged epochs
    already decided to stop (a run killed after stopping but before it finished).

    With ``restore_best_weights`` the best epoch's weights are written to
    ``best_weights_path`` (atomically) when the monitored value improves and loaded
    when training ends, so they outlive a resume too.

    Args:
      epoch_log_path: the run's ``epochs.json``.
      best_weights_path: where the best weights go (``restore_best_weights`` only).
      monitor, patience, min_delta, mode: as Keras' ``EarlyStopping``.
      restore_best_weights: end with the best epoch's weights.
    """

    def __init__(self, epoch_log_path, best_weights_path=None, monitor="val_loss",
                 patience=5, min_delta=0.0, mode="auto", restore_best_weights=True):
        super().__init__(monitor=monitor, patience=int(patience), min_delta=min_delta,
                         mode=mode, restore_best_weights=False)
        if restore_best_weights and not best_weights_path:
            raise ValueError("restore_best_weights needs a best_weights_path")
        self.epoch_log_path = os.fspath(epoch_log_path)
        self.best_weights_path = best_weights_path and os.fspath(best_weights_path)
        self.keep_best = bool(restore_best_weights)
        self._replayed = False

    def _replay(self, logged):
        """Runs the stopping rule over ``{epoch: logs}`` in order; returns the epoch it
        stopped at, or None."""
        super().on_train_begin()
        for epoch in sorted(logged):
            super().on_epoch_end(epoch, logged[epoch])
            if self.stopped_epoch:
                return self.stopped_epoch
        return None

    def planned_epochs(self, model, epochs):
        """``epochs``, or fewer when the logged epochs already stopped the run (then one
        past the epoch it stopped at, so a resumed ``fit`` trains no epoch again)."""
        self.set_model(model)
        stop = getattr(model, "stop_training", False)
        stopped = self._replay(EpochLog(self.epoch_log_path).read())
        model.stop_training = stop
        return epochs if stopped is None else min(epochs, stopped + 1)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._replayed = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self._replayed:  # after BackupAndRestore: the epochs before this one are done
            self._replayed = True
            logged = EpochLog(self.epoch_log_path).read()
            stop = self.model.stop_training
            self._replay({e: v for e, v in logged.items() if e < epoch})
            self.model.stop_training = stop

    def on_epoch_end(self, epoch, logs=None):
        best_epoch = self.best_epoch
        super().on_epoch_end(epoch, logs)
        if self.keep_best and self.best_epoch == epoch and best_epoch != epoch:
            save_weights_atomically(self.model, self.best_weights_path)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self.keep_best and os.path.isfile(self.best_weights_path):
            self.model.load_weights(self.best_weights_path)
