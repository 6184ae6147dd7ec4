"""Early stopping and ReduceLROnPlateau rebuilt from the epoch log after a resume: the same
decisions as one uninterrupted run."""

import json

import keras
import numpy as np
import pytest

from tfcaption.training.resumable_early_stopping import ResumableEarlyStopping
from tfcaption.training.resumable_reduce_lr import ResumableReduceLrOnPlateau

VAL_LOSSES = [1.0, 0.8, 0.85, 0.9, 0.7, 0.75, 0.76, 0.77]


def _model(learning_rate=1e-2):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _write_log(path, losses):
    with open(path, "w") as f:
        json.dump({str(e): {"val_loss": v} for e, v in enumerate(losses)}, f)


def _run_uninterrupted(callback, model, losses, first=0):
    callback.set_model(model)
    callback.on_train_begin()
    lrs = []
    for epoch in range(first, len(losses)):
        callback.on_epoch_begin(epoch)
        lrs.append(float(np.asarray(model.optimizer.learning_rate)))
        callback.on_epoch_end(epoch, {"val_loss": losses[epoch]})
        if model.stop_training:
            return epoch, lrs
    return None, lrs


@pytest.mark.parametrize("resume_at", [1, 3, 5])
def test_reduce_lr_resumed_matches_uninterrupted(tmp_path, resume_at):
    log = str(tmp_path / "epochs.json")
    _write_log(log, [])
    whole = ResumableReduceLrOnPlateau(log, 1e-2, factor=0.5, patience=1, verbose=0)
    _, expected = _run_uninterrupted(whole, _model(), VAL_LOSSES)
    np.testing.assert_allclose(expected[:4], [1e-2, 1e-2, 1e-2, 5e-3], rtol=1e-6)
    _write_log(log, VAL_LOSSES[:resume_at])
    model = _model()
    model.optimizer.learning_rate = 0.123  # whatever a backup restored
    resumed = ResumableReduceLrOnPlateau(log, 1e-2, factor=0.5, patience=1, verbose=0)
    _, lrs = _run_uninterrupted(resumed, model, VAL_LOSSES, first=resume_at)
    np.testing.assert_allclose(lrs, expected[resume_at:], rtol=1e-6)


@pytest.mark.parametrize("resume_at", [2, 5, 6])
def test_early_stopping_resumed_stops_where_uninterrupted_does(tmp_path, resume_at):
    log = str(tmp_path / "epochs.json")
    _write_log(log, [])
    whole = ResumableEarlyStopping(log, str(tmp_path / "a.weights.h5"), patience=3)
    stopped, _ = _run_uninterrupted(whole, _model(), VAL_LOSSES)
    assert stopped == 7
    _write_log(log, VAL_LOSSES[:resume_at])
    resumed = ResumableEarlyStopping(log, str(tmp_path / "b.weights.h5"), patience=3)
    again, _ = _run_uninterrupted(resumed, _model(), VAL_LOSSES, first=resume_at)
    assert again == stopped
    assert resumed.best == 0.7 and resumed.best_epoch == 4


def test_planned_epochs_after_a_run_that_stopped(tmp_path):
    log = str(tmp_path / "epochs.json")
    _write_log(log, VAL_LOSSES)
    callback = ResumableEarlyStopping(log, str(tmp_path / "best.weights.h5"), patience=3)
    model = _model()
    assert callback.planned_epochs(model, 50) == 8
    assert not getattr(model, "stop_training", False)
    _write_log(log, VAL_LOSSES[:5])
    assert callback.planned_epochs(model, 50) == 50


def test_best_weights_are_saved_and_restored(tmp_path):
    log = str(tmp_path / "epochs.json")
    _write_log(log, [])
    best = str(tmp_path / "best.weights.h5")
    model = _model()
    callback = ResumableEarlyStopping(log, best, patience=5)
    callback.set_model(model)
    callback.on_train_begin()
    kept = None
    for epoch, loss in enumerate([1.0, 0.5, 0.9]):
        callback.on_epoch_begin(epoch)
        model.layers[0].kernel.assign(np.full((2, 1), float(epoch), "float32"))
        if epoch == 1:
            kept = model.get_weights()
        callback.on_epoch_end(epoch, {"val_loss": loss})
    callback.on_train_end()
    for got, want in zip(model.get_weights(), kept):
        np.testing.assert_array_equal(got, want)
