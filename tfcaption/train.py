"""Trains a model from an hparams file.

    python -m tfcaption.train --hparams=hparams/clip_shapes.json --workdir=runs/clip_shapes \
        [--set train.epochs=5 ...]

The workdir receives ``hparams.json`` (the resolved settings), checkpoints, TensorBoard
logs, the trained model dir and ``metrics.json``. Rerunning an interrupted run with the
same workdir resumes from its last finished epoch; rerunning a finished one prints its
metrics without training again. A workdir is bound to its hparams: other settings need
another workdir.
"""

import importlib
import json
import logging
import os

from absl import app, flags

from tfcaption.file_io import read_json
from tfcaption.hparams import load_hparams, save_hparams

TRAINERS = {
    "clip": "tfcaption.models.clip.clip_training",
    "clipcap": "tfcaption.models.clipcap.clipcap_training",
    "clipcap_text": "tfcaption.models.clipcap.cgtgan.text_init_training",
    "cgtgan": "tfcaption.models.clipcap.cgtgan.cgtgan_training",
    "wgan": "tfcaption.models.wgan.wgan_training",
}

flags.DEFINE_string("hparams", None, "Path to an hparams JSON file.")
flags.DEFINE_string("workdir", None, "Output directory (created; reused to resume).")
flags.DEFINE_multi_string("set", [], "Override, as dotted.key=value (repeatable).")
flags.mark_flags_as_required(["hparams", "workdir"])


def train(hparams, workdir):
    """Runs the trainer for ``hparams["model"]["type"]``; returns its metrics dict."""
    model_type = hparams["model"]["type"]
    if model_type not in TRAINERS:
        raise ValueError(f"unknown model.type {model_type!r}; known: {sorted(TRAINERS)}")
    os.makedirs(workdir, exist_ok=True)
    hparams_path = os.path.join(workdir, "hparams.json")
    if os.path.isfile(hparams_path):
        previous = read_json(hparams_path)
        if previous != hparams:
            changed = sorted(_differences(previous, hparams))
            raise ValueError(f"{workdir} holds a run with other hparams (differences: "
                             f"{changed}); use a new --workdir")
        metrics_path = os.path.join(workdir, "metrics.json")
        if os.path.isfile(metrics_path):
            logging.info("%s is a finished run; not training again", workdir)
            return read_json(metrics_path)
    save_hparams(hparams, hparams_path)
    trainer = importlib.import_module(TRAINERS[model_type])
    return trainer.run(hparams, workdir)


def _differences(a, b, prefix=""):
    for key in set(a) | set(b):
        left, right = a.get(key), b.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            yield from _differences(left, right, f"{prefix}{key}.")
        elif left != right:
            yield f"{prefix}{key}"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    values = flags.FLAGS
    hparams = load_hparams(values.hparams, values.set)
    metrics = train(hparams, values.workdir)
    print(json.dumps(metrics, indent=2))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
