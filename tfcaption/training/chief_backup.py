"""Keras ``BackupAndRestore`` that restores from the chief's backup on every worker."""

import os

import keras


class ChiefBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Backs up to ``backup_dir`` every epoch (and keeps the previous backup: a kill
    mid-save leaves one readable), but restores from ``chief_backup_dir``: on the chief
    they are the same folder; another worker of a multi-worker run writes its own and
    resumes from the chief's, so that all workers restart at the same epoch with the
    same state. The backup is kept when ``fit`` ends (the caller removes it once the
    run's result is safe)."""

    def __init__(self, backup_dir, chief_backup_dir=None):
        super().__init__(backup_dir, double_checkpoint=True, delete_checkpoint=False)
        self.chief_backup_dir = os.fspath(chief_backup_dir or backup_dir)

    def on_train_begin(self, logs=None):
        own = (self.backup_dir, self._weights_path, self._training_metadata_path,
               self._prev_weights_path, self._prev_training_metadata_path)
        if os.path.abspath(self.chief_backup_dir) == os.path.abspath(self.backup_dir):
            return super().on_train_begin(logs)
        chief = ChiefBackupAndRestore(self.chief_backup_dir)
        (self.backup_dir, self._weights_path, self._training_metadata_path,
         self._prev_weights_path, self._prev_training_metadata_path) = (
            chief.backup_dir, chief._weights_path, chief._training_metadata_path,
            chief._prev_weights_path, chief._prev_training_metadata_path)
        try:
            super().on_train_begin(logs)
        finally:
            (self.backup_dir, self._weights_path, self._training_metadata_path,
             self._prev_weights_path, self._prev_training_metadata_path) = own
