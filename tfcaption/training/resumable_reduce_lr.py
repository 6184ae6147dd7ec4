"""ReduceLROnPlateau whose state survives a killed and resumed ``fit``."""

import os

import keras

from tfcaption.training.epoch_log import EpochLog


class ResumableReduceLrOnPlateau(keras.callbacks.ReduceLROnPlateau):
    """Keras ``ReduceLROnPlateau`` that rebuilds its state, and the learning rate, from
    the run's epoch log after a resume.

    Keras keeps the best value, the epochs waited and the cooldown in memory only. Here,
    at the first epoch a ``fit`` runs, the optimizer's learning rate is set back to
    ``initial_learning_rate`` and the logged epochs before it (``epochs.json`` of
    :func:`resumable_fit`) are replayed through the same rule, so a resumed run has the
    learning rate and the counters an uninterrupted run would. The learning rate of each
    epoch is logged as ``learning_rate``.

    Args:
      epoch_log_path: the run's ``epochs.json``.
      initial_learning_rate: the optimizer's learning rate at the start of the run (a
        number: the rate is a variable this callback sets, not a schedule).
      monitor, factor, patience, min_delta, cooldown, min_lr, verbose: as Keras'
        ``ReduceLROnPlateau``.
    """

    def __init__(self, epoch_log_path, initial_learning_rate, monitor="val_loss", factor=0.1,
                 patience=10, min_delta=1e-4, cooldown=0, min_lr=0.0, verbose=1):
        super().__init__(monitor=monitor, factor=factor, patience=int(patience),
                         min_delta=min_delta, cooldown=cooldown, min_lr=min_lr,
                         verbose=verbose)
        self.epoch_log_path = os.fspath(epoch_log_path)
        self.initial_learning_rate = float(initial_learning_rate)
        self._replayed = False

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._replayed = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._replayed:
            return
        self._replayed = True  # after BackupAndRestore: the epochs before this one are done
        self.model.optimizer.learning_rate = self.initial_learning_rate
        self._reset()
        verbose, self.verbose = self.verbose, 0
        logged = EpochLog(self.epoch_log_path).read()
        for past in sorted(e for e in logged if e < epoch):
            super().on_epoch_end(past, dict(logged[past]))
        self.verbose = verbose
