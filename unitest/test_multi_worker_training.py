"""Two ``python -m tfcaption.train`` workers (MultiWorkerMirroredStrategy over loopback,
one CPU each) on a tiny shapes ClipCap: the same losses as one process, and a worker
killed mid-epoch that the run survives."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tfcaption.hparams import apply_overrides, load_hparams
from tfcaption.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 600


def _overrides(data_dir):
    return [f"data.dir={data_dir}", "train.epochs=2", "train.batch_size=8",
            "train.warmup_steps=2", "train.verbose=0", "train.sample_every=0",
            "train.jit_compile=false",  # as under several CPU workers: XLA has no CPU collective
            f"model.clip={os.path.join(ROOT, 'pretrained_models', 'clip_shapes')}",
            "model.prefix_length=3", "model.gpt2.num_layers=1", "model.gpt2.hidden_dim=32",
            "model.gpt2.intermediate_dim=64", "model.gpt2.dropout=0.0",
            "tokenizer.vocab_size=300", "data.max_length=24", "data.pairing=sample",
            'eval.decoding={"method": "greedy", "max_length": 12}', "eval.max_images=4"]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(index, ports, hparams_path, workdir, kill_at=None):
    tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                 "task": {"type": "worker", "index": index}}
    env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), CUDA_VISIBLE_DEVICES="",
               TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TFCAPTION_KILL_AT", None)
    if kill_at:
        env["TFCAPTION_KILL_AT"] = kill_at
    return subprocess.Popen(
        [sys.executable, "-m", "tfcaption.train", f"--hparams={hparams_path}",
         f"--workdir={workdir}", "--set=train.distribute=multi_worker"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(procs):
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
        out.append((proc.returncode, stdout, stderr))
    return out


def _tails(results):
    return "\n".join(f"--- worker {i} (exit {code}):\n{stderr[-3000:]}"
                     for i, (code, _, stderr) in enumerate(results))


def _logs(workdir):
    with open(os.path.join(workdir, "epochs.json")) as f:  # {epoch: logs}
        return json.load(f)


def _losses(epochs):
    return np.array([epochs[e][key] for e in sorted(epochs, key=int)
                     for key in ("loss", "val_loss")])


@pytest.fixture(scope="module")
def recipe(shapes_dir, tmp_path_factory):
    """The tiny recipe as an hparams file, and a one-process run of it."""
    root = tmp_path_factory.mktemp("multi_worker")
    hparams = apply_overrides(load_hparams(os.path.join(ROOT, "hparams", "clipcap_shapes.json")),
                              _overrides(shapes_dir))
    path = str(root / "hparams.json")
    with open(path, "w") as f:
        json.dump(hparams, f)
    single = str(root / "single")
    train(hparams, single)
    return path, root, single


@pytest.fixture(scope="module")
def two_workers(recipe):
    path, root, _ = recipe
    workdir = str(root / "two_workers")
    ports = _free_ports(2)
    return workdir, _finish([_start(i, ports, path, workdir) for i in range(2)])


def test_two_workers_train_as_one_process(recipe, two_workers):
    _, _, single = recipe
    workdir, results = two_workers
    assert [code for code, _, _ in results] == [0, 0], _tails(results)
    assert "worker 1 of 2: training done" in results[1][1]
    assert "CIDEr" in results[0][1]  # the chief's summary
    for name in ("metrics.json", "model", "fit_done.json"):
        assert os.path.exists(os.path.join(workdir, name)), name
    assert not os.path.exists(os.path.join(workdir, "backup"))  # removed once done
    worker_dir = os.path.join(workdir, "workers", "worker_1")  # its own files
    # The same batches and the same update as one process: the first epoch's training
    # loss to float rounding; later values drift by Adam's amplification of rounding
    # (the one-process run here is XLA-free too, as CPU workers are).
    one, two = _logs(single), _logs(workdir)
    assert abs(one["0"]["loss"] - two["0"]["loss"]) < 1e-5 * one["0"]["loss"]
    np.testing.assert_allclose(_losses(two), _losses(one), rtol=5e-4)
    np.testing.assert_allclose(_losses(_logs(worker_dir)), _losses(two), rtol=1e-6)


def test_a_killed_worker_is_restarted_and_the_run_resumes(recipe, two_workers):
    """Worker 1 is SIGKILLed in the middle of epoch 1 (batch 2 of 5); the chief stops
    with one error line; both restart with the same command and resume at epoch 1 from
    the chief's backup (3 steps lost): the chief must not reach epoch 0 again."""
    path, root, _ = recipe
    workdir = str(root / "killed")
    ports = _free_ports(2)
    first = _finish([_start(0, ports, path, workdir),
                     _start(1, ports, path, workdir, kill_at="batch_end:1:2")])
    assert first[1][0] == -9, _tails(first)
    assert first[0][0] == 1, _tails(first)
    error_lines = [line for line in first[0][2].splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "another worker of the cluster stopped" in error_lines[0]
    assert "Traceback" not in first[0][2]
    with open(os.path.join(workdir, "backup", "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 1
    ports = _free_ports(2)
    second = _finish([_start(0, ports, path, workdir, kill_at="batch_end:0:0"),
                      _start(1, ports, path, workdir)])
    assert [code for code, _, _ in second] == [0, 0], _tails(second)
    assert "CIDEr" in second[0][1]
    resumed, uninterrupted = _logs(workdir), _logs(two_workers[0])
    assert resumed["0"] == uninterrupted["0"]  # the first attempt's epoch, kept
    # The resumed epoch 1 is the pipeline's first pass of this process, so its shuffle
    # and caption draws are not those of the uninterrupted run's second pass: close, not
    # equal.
    np.testing.assert_allclose(_losses(resumed), _losses(uninterrupted), rtol=3e-3)
