"""Reads a feature cache written by FeatureCache back as a tf.data pipeline."""

import json
import os
from typing import List

import tensorflow as tf

META_FILE = "features_meta.json"


def read_features(features_dir: str, split: str, records: List[dict]) -> tf.data.Dataset:
    """Elements ``{"features", "image_id", "captions", "index"}``; captions come from
    ``records`` and ``index`` is the record's position in ``records``.

    Cached features whose image_id is not among the records are dropped. A split
    whose cache build did not finish is an error.
    """
    meta_path = os.path.join(features_dir, META_FILE)
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f"{meta_path} not found: build the cache with FeatureCache first")
    with open(meta_path) as f:
        meta = json.load(f)
    info = meta.get("splits", {}).get(split)
    if not info or "feature_shape" not in meta:
        raise ValueError(f"{meta_path}: no cached features for split {split!r}")
    if len(info["written"]) != info["num_shards"] or "skipped" not in info:
        raise ValueError(f"{meta_path}: the cache of split {split!r} is incomplete "
                         f"({len(info['written'])} of {info['num_shards']} shards); "
                         f"run FeatureCache.build again to finish it")
    files = sorted(os.path.join(features_dir, n) for n in info["written"])
    missing = [p for p in files if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{meta_path}: shard(s) missing: {missing}")
    dtype = tf.as_dtype(meta["feature_dtype"])
    shape = meta["feature_shape"]
    ids = [r["image_id"] for r in records]
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(ids), tf.range(len(ids), dtype=tf.int64)),
        default_value=-1)
    captions = tf.ragged.constant([r["captions"] for r in records], dtype=tf.string)
    spec = {"image_id": tf.io.FixedLenFeature([], tf.string),
            "feature": tf.io.FixedLenFeature([], tf.string)}

    def parse(serialized):
        ex = tf.io.parse_single_example(serialized, spec)
        feat = tf.io.parse_tensor(ex["feature"], dtype)
        feat.set_shape(shape)
        return {"features": feat, "image_id": ex["image_id"],
                "index": table.lookup(ex["image_id"])}

    def attach(el):
        return {"features": el["features"], "image_id": el["image_id"],
                "captions": captions[el["index"]], "index": el["index"]}

    ds = tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.filter(lambda el: el["index"] >= 0).map(attach)
    return ds


def expand_pairs(element):
    """One element per caption of ``element`` (the caption, and its pre-tokenised
    ``caption_*`` rows, kept as length-1 leading dimensions); every other key is repeated."""
    n = tf.shape(element["captions"])[0]
    per_caption = [k for k in element if k == "captions" or k.startswith("caption_")]
    pairs = {k: tf.repeat(v[None], n, axis=0) for k, v in element.items()
             if k not in per_caption}
    for k in per_caption:
        pairs[k] = tf.expand_dims(element[k], 1)
    return tf.data.Dataset.from_tensor_slices(pairs)
