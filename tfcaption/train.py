"""Trains a model from an hparams file.

    python -m tfcaption.train --hparams=hparams/clip_shapes.json --workdir=runs/clip_shapes \
        [--set train.epochs=5 ...]

The workdir receives ``hparams.json`` (the resolved settings), checkpoints (a rerun with
the same workdir resumes from the last one), TensorBoard logs, the trained model dir
and ``metrics.json``.
"""

import importlib
import json
import os

from absl import app, flags

from tfcaption.hparams import load_hparams, save_hparams

TRAINERS = {
    "clip": "tfcaption.models.clip.clip_training",
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
    save_hparams(hparams, os.path.join(workdir, "hparams.json"))
    trainer = importlib.import_module(TRAINERS[model_type])
    return trainer.run(hparams, workdir)


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
