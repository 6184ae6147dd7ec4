"""The ``tf.distribute`` strategy a run trains under (``train.distribute``), and each
worker's part in it.

``train.distribute``:

* ``"none"`` (or null): the default strategy, one device;
* ``"mirrored"``: :class:`tf.distribute.MirroredStrategy` over every local GPU (or, on a
  machine without one, every logical CPU device);
* ``"multi_worker"``: :class:`tf.distribute.MultiWorkerMirroredStrategy` over the
  machines ``TF_CONFIG`` names (every worker runs the same ``python -m tfcaption.train``
  command with its own ``TF_CONFIG``; worker 0 is the chief);
* ``"tpu"``: :class:`tf.distribute.TPUStrategy` on ``train.tpu`` (a TPU name or
  ``grpc://`` address; null: the TPU VM's own, ``"local"``).

``train.batch_size`` is the global batch: every step splits it across the replicas, and
each replica's loss is scaled so that the summed gradients are those of the global batch.
The input pipeline is sharded by data (:func:`shard_by_data`): every worker reads the same
seeded pipeline and keeps its replicas' slices of each global batch, so N workers see
exactly the batches one process would.

Files (:class:`WorkerRole`): the chief writes the run's workdir as a single process would.
Every worker runs every phase of the run (variables created under the strategy are
created on all workers together, so the phases after ``fit`` too), but a worker other
than the chief writes only into its own folder ``workdir/workers/worker_<i>`` and
restores a killed run from the chief's backup, so the workdir must be on storage every
worker sees (one machine, or a shared file system mounted at the same path).
"""

import contextlib
import json
import os

import keras
import tensorflow as tf

from tfcaption.hparams import Nullable

STRATEGIES = ("none", "mirrored", "multi_worker", "tpu")
# train keys of every trainer (the trainers' SETTINGS include them).
SETTINGS = {
    "distribute": Nullable("none"),  # or "mirrored", "multi_worker", "tpu" (null: "none")
    "tpu": None,  # train.distribute "tpu": the TPU's name or address; None: "local"
    "mixed_precision": None,  # a Keras dtype policy: "mixed_bfloat16", "mixed_float16"
}
PRECISIONS = (None, "float32", "mixed_bfloat16", "mixed_float16")
WORKERS_DIR = "workers"

_strategies = {}


def check_distribution(train, source="hparams"):
    """``train.distribute`` / ``train.tpu`` / ``train.mixed_precision`` are known values."""
    if strategy_name(train) not in STRATEGIES:
        raise ValueError(f"{source}: train.distribute {train['distribute']!r} is not one of "
                         f"{list(STRATEGIES)}")
    if train["tpu"] is not None and strategy_name(train) != "tpu":
        raise ValueError(f"{source}: train.tpu is set but train.distribute is "
                         f"{train['distribute']!r}, not 'tpu'")
    if train["mixed_precision"] not in PRECISIONS:
        raise ValueError(f"{source}: train.mixed_precision {train['mixed_precision']!r} is "
                         f"not one of {list(PRECISIONS)}")


def strategy_name(train):
    return train.get("distribute") or "none"


def make_strategy(train):
    """The strategy of ``train`` (created once per process: a multi-worker or TPU
    strategy must be created before TensorFlow runs any op, so ``tfcaption.train``
    calls this first)."""
    name = strategy_name(train)
    key = (name, train.get("tpu"))
    if key not in _strategies:
        _strategies[key] = _create(name, train.get("tpu"))
    return _strategies[key]


def _create(name, tpu):
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("train.distribute 'multi_worker' needs TF_CONFIG in the "
                             "environment (the cluster's workers and this one's index; "
                             "see the README, 'Training on several GPUs, machines or TPUs')")
        cluster = json.loads(os.environ["TF_CONFIG"])
        if "worker" not in cluster.get("cluster", {}) or "task" not in cluster:
            raise ValueError(f"TF_CONFIG {os.environ['TF_CONFIG']!r} names no "
                             f"cluster.worker list or no task")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "local")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (tf.errors.OpError, ValueError) as error:
            raise ValueError(f"train.distribute 'tpu': no TPU at train.tpu={tpu!r} "
                             f"({str(error).splitlines()[0][:160]})") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"train.distribute {name!r} is not one of {list(STRATEGIES)}")


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        strategy.extended._num_workers > 1  # noqa: SLF001  (tf's own test of it)


def xla_collectives(strategy):
    """Whether a step under ``strategy`` may be XLA-compiled: one replica, or replicas on
    GPUs/TPUs (XLA implements no collective on CPU devices)."""
    if strategy.num_replicas_in_sync == 1:
        return True
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


class WorkerRole:
    """This process's place in the cluster: ``task_id``, ``num_workers``, ``is_chief``."""

    def __init__(self, strategy):
        resolver = getattr(strategy, "cluster_resolver", None)
        if is_multi_worker(strategy) and resolver is not None:
            self.task_id = int(resolver.task_id or 0)
            self.num_workers = int(strategy.extended._num_workers)  # noqa: SLF001
            self.is_chief = resolver.task_type in ("chief", None) or (
                resolver.task_type == "worker" and self.task_id == 0)
        else:
            self.task_id, self.num_workers, self.is_chief = 0, 1, True

    def workdir(self, workdir):
        """Where this worker writes: ``workdir`` for the chief, else its own folder in it."""
        if self.is_chief:
            return workdir
        return os.path.join(workdir, WORKERS_DIR, f"worker_{self.task_id}")


def worker_role():
    """The :class:`WorkerRole` of the strategy in scope."""
    return WorkerRole(tf.distribute.get_strategy())


def chief_path(path):
    """The chief's counterpart of ``path`` under a worker's folder (``path`` itself when
    it is not in one)."""
    parts = os.path.normpath(os.path.abspath(path)).split(os.sep)
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] == WORKERS_DIR and parts[i + 1].startswith("worker_"):
            return os.sep.join(parts[:i] + parts[i + 2:])
    return path


def shard_by_data(dataset):
    """``dataset`` auto-sharded by data (not by file: a feature cache is one file): each
    worker keeps its replicas' slices of every global batch. Its order is made
    deterministic (parallel maps keep it), which data sharding needs: every worker must
    build the same global batches (and a rerun sees the batches a first run saw)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return dataset.with_options(options)


@contextlib.contextmanager
def training_scope(train):
    """The run's strategy scope under its dtype policy (``train.mixed_precision``),
    restored after."""
    strategy = make_strategy(train)
    previous = keras.config.dtype_policy()
    if train.get("mixed_precision"):
        keras.config.set_dtype_policy(train["mixed_precision"])
    try:
        with strategy.scope():
            yield strategy
    finally:
        keras.config.set_dtype_policy(previous)
