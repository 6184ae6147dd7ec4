"""Fault injection through the real commands: SIGKILL at every phase of a training run,
two runs at once, bad settings and bad files. Asserted: nothing finished is redone (at
most the running epoch is lost), no traceback, the error names the file or key, exit
status 2 for usage and 1 for failures.

Kill points are named places in the code where ``TFCAPTION_KILL_AT=<name>`` makes the
process SIGKILL itself (:mod:`tfcaption.kill_point`).
"""

import fcntl
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP = os.path.join(ROOT, "pretrained_models", "clip_shapes")


def tiny_hparams(data_dir, path, epochs=3, **train):
    """A tiny ClipCap run on the shapes fixture, written as an hparams file."""
    with open(os.path.join(ROOT, "hparams", "clipcap_shapes.json")) as f:
        hparams = json.load(f)
    hparams["data"].update({"dir": data_dir, "max_length": 24})
    hparams["train"].update({"epochs": epochs, "batch_size": 8, "warmup_steps": 2,
                             "verbose": 0, "sample_every": 100, **train})
    hparams["model"].update({"clip": CLIP, "prefix_length": 3})
    hparams["model"]["gpt2"].update({"num_layers": 1, "hidden_dim": 32,
                                     "intermediate_dim": 64})
    hparams["tokenizer"]["vocab_size"] = 300
    hparams["eval"]["decoding"] = {"method": "greedy", "max_length": 12}
    with open(path, "w") as f:
        json.dump(hparams, f)
    return str(path)


