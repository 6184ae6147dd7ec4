"""The callbacks every trainer writes into its workdir."""

import os

import keras

from tfcaption.training.atomic_checkpoint import AtomicCheckpoint


def run_callbacks(workdir):
    """A backup every epoch (``workdir/backup``: rerunning resumes), the last weights
    (``workdir/checkpoints/last.weights.h5``, atomic) and TensorBoard logs
    (``workdir/logs``)."""
    return [
        keras.callbacks.BackupAndRestore(os.path.join(workdir, "backup"),
                                         double_checkpoint=True),
        AtomicCheckpoint(os.path.join(workdir, "checkpoints", "last.weights.h5")),
        keras.callbacks.TensorBoard(os.path.join(workdir, "logs")),
    ]
