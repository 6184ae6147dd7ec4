"""Precomputes an image encoder's outputs over a dataset split into sharded TFRecords.

Layout of ``out_dir``::

    features_meta.json                       encoder, preprocessor, shape, dtype, shards
    .features_meta.lock                      lock file guarding features_meta.json
    {split}-00000-of-00004.tfrecord ...      examples: image_id (bytes), feature (serialised tensor)

Resumable: each shard is written to a temporary name unique to its writer
(``{shard}.{host}-{pid}-{random}.incomplete``) and renamed when complete; finished
shards are skipped on the next run. Images that fail to decode are left out of
their shard and counted in the metadata.

Concurrent writers: any number of processes (on one host, or on hosts sharing a
filesystem with working ``flock``) may build the same ``out_dir`` at once, for the
same split or different ones. A writer that finishes a shard another writer has
already put in place keeps the existing file when the bytes are identical (and
replaces it with its own when they differ). ``features_meta.json`` is only changed
under an exclusive ``fcntl.flock`` on ``.features_meta.lock``, by re-reading it,
checking it against this run, merging this writer's shards and rewriting it
atomically, so no writer's split entry is lost. Temporary files of writers on this
host whose process no longer runs (a killed build) are removed by the next build;
those of running writers are left alone.
"""

import fcntl
import filecmp
import hashlib
import json
import math
import os
import re
import secrets
import socket
from contextlib import contextmanager

import keras
import tensorflow as tf

from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.file_io import atomic_write_text
from tfcaption.data.feature_reader import META_FILE
from tfcaption.data.image_preprocessor import ImagePreprocessor

LOCK_FILE = ".features_meta.lock"
_SHARD_TMP = re.compile(r"^.+\.tfrecord\.(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}\.incomplete$")
_META_TMP = re.compile(r"^\.tmp-.+" + re.escape(META_FILE) + r"$")  # atomic_write_text's


def shard_name(split: str, index: int, num_shards: int) -> str:
    return f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "localhost"


def temp_shard_path(path: str) -> str:
    """A temporary name for ``path`` that no other writer (process, host or call) uses."""
    return f"{path}.{_host()}-{os.getpid()}-{secrets.token_hex(4)}.incomplete"


def _pid_running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:  # another writer removed it first
        pass