def command(verb, *args, kill_at=None, wait=True):
    # as a user's shell has it: no TensorFlow log level, no warnings filter
    env = {k: v for k, v in os.environ.items()
           if k not in ("TFCAPTION_KILL_AT", "TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    if kill_at:
        env["TFCAPTION_KILL_AT"] = kill_at
    process = subprocess.Popen([sys.executable, "-m", f"tfcaption.{verb}", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT, env=env)
    if not wait:
        return process
    out, err = process.communicate(timeout=900)
    return process.returncode, out, err


def one_error_line(err):
    """The stderr of a failed command: exactly one ``error:`` line, no traceback, none of
    TensorFlow's own log lines ("E0000 ... failed call to cuInit" on a CUDA build without
    a GPU, "I0000 ... oneDNN custom operations")."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def epochs_run(workdir):
    with open(os.path.join(workdir, "epochs.json")) as f:
        return sorted(int(e) for e in json.load(f))


def leftovers(workdir):
    return [p for p in glob.glob(os.path.join(workdir, "**", ".tmp-*"), recursive=True)]


@pytest.fixture(scope="module")
def hparams_file(shapes_dir, tmp_path_factory):
    return tiny_hparams(shapes_dir, tmp_path_factory.mktemp("hp") / "tiny.json")


def test_a_run_killed_at_every_phase_finishes_without_redoing_finished_work(hparams_file,
                                                                            tmp_path):
    """One workdir, SIGKILLed at each phase in turn; every rerun goes on from where the
    last one died (before: a kill after the last epoch retrained from scratch)."""
    workdir = str(tmp_path / "run")
    train = ("train", f"--hparams={hparams_file}", f"--workdir={workdir}")

    status, _, _ = command(*train, kill_at="features_cached")
    assert status == -signal.SIGKILL
    meta = os.path.join(workdir, "features", "features_meta.json")
    cached = {p: os.stat(p).st_mtime_ns for p in glob.glob(os.path.join(
        workdir, "features", "*.tfrecord"))}
    assert len(cached) == 3

    status, _, _ = command(*train, kill_at="batch_end:1:2")  # mid-epoch 2 (of 3)
    assert status == -signal.SIGKILL
    assert {p: os.stat(p).st_mtime_ns for p in cached} == cached  # cache not rebuilt
    assert epochs_run(workdir) == [0]

    status, _, _ = command(*train, kill_at="fit_returned")
    assert status == -signal.SIGKILL
    assert epochs_run(workdir) == [0, 1, 2]
    last = digest(os.path.join(workdir, "checkpoints", "last.weights.h5"))

    status, _, _ = command(*train, kill_at="model_dir_written")
    assert status == -signal.SIGKILL
    assert leftovers(workdir) and not os.path.exists(os.path.join(workdir, "model"))
    assert digest(os.path.join(workdir, "checkpoints", "last.weights.h5")) == last  # no epoch
    assert os.path.isfile(os.path.join(workdir, "fit_done.json"))

    status, _, _ = command(*train, kill_at="evaluating")
    assert status == -signal.SIGKILL
    assert not leftovers(workdir)  # the killed run's temporary model dir was removed
    model_weights = digest(os.path.join(workdir, "model", "model.weights.h5"))

    status, _, _ = command(*train, kill_at="reports_written")
    assert status == -signal.SIGKILL
    assert os.path.isfile(os.path.join(workdir, "predictions.jsonl"))
    assert not os.path.exists(os.path.join(workdir, "metrics.json"))

    status, out, err = command(*train)
    assert status == 0, err
    assert "Epoch " not in out + err and "Traceback" not in err
    assert digest(os.path.join(workdir, "model", "model.weights.h5")) == model_weights
    assert os.path.isfile(os.path.join(workdir, "metrics.json")) and not leftovers(workdir)
    assert epochs_run(workdir) == [0, 1, 2]
    with open(os.path.join(workdir, "fit_done.json")) as f:
        assert len(json.load(f)["history"]["loss"]) == 3
    assert os.path.getmtime(meta) <= os.path.getmtime(os.path.join(workdir, "fit_done.json"))
    # files a user shares follow the umask (they were 0600)
    umask = os.umask(0)
    os.umask(umask)
    for name in ("hparams.json", "metrics.json", "tokenizer/vocab.json",
                 "tokenizer/merges.txt", "model/config.json"):
        assert os.stat(os.path.join(workdir, name)).st_mode & 0o777 == 0o666 & ~umask, name


def test_two_runs_share_a_feature_cache(hparams_file, tmp_path):
    """Both build the same cache at once (before: one died renaming the other's
    ``.incomplete`` shard)."""
    shared = str(tmp_path / "shared_features")
    runs = [command("train", f"--hparams={hparams_file}", f"--workdir={tmp_path / name}",
                    f"--set=data.features_dir={shared}", "--set=train.epochs=1", wait=False)
            for name in ("a", "b")]
    for run in runs:
        _, err = run.communicate(timeout=900)
        assert run.returncode == 0, err
    for name in ("a", "b"):
        with open(tmp_path / name / "metrics.json") as f:
            assert json.load(f)["num_images"] == 8
    with open(os.path.join(shared, "features_meta.json")) as f:
        assert set(json.load(f)["splits"]) == {"train", "val", "test"}


def test_a_workdir_in_use_is_refused(hparams_file, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    with open(workdir / ".lock", "w") as lock:  # held as a running train holds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write("4242\n")
        lock.flush()
        status, _, err = command("train", f"--hparams={hparams_file}", f"--workdir={workdir}")
    assert status == 1
    assert f"{workdir} is in use by another run (pid 4242)" in one_error_line(err)
    assert not (workdir / "hparams.json").exists()


@pytest.mark.parametrize("override,named", [
    ("train.epochs=two", "train.epochs must be an integer"),
    ("train.batch_size=0", "train.batch_size must be >= 1"),
    ("train.warmup_steps=500", "train.warmup_steps=500 is more than the run's"),
    ("train.batch_size=1000", "train.batch_size=1000 is larger than the"),
    ("trian.epochs=2", "'trian' is not a key of"),
    ("train.epoch=2", "unknown setting(s) ['train.epoch']"),
])
def test_bad_settings_are_one_line_before_any_work(hparams_file, tmp_path, override, named):
    workdir = tmp_path / "run"
    status, _, err = command("train", f"--hparams={hparams_file}", f"--workdir={workdir}",
                             f"--set={override}")
    assert status == 1
    assert named in one_error_line(err)
    assert not workdir.exists()  # nothing written: the corrected command can use it


def test_usage_errors_exit_2_and_debug_shows_the_traceback(tmp_path):
    status, _, err = command("train", f"--workdir={tmp_path}")
    assert status == 2 and "--hparams" in err and "Traceback" not in err
    missing = str(tmp_path / "nope.json")
    status, _, err = command("train", f"--hparams={missing}", f"--workdir={tmp_path / 'w'}")
    assert status == 1 and missing in one_error_line(err)
    status, _, err = command("train", f"--hparams={missing}", f"--workdir={tmp_path / 'w'}",
                             "--debug")
    assert status == 1 and "Traceback" in err and missing in err


def test_a_malformed_source_is_one_line_naming_file_and_line(tmp_path):
    source = tmp_path / "source"
    (source / "images").mkdir(parents=True)
    (source / "captions.csv").write_bytes(b"image,caption\nimages/a.jpg,a cat\n"
                                          b"images/b.jpg,caf\xe9 cat\n")
    status, _, err = command("prepare", "--dataset=folder", f"--source_dir={source}",
                             f"--out_dir={tmp_path / 'out'}")
    assert status == 1
    assert "captions.csv:3" in one_error_line(err)  # the line of the bad byte (was :1)
