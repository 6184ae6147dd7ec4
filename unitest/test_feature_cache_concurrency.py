"""FeatureCache with concurrent writers: real OS processes building one cache directory.

The writers run in lockstep (a file barrier in the encoder: call n of one writer waits
for call n of the other, or for the other to finish), so both write the same shard at
the same moment and both hold the metadata of the start of their build: the race of
the report (a shared ``.incomplete`` name, last-writer-wins metadata) happens on every
run, not by chance.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tfcaption
from tfcaption.data.feature_cache import FeatureCache, temp_shard_path
from tfcaption.data.image_preprocessor import ImagePreprocessor

PRE = ImagePreprocessor("raw", 16)
SHARD_SIZE, BATCH_SIZE = 4, 2  # 10 train shards, 2 val shards; 2 encoder calls per shard

WORKER = r"""
import itertools, os, sys, time
import numpy as np
from tfcaption.data.feature_cache import FeatureCache
from tfcaption.data.image_preprocessor import ImagePreprocessor

out_dir, data_dir, splits, sync, me, other, hang_at = sys.argv[1:]
calls = itertools.count()

def mark(name):
    open(os.path.join(sync, name), "w").close()

def encode(images):
    n = next(calls)
    if n == int(hang_at):
        mark("hanging")
        time.sleep(600)
    mark(f"{me}-{n}")
    deadline = time.time() + 60
    while other and time.time() < deadline and not any(
            os.path.exists(os.path.join(sync, f"{other}-{x}")) for x in (n, "done")):
        time.sleep(0.005)
    return np.asarray(images).mean(axis=(1, 2))

try:
    cache = FeatureCache(out_dir, encode, ImagePreprocessor("raw", 16), "mean",
                         shard_size=%d, batch_size=%d)
    for split in splits.split(","):
        cache.build(data_dir, split, verbose=0)
finally:
    mark(f"{me}-done")
""" % (SHARD_SIZE, BATCH_SIZE)


def _mean(images):
    return np.asarray(images).mean(axis=(1, 2))


def _start(out_dir, shapes_dir, splits, sync, me, other="", hang_at=-1):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    src = os.path.dirname(os.path.dirname(os.path.abspath(tfcaption.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return subprocess.Popen([sys.executable, "-c", WORKER, str(out_dir), shapes_dir, splits,
                             str(sync), me, other, str(hang_at)], cwd=str(sync), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _run_together(out_dir, shapes_dir, sync, splits_a, splits_b):
    os.makedirs(sync)
    procs = [_start(out_dir, shapes_dir, splits_a, sync, "a", "b"),
             _start(out_dir, shapes_dir, splits_b, sync, "b", "a")]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]


def _single(tmp_path, shapes_dir, splits):
    out = tmp_path / "single"
    cache = FeatureCache(str(out), _mean, PRE, "mean", shard_size=SHARD_SIZE,
                         batch_size=BATCH_SIZE)
    for split in splits:
        cache.build(shapes_dir, split, verbose=0)
    return out


def _assert_same_cache(got, want):
    """Same files (no temporary left), shards byte-identical, same metadata."""
    assert sorted(os.listdir(got)) == sorted(os.listdir(want))
    for name in os.listdir(want):
        if name.endswith(".tfrecord"):
            assert (got / name).read_bytes() == (want / name).read_bytes(), name
    assert json.loads((got / "features_meta.json").read_text()) == \
        json.loads((want / "features_meta.json").read_text())


def test_two_processes_building_the_same_splits_at_once(shapes_dir, tmp_path):
    out = tmp_path / "features"
    _run_together(out, shapes_dir, tmp_path / "sync", "train,val", "train,val")
    want = _single(tmp_path, shapes_dir, ["train", "val"])
    _assert_same_cache(out, want)
    meta = json.loads((out / "features_meta.json").read_text())
    assert sorted(meta["splits"]) == ["train", "val"]
    assert meta["splits"]["train"]["skipped"] == 0 and len(meta["splits"]["train"]["written"]) == 10


def test_writers_of_different_splits_both_land_in_the_metadata(shapes_dir, tmp_path):
    out = tmp_path / "features"
    _run_together(out, shapes_dir, tmp_path / "sync", "train", "val")
    meta = json.loads((out / "features_meta.json").read_text())
    assert sorted(meta["splits"]) == ["train", "val"]
    assert all("skipped" in info for info in meta["splits"].values())
    _assert_same_cache(out, _single(tmp_path, shapes_dir, ["train", "val"]))


def test_a_killed_writer_is_resumed_and_its_temporary_removed(shapes_dir, tmp_path):
    out, sync = tmp_path / "features", tmp_path / "sync"
    os.makedirs(sync)
    proc = _start(out, shapes_dir, "train", sync, "a", hang_at=3)  # hangs in shard 1
    deadline = time.time() + 120
    while not (sync / "hanging").exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[0][-3000:]
        time.sleep(0.05)
    temps = [n for n in os.listdir(out) if n.endswith(".incomplete")]
    assert len(temps) == 1 and temps[0].startswith("train-00001-of-00010.tfrecord.")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    calls = []
    info = FeatureCache(str(out), lambda x: calls.append(len(x)) or _mean(x), PRE, "mean",
                        shard_size=SHARD_SIZE, batch_size=BATCH_SIZE).build(
        shapes_dir, "train", verbose=0)
    assert sum(calls) == 36 and info["skipped"] == 0  # shard 0 was kept
    _assert_same_cache(out, _single(tmp_path, shapes_dir, ["train"]))


def test_only_temporaries_of_ended_writers_on_this_host_are_removed(shapes_dir, tmp_path):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    final = str(tmp_path / "val-00000-of-00002.tfrecord")
    mine = temp_shard_path(final)
    dead = mine.replace(f"-{os.getpid()}-", f"-{ended.pid}-")
    live = mine.replace(f"-{os.getpid()}-", f"-{os.getppid()}-")
    elsewhere = final + f".other_host-{ended.pid}-0123abcd.incomplete"
    meta_tmp = str(tmp_path / ".tmp-k2j4h5g6features_meta.json")
    for path in (mine, dead, live, elsewhere, meta_tmp):
        open(path, "w").close()
    FeatureCache(str(tmp_path), _mean, PRE, "mean", shard_size=SHARD_SIZE,
                 batch_size=BATCH_SIZE).build(shapes_dir, "val", verbose=0)
    left = set(os.listdir(tmp_path))
    assert {os.path.basename(p) for p in (mine, live, elsewhere)} <= left
    assert not {os.path.basename(p) for p in (dead, meta_tmp)} & left


def test_a_failed_shard_leaves_no_temporary(shapes_dir, tmp_path):
    def failing(images):
        raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError, match="encoder failed"):
        FeatureCache(str(tmp_path), failing, PRE, "mean", shard_size=SHARD_SIZE).build(
            shapes_dir, "val", verbose=0)
    assert not [n for n in os.listdir(tmp_path) if "incomplete" in n]
