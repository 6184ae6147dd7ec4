"""Keras callback that keeps every epoch's logs in a JSON file, across resumed runs."""

import json
import os

import keras

from tfcaption.file_io import atomic_write_text


class EpochLog(keras.callbacks.Callback):
    """Writes ``{epoch: logs}`` to ``path`` (atomically) at every epoch end.

    Keras' ``History`` of a resumed ``fit`` starts at the resumed epoch; this file holds
    every epoch of the run. An epoch that is run again (killed before its backup was
    written) replaces its entry. Place it after the callbacks that add to ``logs`` and
    before the backup, so an epoch's backup never exists without its log entry.
    """

    def __init__(self, path):
        super().__init__()
        self.path = os.fspath(path)

    def read(self):
        """``{epoch (int): logs}`` written so far (empty when none)."""
        if not os.path.isfile(self.path):
            return {}
        with open(self.path) as f:
            return {int(epoch): logs for epoch, logs in json.load(f).items()}

    def history(self, epochs):
        """``{key: [value per epoch]}`` over the logged epochs below ``epochs``, in
        order (Keras ``History.history``'s form)."""
        logged = self.read()
        out = {}
        for epoch in sorted(e for e in logged if e < epochs):
            for key, value in logged[epoch].items():
                out.setdefault(key, []).append(value)
        return out

    def on_epoch_end(self, epoch, logs=None):
        logged = self.read()
        logged[epoch] = {key: float(value) for key, value in (logs or {}).items()
                         if _is_number(value)}
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        atomic_write_text(self.path, json.dumps({str(e): logged[e] for e in sorted(logged)},
                                                indent=1) + "\n")


def _is_number(value):
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False
