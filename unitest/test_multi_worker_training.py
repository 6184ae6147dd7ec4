"""The README's "Training on several GPUs, machines or TPUs": its two-machine commands as
two ``python -m tfcaption.train`` workers (MultiWorkerMirroredStrategy over loopback, one
CPU each) on a smoke-sized shapes ClipCap: the same losses as one process, and a worker
killed mid-epoch that the run survives; its TPU command's error on a machine without a
TPU; and its mirrored command on two logical CPU devices."""

import json
import os
import shlex
import socket
import subprocess
import sys

import numpy as np
import pytest

from readme_sections import section_commands

from tfcaption.hparams import apply_overrides, load_hparams
from tfcaption.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 600
SECTION = "Training on several GPUs, machines or TPUs"


def _readme_command(word):
    """The section's command containing ``word``: ``(TF_CONFIG dict or None, argv)``."""
    found, = [c for c in section_commands(SECTION) if word in c]
    argv = shlex.split(found)
    tf_config = None
    if argv[0].startswith("TF_CONFIG="):
        tf_config = json.loads(argv.pop(0)[len("TF_CONFIG="):])
    assert argv[:3] == ["python", "-m", "tfcaption.train"], found
    return tf_config, [sys.executable] + argv[1:]


def _smoke(argv, workdir, data_dir):
    """The README command on a temporary workdir with the smoke-sized settings added."""
    argv = [f"--workdir={workdir}" if a.startswith("--workdir=") else a for a in argv]
    return argv + [f"--set={o}" for o in _overrides(data_dir)]


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


def _start(index, ports, data_dir, workdir, kill_at=None):
    """The README's command of worker ``index`` with the cluster on ``ports`` of
    127.0.0.1 (the README's hosts, in order)."""
    tf_config, argv = _readme_command(f'"index": {index}')
    assert tf_config["task"] == {"type": "worker", "index": index}
    hosts = tf_config["cluster"]["worker"]
    assert len(hosts) == len(ports) == 2
    tf_config["cluster"]["worker"] = [f"127.0.0.1:{p}" for p in ports]
    env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), CUDA_VISIBLE_DEVICES="",
               TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TFCAPTION_KILL_AT", None)
    if kill_at:
        env["TFCAPTION_KILL_AT"] = kill_at
    return subprocess.Popen(_smoke(argv, workdir, data_dir), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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
    """The data dir, a folder for the runs, and a one-process run of the README's recipe
    with the smoke settings (in this process)."""
    root = tmp_path_factory.mktemp("multi_worker")
    _, argv = _readme_command('"index": 0')
    hparams_path, = [a.split("=", 1)[1] for a in argv if a.startswith("--hparams=")]
    hparams = apply_overrides(load_hparams(os.path.join(ROOT, hparams_path)),
                              _overrides(shapes_dir))
    single = str(root / "single")
    train(hparams, single)
    return shapes_dir, root, single


@pytest.fixture(scope="module")
def two_workers(recipe):
    data_dir, root, _ = recipe
    workdir = str(root / "two_workers")
    ports = _free_ports(2)
    return workdir, _finish([_start(i, ports, data_dir, workdir) for i in range(2)])


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
    data_dir, root, _ = recipe
    workdir = str(root / "killed")
    ports = _free_ports(2)
    first = _finish([_start(0, ports, data_dir, workdir),
                     _start(1, ports, data_dir, workdir, kill_at="batch_end:1:2")])
    assert first[1][0] == -9, _tails(first)
    assert first[0][0] == 1, _tails(first)
    error_lines = [line for line in first[0][2].splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "another worker of the cluster stopped" in error_lines[0]
    assert "Traceback" not in first[0][2]
    with open(os.path.join(workdir, "backup", "training_metadata.json")) as f:
        assert json.load(f)["epoch"] == 1
    ports = _free_ports(2)
    second = _finish([_start(0, ports, data_dir, workdir, kill_at="batch_end:0:0"),
                      _start(1, ports, data_dir, workdir)])
    assert [code for code, _, _ in second] == [0, 0], _tails(second)
    assert "CIDEr" in second[0][1]
    resumed, uninterrupted = _logs(workdir), _logs(two_workers[0])
    assert resumed["0"] == uninterrupted["0"]  # the first attempt's epoch, kept
    # The resumed epoch 1 is the pipeline's first pass of this process, so its shuffle
    # and caption draws are not those of the uninterrupted run's second pass: close, not
    # equal.
    np.testing.assert_allclose(_losses(resumed), _losses(uninterrupted), rtol=3e-3)


def _run(argv):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)


def test_the_tpu_command_says_there_is_no_tpu(recipe):
    data_dir, root, _ = recipe
    _, argv = _readme_command("train.distribute=tpu")
    proc = _run(_smoke(argv, str(root / "tpu"), data_dir))
    assert proc.returncode == 1, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "train.distribute 'tpu': no TPU at train.tpu=None" in errors[0]
    assert "Traceback" not in proc.stderr


# The mirrored command as a user runs it, in a process with two logical CPU devices (set
# before TensorFlow initialises; a GPU machine has its GPUs instead).
TWO_CPU_DEVICES = """
import runpy, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
fit = keras.Model.fit
def counting_fit(self, *args, **kwargs):
    print("REPLICAS", self.distribute_strategy.num_replicas_in_sync, flush=True)
    return fit(self, *args, **kwargs)
keras.Model.fit = counting_fit
sys.argv = ["tfcaption.train"] + sys.argv[1:]
runpy.run_module("tfcaption.train", run_name="__main__", alter_sys=True)
"""


def test_the_mirrored_command_trains_as_one_device(recipe):
    """The section's mirrored command (smoke settings added) on two logical CPU devices:
    two replicas, the model dir written, the first epoch's losses those of the
    one-process run (test_mirrored_trainers.py compares every trainer the same way)."""
    data_dir, root, single = recipe
    _, argv = _readme_command("train.distribute=mirrored")
    workdir = root / "mirrored"
    proc = _run([sys.executable, "-c", TWO_CPU_DEVICES]
                + _smoke(argv, str(workdir), data_dir)[3:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [line for line in proc.stdout.splitlines() if line.startswith("REPLICAS")] == \
        ["REPLICAS 2"], proc.stdout[-2000:]
    assert (workdir / "model").is_dir() and (workdir / "metrics.json").is_file()
    one, two = (json.load(open(os.path.join(d, "epochs.json")))["0"]
                for d in (single, str(workdir)))
    for key in ("loss", "token_accuracy"):
        assert two[key] == pytest.approx(one[key], rel=1e-5), key
