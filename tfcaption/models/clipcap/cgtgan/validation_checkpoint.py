"""Keras callback: greedy validation captions after every epoch, best generator kept."""

import json
import os

import keras

from tfcaption.file_io import atomic_write_text
from tfcaption.evaluation.cider import cider_d
from tfcaption.training.atomic_checkpoint import save_weights_atomically


class ValidationCheckpoint(keras.callbacks.Callback):
    """Before training (the initial generator, "epoch 0") and after every epoch: captions
    the validation images, scores them (CIDEr-D, plus ``extra_metrics(predictions)``),
    logs the scores as ``val_<name>``, appends them with the epoch's training metrics to
    ``history_path`` (JSON, atomic) and saves ``generator``'s weights atomically to
    ``best_path`` whenever ``monitor`` improves. A resumed run reads the history back, so
    the best score is not lost.

    Args:
      generator: the model whose weights are kept (e.g. the ClipCap generator).
      caption: callable ``inputs -> list of captions`` (greedy decoding).
      inputs: what ``caption`` takes (validation CLIP embeddings).
      image_ids, references: one id and one list of references per input.
      best_path, history_path: output files (``best_path`` ends in ``.weights.h5``).
      extra_metrics: optional ``{image_id: caption} -> {name: value}``.
      monitor: the metric that picks the best epoch (higher is better).
    """

    def __init__(self, generator, caption, inputs, image_ids, references, best_path,
                 history_path, extra_metrics=None, monitor="CIDEr", log=print):
        super().__init__()
        if not str(best_path).endswith(".weights.h5"):
            raise ValueError(f"best_path must end with .weights.h5, got {best_path}")
        self.generator = generator
        self.caption = caption
        self.inputs = inputs
        self.image_ids = list(image_ids)
        self.references = {i: list(r) for i, r in zip(self.image_ids, references)}
        self.best_path = os.fspath(best_path)
        self.history_path = os.fspath(history_path)
        self.extra_metrics = extra_metrics
        self.monitor = monitor
        self.log = log
        self.history = []

    @property
    def best(self):
        scores = [h[self.monitor] for h in self.history if h.get("best")]
        return scores[-1] if scores else None

    def evaluate(self):
        captions = self.caption(self.inputs)
        predictions = dict(zip(self.image_ids, captions))
        metrics = {"CIDEr": cider_d(predictions, self.references)[0]}
        if self.extra_metrics is not None:
            metrics.update(self.extra_metrics(predictions))
        metrics["sample"] = captions[0]
        return metrics

    def _record(self, epoch, logs):
        self.history = [h for h in self.history if h["epoch"] < epoch]  # a rerun epoch
        metrics = self.evaluate()
        entry = {"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()
                                    if not k.startswith("val_")}, **metrics}
        entry["best"] = self.best is None or metrics[self.monitor] > self.best
        if entry["best"]:
            save_weights_atomically(self.generator, self.best_path)
        self.history.append(entry)
        atomic_write_text(self.history_path, json.dumps(self.history, indent=1) + "\n")
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        self.log(f"validation after epoch {epoch}: {shown}; sample {metrics['sample']!r}"
                 + (" (best)" if entry["best"] else ""))
        return metrics

    def read_history(self):
        """The validation history written so far (``history_path``; empty when none),
        also kept in ``self.history``."""
        if os.path.isfile(self.history_path):
            with open(self.history_path) as f:
                self.history = json.load(f)
        return self.history

    def on_train_begin(self, logs=None):
        if not self.read_history():
            self._record(0, {})

    def on_epoch_end(self, epoch, logs=None):
        metrics = self._record(epoch + 1, logs)
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, float)})