class FeatureCache:
    """Writes (and describes) the feature cache of one encoder.

    Args:
      out_dir: cache directory.
      encoder: a Keras model (or callable) mapping a batch of preprocessed images to features.
      preprocessor: the ImagePreprocessor the encoder expects.
      encoder_name: recorded in the metadata; a resumed run must use the same name.
      shard_size: records per shard.
      batch_size: images per encoder call.
    """

    def __init__(self, out_dir: str, encoder, preprocessor: ImagePreprocessor,
                 encoder_name: str, shard_size: int = 1024, batch_size: int = 32):
        self.out_dir = out_dir
        self.encoder = encoder
        self.preprocessor = preprocessor
        self.encoder_name = encoder_name
        self.shard_size = int(shard_size)
        self.batch_size = int(batch_size)

    def get_config(self) -> dict:
        """Every argument but the encoder itself, which is identified by ``encoder_name``."""
        return {"out_dir": self.out_dir, "preprocessor": self.preprocessor.get_config(),
                "encoder_name": self.encoder_name, "shard_size": self.shard_size,
                "batch_size": self.batch_size}

    def _meta_path(self) -> str:
        return os.path.join(self.out_dir, META_FILE)

    def _load_meta(self) -> dict:
        if os.path.isfile(self._meta_path()):
            with open(self._meta_path()) as f:
                meta = json.load(f)
            for key, want in (("encoder", self.encoder_name),
                              ("preprocessor", self.preprocessor.get_config()),
                              ("shard_size", self.shard_size)):
                if meta.get(key) != want:
                    raise ValueError(f"{self._meta_path()}: existing cache has {key}="
                                     f"{meta.get(key)!r}, this run has {want!r}; use another out_dir")
            return meta
        return {"encoder": self.encoder_name, "preprocessor": self.preprocessor.get_config(),
                "shard_size": self.shard_size, "splits": {}}

    def _read_meta_text(self):
        try:
            with open(self._meta_path(), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def _split_info(self, meta: dict, split: str, num_shards: int, ids_hash: str) -> dict:
        """The split's entry in ``meta`` (a new one if absent), checked against this run's records."""
        info = meta["splits"].get(split, {"num_shards": num_shards, "written": {},
                                          "image_ids_sha1": ids_hash})
        if info["num_shards"] != num_shards or info.get("image_ids_sha1") != ids_hash:
            raise ValueError(f"{self._meta_path()}: split {split!r} was cached from other "
                             f"records ({info['num_shards']} shards, image ids hash "
                             f"{info.get('image_ids_sha1')}); the data now has {num_shards} "
                             f"shards, hash {ids_hash}: use another out_dir")
        return info

    @contextmanager
    def _meta_lock(self):
        """Holds an exclusive ``flock`` on LOCK_FILE: every metadata writer takes it."""
        path = os.path.join(self.out_dir, LOCK_FILE)
        with open(path, "a") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            except OSError as e:
                raise OSError(e.errno, f"{path}: cannot lock the feature cache metadata "
                                       f"({e.strerror}); out_dir needs a filesystem with "
                                       f"file locks") from e
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _record(self, split: str, num_shards: int, ids_hash: str, num_records: int,
                shard=None, written=0, spec=None) -> dict:
        """Read-modify-write of the metadata under the lock: merges ``shard`` (its name) with
        ``written`` records and the feature ``spec`` into the current file; returns the split's
        merged entry. ``skipped`` is present exactly when every shard is recorded."""
        with self._meta_lock():
            for name in os.listdir(self.out_dir):  # no other writer is between mkstemp and rename
                if _META_TMP.match(name):
                    _remove(os.path.join(self.out_dir, name))
            meta = self._load_meta()
            info = self._split_info(meta, split, num_shards, ids_hash)
            if shard is not None:
                info["written"][shard] = written
            if spec is not None:
                meta["feature_shape"], meta["feature_dtype"] = spec
            if len(info["written"]) == info["num_shards"]:
                info["skipped"] = num_records - sum(info["written"].values())
            else:
                info.pop("skipped", None)
            meta["splits"][split] = info
            text = json.dumps(meta, indent=2, sort_keys=True)
            if self._read_meta_text() != text:  # a complete cache is left untouched
                atomic_write_text(self._meta_path(), text)
        return info

    def _remove_stale_temps(self) -> None:
        """Removes shard temporaries of writers on this host whose process has ended."""
        host = _host()
        for name in os.listdir(self.out_dir):
            m = _SHARD_TMP.match(name)
            if m and m["host"] == host and int(m["pid"]) != os.getpid() \
                    and not _pid_running(int(m["pid"])):
                _remove(os.path.join(self.out_dir, name))

    def _encode(self, images):
        """A Keras model runs through its compiled predict step; other callables as they are."""
        if isinstance(self.encoder, keras.Model):
            return self.encoder.predict_on_batch(images)
        return self.encoder(images)

    def _load(self, rec):
        return {"image": self.preprocessor.from_bytes(tf.io.read_file(rec["path"])),
                "image_id": rec["image_id"]}

    def _write_shard(self, path: str, records, progbar):
        ids = tf.constant([r["image_id"] for r in records])
        paths = tf.constant([r["path"] for r in records])
        ds = tf.data.Dataset.from_tensor_slices({"path": paths, "image_id": ids})
        ds = ds.map(self._load, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.ignore_errors(log_warning=True).batch(self.batch_size).prefetch(2)
        tmp = temp_shard_path(path)
        written, spec = 0, None
        try:
            with tf.io.TFRecordWriter(tmp) as writer:
                for batch in ds:
                    feats = tf.convert_to_tensor(self._encode(batch["image"]))
                    spec = (feats.shape[1:].as_list(), feats.dtype.name)
                    for image_id, feat in zip(batch["image_id"].numpy(), feats):
                        example = tf.train.Example(features=tf.train.Features(feature={
                            "image_id": tf.train.Feature(
                                bytes_list=tf.train.BytesList(value=[image_id])),
                            "feature": tf.train.Feature(bytes_list=tf.train.BytesList(
                                value=[tf.io.serialize_tensor(feat).numpy()])),
                        }))
                        # map fields in sorted order: the bytes do not depend on the
                        # process (string hashing), so writers' shards compare equal
                        writer.write(example.SerializeToString(deterministic=True))
                    written += int(feats.shape[0])
                    progbar.add(int(feats.shape[0]))
            if os.path.isfile(path) and filecmp.cmp(tmp, path, shallow=False):
                os.remove(tmp)  # another writer finished this shard first, with the same bytes
            else:
                os.replace(tmp, path)
        except BaseException:
            _remove(tmp)
            raise
        if written < len(records):  # undecodable images, left out (a finished bar reprints)
            progbar.add(len(records) - written)
        return written, spec

    def build(self, data_dir: str, split: str, verbose: int = 1) -> dict:
        """Encodes every usable record of ``split`` not cached yet (by this or another
        writer); returns the split's metadata."""
        os.makedirs(self.out_dir, exist_ok=True)
        self._remove_stale_temps()
        records = CaptionPipeline(data_dir, split, mode="eval", preprocessor=self.preprocessor,
                                  shuffle_buffer=0).records
        num_shards = max(1, math.ceil(len(records) / self.shard_size))
        ids_hash = hashlib.sha1("\n".join(r["image_id"] for r in records).encode()).hexdigest()
        self._split_info(self._load_meta(), split, num_shards, ids_hash)  # fail before encoding
        progbar = keras.utils.Progbar(len(records), verbose=verbose, unit_name="image")
        for i in range(num_shards):
            name = shard_name(split, i, num_shards)
            chunk = records[i * self.shard_size:(i + 1) * self.shard_size]
            done = self._load_meta()["splits"].get(split, {}).get("written", {})
            if os.path.isfile(os.path.join(self.out_dir, name)) and name in done:
                progbar.add(len(chunk))
                continue
            written, spec = self._write_shard(os.path.join(self.out_dir, name), chunk, progbar)
            self._record(split, num_shards, ids_hash, len(records), name, written, spec)
        return self._record(split, num_shards, ids_hash, len(records))
