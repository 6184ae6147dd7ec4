"""Precomputes an image encoder's outputs over a dataset split into sharded TFRecords.

Layout of ``out_dir``::

    features_meta.json                       encoder, preprocessor, shape, dtype, shards
    {split}-00000-of-00004.tfrecord ...      examples: image_id (bytes), feature (serialised tensor)

Resumable: shards are written to a temporary name and renamed when complete;
finished shards are skipped on the next run. Images that fail to decode are
left out of their shard and counted in the metadata.
"""

import hashlib
import json
import math
import os

import keras
import tensorflow as tf

from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.file_io import atomic_write_text
from tfcaption.data.feature_reader import META_FILE
from tfcaption.data.image_preprocessor import ImagePreprocessor


def shard_name(split: str, index: int, num_shards: int) -> str:
    return f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"


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
        tmp = path + ".incomplete"
        written, spec = 0, None
        with tf.io.TFRecordWriter(tmp) as writer:
            for batch in ds:
                feats = tf.convert_to_tensor(self._encode(batch["image"]))
                spec = (feats.shape[1:].as_list(), feats.dtype.name)
                for image_id, feat in zip(batch["image_id"].numpy(), feats):
                    example = tf.train.Example(features=tf.train.Features(feature={
                        "image_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_id])),
                        "feature": tf.train.Feature(bytes_list=tf.train.BytesList(
                            value=[tf.io.serialize_tensor(feat).numpy()])),
                    }))
                    writer.write(example.SerializeToString())
                written += int(feats.shape[0])
                progbar.add(int(feats.shape[0]))
        if written < len(records):  # undecodable images, left out (a finished bar reprints)
            progbar.add(len(records) - written)
        os.replace(tmp, path)
        return written, spec

    def build(self, data_dir: str, split: str, verbose: int = 1) -> dict:
        """Encodes every usable record of ``split``; returns the split's metadata."""
        os.makedirs(self.out_dir, exist_ok=True)
        meta = self._load_meta()
        records = CaptionPipeline(data_dir, split, mode="eval", preprocessor=self.preprocessor,
                                  shuffle_buffer=0).records
        num_shards = max(1, math.ceil(len(records) / self.shard_size))
        ids_hash = hashlib.sha1("\n".join(r["image_id"] for r in records).encode()).hexdigest()
        info = meta["splits"].get(split, {"num_shards": num_shards, "written": {},
                                          "image_ids_sha1": ids_hash})
        if info["num_shards"] != num_shards or info.get("image_ids_sha1") != ids_hash:
            raise ValueError(f"{self._meta_path()}: split {split!r} was cached from other "
                             f"records ({info['num_shards']} shards, image ids hash "
                             f"{info.get('image_ids_sha1')}); the data now has {num_shards} "
                             f"shards, hash {ids_hash}: use another out_dir")
        info.pop("skipped", None)
        progbar = keras.utils.Progbar(len(records), verbose=verbose, unit_name="image")
        for i in range(num_shards):
            name = shard_name(split, i, num_shards)
            chunk = records[i * self.shard_size:(i + 1) * self.shard_size]
            if os.path.isfile(os.path.join(self.out_dir, name)) and name in info["written"]:
                progbar.add(len(chunk))
                continue
            written, spec = self._write_shard(os.path.join(self.out_dir, name), chunk, progbar)
            info["written"][name] = written
            if spec is not None:
                meta["feature_shape"], meta["feature_dtype"] = spec
            meta["splits"][split] = info
            atomic_write_text(self._meta_path(), json.dumps(meta, indent=2, sort_keys=True))
        info["skipped"] = len(records) - sum(info["written"].values())
        meta["splits"][split] = info
        atomic_write_text(self._meta_path(), json.dumps(meta, indent=2, sort_keys=True))
        return info
