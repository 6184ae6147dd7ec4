"""The end of every captioner training: the shared evaluator on the test split, and the reports."""

import os

from tfcaption.evaluation.evaluate_model import evaluate_captioner
from tfcaption.evaluation.evaluation_report import write_evaluation
from tfcaption.kill_point import kill_point


def evaluate_test_split(captioner, hparams, verbose=1):
    """The shared evaluator on the test split's image files -> :class:`EvaluationResult`
    (``eval.decoding``, ``eval.batch_size``, ``eval.max_images``, ``eval.clip``)."""
    data, settings = hparams["data"], hparams.get("eval", {})
    return evaluate_captioner(captioner, data["dir"], data["test_split"],
                              settings.get("decoding", "greedy"),
                              batch_size=settings.get("batch_size", 64),
                              max_images=settings.get("max_images"),
                              clip_dir=settings.get("clip"), train_split=data["train_split"],
                              seed=hparams["train"]["seed"], verbose=verbose)


def finish_captioner_run(captioner, save, fit_history, hparams, workdir, **extra_metrics):
    """The last phases of a captioner training: the model dir ``workdir/model``
    (``save(captioner, path)``, atomic; kept when a killed earlier attempt wrote it
    already), the shared evaluator on the test split, then the reports
    (:func:`write_reports`; ``metrics.json`` last, the run's final marker). Returns the
    metrics, with ``extra_metrics`` added."""
    model_dir = os.path.join(workdir, "model")
    if not os.path.isdir(model_dir):
        save(captioner, model_dir)
    kill_point("evaluating")
    result = evaluate_test_split(captioner, hparams,
                                 verbose=1 if hparams["train"].get("verbose", 1) else 0)
    result.metrics.update(extra_metrics)
    return write_reports(result, fit_history, hparams, workdir)


def write_reports(result, history, hparams, workdir):
    """``metrics.json`` (the evaluation's metrics, the final losses and a few samples),
    ``predictions.jsonl`` and ``metrics.md`` in ``workdir``; returns the metrics."""
    metrics = result.metrics
    for key in ("loss", "val_loss", "val_token_accuracy"):
        if history.history.get(key):
            metrics[f"final_{key}"] = float(history.history[key][-1])
    shown = hparams.get("eval", {}).get("print_samples", 5)
    metrics["samples"] = [{"image_id": i, "caption": c, "reference": result.references[i][0]}
                          for i, c in list(result.predictions.items())[:shown]]
    return write_evaluation(result, os.path.join(workdir, "metrics.json"),
                            os.path.join(workdir, "predictions.jsonl"),
                            os.path.join(workdir, "metrics.md"))
