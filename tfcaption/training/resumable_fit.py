"""``fit`` that loses at most one epoch, whatever moment the process is killed.

Files in the run's directory (a trainer's workdir, or a stage's folder in it)::

    backup/                       Keras BackupAndRestore: weights, optimizer, epoch
    epochs.json                   every epoch's logs (:class:`EpochLog`)
    checkpoints/last.weights.h5   the weights after the last epoch (atomic)
    checkpoints/final.weights.h5  the weights fit ended with (atomic)
    fit_done.json                 the marker: fit finished; its history
    logs/                         TensorBoard: one event file per folder, merged after
                                  each attempt (:mod:`event_files`)

A kill during an epoch resumes at that epoch from ``backup/``; a kill after the last
epoch but before ``fit_done.json`` restores the last backup and runs no epoch again; once
``fit_done.json`` exists a rerun loads ``final.weights.h5`` and does not fit at all. The
backup is kept until the marker is written (Keras would delete it when ``fit`` ends) and
removed after.

Under a multi-worker strategy (:mod:`tfcaption.training.distribution`) each worker's
``directory`` is its own (the chief's is the run's); a worker other than the chief
writes its files there but reads the run's state from the chief's: a finished ``fit``
(the chief's marker and final weights) and the backup it resumes from, so every worker
restarts at the same epoch. ``data`` and ``validation_data`` are sharded by data.
"""

import json
import os
import shutil

import keras

from tfcaption.file_io import atomic_write_text
from tfcaption.kill_point import ENV as KILL_AT, kill_point
from tfcaption.training.atomic_checkpoint import AtomicCheckpoint, save_weights_atomically
from tfcaption.training.chief_backup import ChiefBackupAndRestore
from tfcaption.training.distribution import chief_path, shard_by_data
from tfcaption.training.epoch_log import EpochLog
from tfcaption.training.event_files import merge_event_files
from tfcaption.training.kill_points import KillPoints

FIT_DONE = "fit_done.json"
FINAL_WEIGHTS = os.path.join("checkpoints", "final.weights.h5")


class FitHistory:
    """What :func:`resumable_fit` returns: ``history`` as Keras' ``History.history``
    (``{key: [value per epoch]}``), over every epoch of the run, resumed or not."""

    def __init__(self, history):
        self.history = history


def fit_done(directory):
    return os.path.isfile(os.path.join(directory, FIT_DONE))


def resumable_fit(model, data, directory, epochs, callbacks=(), extra_callbacks=(),
                  **fit_kwargs):
    """``model.fit(data, epochs=epochs, callbacks=..., **fit_kwargs)`` made resumable in
    ``directory`` (see the module docstring); returns a :class:`FitHistory`.

    ``model`` must be built (and its optimizer too) before the call, as a backup is
    restored into it. ``callbacks`` run before the run's own (so what they add to an
    epoch's logs is logged and backed up with it), ``extra_callbacks`` after them."""
    directory = os.fspath(directory)
    chief = chief_path(directory)
    epoch_log = EpochLog(os.path.join(directory, "epochs.json"))
    final = os.path.join(directory, FINAL_WEIGHTS)
    if fit_done(chief):
        model.load_weights(os.path.join(chief, FINAL_WEIGHTS))
        with open(os.path.join(chief, FIT_DONE)) as f:
            return FitHistory(json.load(f)["history"])
    backup = os.path.join(directory, "backup")
    own = [epoch_log,
           AtomicCheckpoint(os.path.join(directory, "checkpoints", "last.weights.h5")),
           ChiefBackupAndRestore(backup, os.path.join(chief, "backup")),
           keras.callbacks.TensorBoard(os.path.join(directory, "logs"))]
    if os.environ.get(KILL_AT):  # batch hooks cost a sync per step: only when asked
        own.append(KillPoints())
    if "validation_data" in fit_kwargs and fit_kwargs["validation_data"] is not None:
        fit_kwargs["validation_data"] = shard_by_data(fit_kwargs["validation_data"])
    model.fit(shard_by_data(data), epochs=epochs,
              callbacks=list(callbacks) + own + list(extra_callbacks), **fit_kwargs)
    merge_event_files(os.path.join(directory, "logs"))  # one set, however many attempts
    kill_point("fit_returned")
    history = epoch_log.history(epochs)
    save_weights_atomically(model, final)
    atomic_write_text(os.path.join(directory, FIT_DONE),
                      json.dumps({"epochs": epochs, "history": history}, indent=1) + "\n")
    shutil.rmtree(backup, ignore_errors=True)
    return FitHistory(history)
