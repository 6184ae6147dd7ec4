"""resumable_fit: a rerun after a crash at any moment loses at most the running epoch."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcaption.training.resumable_fit import FIT_DONE, resumable_fit


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, x.sum(1, keepdims=True))).batch(16)


class _Crash(keras.callbacks.Callback):
    def __init__(self, epoch=None, at_train_end=False):
        super().__init__()
        self.epoch, self.at_train_end = epoch, at_train_end

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("crash")

    def on_train_end(self, logs=None):
        if self.at_train_end:
            raise RuntimeError("crash")


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen, self.began = [], False

    def on_train_begin(self, logs=None):
        self.began = True

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(epoch)


def _weights(model):
    return [w.copy() for w in model.get_weights()]


def test_an_uninterrupted_fit_equals_plain_keras_fit(tmp_path):
    ours = _model()
    history = resumable_fit(ours, _data(), tmp_path, 3, verbose=0, shuffle=False)
    plain = _model()
    expected = plain.fit(_data(), epochs=3, verbose=0, shuffle=False)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-6)
    for a, b in zip(_weights(ours), _weights(plain)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert os.path.isfile(tmp_path / FIT_DONE) and not os.path.exists(tmp_path / "backup")


def test_a_crash_mid_run_resumes_at_the_next_epoch_with_the_whole_history(tmp_path):
    with pytest.raises(RuntimeError):
        resumable_fit(_model(), _data(), tmp_path, 4, extra_callbacks=[_Crash(epoch=1)],
                      verbose=0)
    epochs = _Epochs()
    model = _model(seed=1)  # other initial weights: the backup must replace them
    history = resumable_fit(model, _data(), tmp_path, 4, extra_callbacks=[epochs], verbose=0)
    assert epochs.seen == [2, 3]
    assert len(history.history["loss"]) == 4
    reference = resumable_fit(_model(), _data(), tmp_path / "ref", 4, verbose=0)
    np.testing.assert_allclose(history.history["loss"], reference.history["loss"], rtol=1e-5)


def test_a_crash_after_the_last_epoch_keeps_the_trained_model(tmp_path):
    """Keras deletes its backup when fit ends: a crash between that and the run's next
    step used to retrain from scratch."""
    trained = _model()
    with pytest.raises(RuntimeError):
        resumable_fit(trained, _data(), tmp_path, 3, extra_callbacks=[_Crash(at_train_end=True)],
                      verbose=0)
    assert not os.path.isfile(tmp_path / FIT_DONE)
    epochs = _Epochs()
    model = _model(seed=1)
    history = resumable_fit(model, _data(), tmp_path, 3, extra_callbacks=[epochs], verbose=0)
    assert epochs.seen == []  # no epoch run again
    assert len(history.history["loss"]) == 3
    for a, b in zip(_weights(model), _weights(trained)):
        np.testing.assert_array_equal(a, b)


def test_a_finished_fit_is_not_run_again(tmp_path):
    trained = _model()
    first = resumable_fit(trained, _data(), tmp_path, 2, verbose=0)
    epochs = _Epochs()
    model = _model(seed=1)
    again = resumable_fit(model, _data(), tmp_path, 2, extra_callbacks=[epochs], verbose=0)
    assert not epochs.began and again.history == first.history
    for a, b in zip(_weights(model), _weights(trained)):
        np.testing.assert_array_equal(a, b)
    with open(tmp_path / FIT_DONE) as f:
        assert json.load(f)["epochs"] == 2


def _scalars(folder):
    """{tag: [(step, value), ...]} of the scalars in the one event file in ``folder``."""
    from tfcaption.training.event_files import PREFIX, _events

    files = [n for n in os.listdir(folder) if n.startswith(PREFIX)]
    assert len(files) == 1, files
    out = {}
    for event in _events(os.path.join(folder, files[0])):
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "scalars":
                number = float(tf.make_ndarray(value.tensor))
                out.setdefault(value.tag, []).append((event.step, number))
    return out


def test_a_resumed_run_leaves_one_event_file_with_every_epoch_once(tmp_path):
    with pytest.raises(RuntimeError):
        resumable_fit(_model(), _data(), tmp_path, 4, extra_callbacks=[_Crash(epoch=1)],
                      verbose=0)
    history = resumable_fit(_model(seed=1), _data(), tmp_path, 4, verbose=0)
    losses = _scalars(tmp_path / "logs" / "train")["epoch_loss"]
    assert [step for step, _ in losses] == [0, 1, 2, 3]
    np.testing.assert_allclose([v for _, v in losses], history.history["loss"], rtol=1e-6)


def test_merging_keeps_the_later_attempt_s_value_of_a_step_logged_twice(tmp_path):
    from tfcaption.training.event_files import merge_event_files

    folder = tmp_path / "logs" / "train"
    for values in ({0: 1.0, 1: 2.0}, {1: 5.0, 2: 6.0}):  # step 1: logged, then redone
        writer = tf.summary.create_file_writer(str(folder))
        with writer.as_default():
            for step, value in values.items():
                tf.summary.scalar("epoch_loss", value, step=step)
        writer.close()
    assert len(os.listdir(folder)) == 2
    merge_event_files(str(tmp_path / "logs"))
    assert _scalars(folder)["epoch_loss"] == [(0, 1.0), (1, 5.0), (2, 6.0)]
    merge_event_files(str(tmp_path / "logs"))  # again: the same
    assert _scalars(folder)["epoch_loss"] == [(0, 1.0), (1, 5.0), (2, 6.0)]
