"""Trains a model from an hparams file.

    python -m tfcaption.train --hparams=hparams/clip_shapes.json --workdir=runs/clip_shapes \
        [--set train.epochs=5 ...]

The workdir receives ``hparams.json`` (the resolved settings), checkpoints, TensorBoard
logs, the trained model dir and ``metrics.json``. Rerunning an interrupted run with the
same workdir resumes wherever it was killed, losing at most one epoch: finished phases
(feature cache, tokenizer, ``fit``, model dir) are kept, ``fit`` resumes from its last
epoch (:mod:`tfcaption.training.resumable_fit`), an unfinished evaluation is redone;
rerunning a finished one prints its metrics without training again. A workdir is bound
to its hparams (other settings need another workdir) and to one run at a time.

It ends with a short summary (the key test metrics, final losses, time, a few sample
captions and the files written; :mod:`tfcaption.evaluation.run_summary`); ``--json``
prints the full metrics JSON (``metrics.json``) instead. TensorFlow's logs and other
packages' warnings are off unless ``-v 1`` (:mod:`tfcaption.console`).
"""

from tfcaption import console  # noqa: F401  (first: quiets TensorFlow before it loads)
from tfcaption import command

import json
import logging
import os
import time

import tensorflow as tf
from absl import app, flags

from tfcaption import json_flag  # noqa: F401  (--json)
from tfcaption.file_io import read_json
from tfcaption.hparams import check_hparams, load_hparams, save_hparams
from tfcaption.models.families import trainer_module
from tfcaption.training.distribution import (WorkerRole, check_distribution, make_strategy,
                                             training_scope)
from tfcaption.training.workdir_lock import workdir_lock

flags.DEFINE_string("hparams", None, "Path to an hparams JSON file.")
flags.DEFINE_string("workdir", None, "Output directory (created; reused to resume).")
flags.DEFINE_multi_string("set", [], "Override, as dotted.key=value (repeatable).")
flags.mark_flags_as_required(["hparams", "workdir"])


def resolve(hparams, source="hparams"):
    """``(trainer module, hparams checked against its SETTINGS with defaults filled in
    and by its ``validate``)`` for ``hparams["model"]["type"]`` (a registered trainer);
    ``ValueError`` naming ``source`` and the key otherwise."""
    trainer = trainer_module(hparams["model"]["type"], source)
    hparams = check_hparams(hparams, trainer.SETTINGS, source)
    trainer.validate(hparams, source)
    check_distribution(hparams["train"], source)
    return trainer, hparams


def check_before_work(hparams, source="hparams"):
    """:func:`resolve`, then the trainer's checks that read the data (``check_data``:
    the dataset exists, the run has steps, warmup fits in them); returns
    ``(trainer, hparams)``."""
    trainer, hparams = resolve(hparams, source)
    trainer.check_data(hparams, source)
    return trainer, hparams


def train(hparams, workdir, source="hparams"):
    """Runs the trainer for ``hparams["model"]["type"]``; returns its metrics dict.

    The settings are checked (:func:`resolve`) before anything is written; the run
    trains under ``train.distribute``'s strategy and ``train.mixed_precision``'s dtype
    policy (:mod:`tfcaption.training.distribution`); the workdir is locked for the run
    (:func:`workdir_lock`: one run at a time, leftovers of killed runs removed). A
    worker other than the chief of a multi-worker run works in its own folder of the
    workdir and returns ``{"worker": i, "workers": n, "chief_workdir": workdir}``."""
    trainer, hparams = check_before_work(hparams, source)
    strategy = make_strategy(hparams["train"])  # before any op: collectives are set up
    role = WorkerRole(strategy)
    try:
        with workdir_lock(role.workdir(workdir)), training_scope(hparams["train"]):
            metrics = _train(trainer, hparams, role.workdir(workdir))
    except tf.errors.UnavailableError as error:
        if role.num_workers == 1:
            raise
        raise ConnectionError(  # an OSError: one line from the command, no traceback
            f"worker {role.task_id}: another worker of the cluster stopped "
            f"({str(error).splitlines()[0][:200]}); restart every worker with the same "
            f"command: the run resumes from its last backup in {workdir}") from error
    if not role.is_chief:
        return {"worker": role.task_id, "workers": role.num_workers, "chief_workdir": workdir}
    return metrics


def _train(trainer, hparams, workdir):
    hparams_path = os.path.join(workdir, "hparams.json")
    if os.path.isfile(hparams_path):
        previous = read_json(hparams_path)
        try:
            previous = resolve(previous, hparams_path)[1]
        except ValueError:
            pass  # written by another version: compared as it is
        if previous != hparams:
            changed = sorted(_differences(previous, hparams))
            raise ValueError(f"{workdir} holds a run with other hparams (differences: "
                             f"{changed}); use a new --workdir")
        metrics_path = os.path.join(workdir, "metrics.json")
        if os.path.isfile(metrics_path):
            logging.info("%s is a finished run; not training again", workdir)
            return read_json(metrics_path)
    save_hparams(hparams, hparams_path)
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
    finished = os.path.isfile(os.path.join(values.workdir, "metrics.json"))
    start = time.perf_counter()
    metrics = train(hparams, values.workdir, source=values.hparams)
    if values.json:
        print(json.dumps(metrics, indent=2))
        return
    if "chief_workdir" in metrics:
        print(f"worker {metrics['worker']} of {metrics['workers']}: training done; the "
              f"chief (worker 0) writes the model and metrics to {metrics['chief_workdir']}")
        return
    from tfcaption.evaluation.run_summary import heading, run_summary

    workdir = values.workdir
    files = [(os.path.join(workdir, name), what) for name, what in (
        ("metrics.json", "all metrics"), ("predictions.jsonl", "every test caption"),
        ("metrics.md", "report"), ("model", "model dir"))
        if os.path.exists(os.path.join(workdir, name))]
    title = heading(metrics)
    if finished:
        title = f"{workdir} is a finished run (not trained again). {title}"
    print()
    print(run_summary(metrics, metrics.get("samples", ()), files,
                      None if finished else time.perf_counter() - start, title), end="")


def run():
    command.run(main)


if __name__ == "__main__":
    run()
