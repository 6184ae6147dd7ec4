import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.data.feature_cache import FeatureCache
from tfcaption.data.image_preprocessor import ImagePreprocessor

PRE = ImagePreprocessor("raw", 16)


def _encoder():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.layers.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
                             keras.layers.GlobalAveragePooling2D()])


class _Counting:
    """Wraps an encoder, counts images encoded, and can fail after some calls."""

    def __init__(self, model, fail_after=None):
        self.model, self.images, self.calls, self.fail_after = model, 0, 0, fail_after

    def __call__(self, images):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("interrupted")
        self.images += int(images.shape[0])
        return self.model(images)


def _direct(shapes_dir, model, split):
    pipe = CaptionPipeline(shapes_dir, split, mode="eval", preprocessor=PRE)
    out = {}
    for b in pipe.dataset(64):
        for i, f in zip(b["image_id"].numpy(), model(b["images"]).numpy()):
            out[i.decode()] = f
    return out


def test_cache_matches_the_encoder_and_reads_back(shapes_dir, tmp_path):
    model = _encoder()
    info = FeatureCache(str(tmp_path), model, PRE, "conv", shard_size=16,
                        batch_size=5).build(shapes_dir, "train", verbose=0)
    assert info["num_shards"] == 3 and info["skipped"] == 0
    assert sorted(os.listdir(tmp_path)) == [".features_meta.lock", "features_meta.json"] + [
        f"train-0000{i}-of-00003.tfrecord" for i in range(3)]
    pipe = CaptionPipeline(shapes_dir, "train", features_dir=str(tmp_path), deterministic=True,
                           tokenize=lambda s: tf.strings.unicode_decode(s, "UTF-8"),
                           max_length=8, end_id=0)
    want = _direct(shapes_dir, model, "train")
    got = {}
    for b in pipe.dataset(8, drop_remainder=False):
        assert set(b) == {"features", "image_id", "captions", "token_ids", "padding_mask"}
        for i, f in zip(b["image_id"].numpy(), b["features"].numpy()):
            got[i.decode()] = f
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], atol=1e-5)


def test_interrupted_build_resumes_without_redoing_finished_shards(shapes_dir, tmp_path):
    model = _encoder()
    first = _Counting(model, fail_after=2)   # shard_size 8 with batch 4: dies in shard 1
    with pytest.raises(RuntimeError, match="interrupted"):
        FeatureCache(str(tmp_path), first, PRE, "conv", shard_size=8,
                     batch_size=4).build(shapes_dir, "train", verbose=0)
    assert os.path.isfile(tmp_path / "train-00000-of-00005.tfrecord")
    assert not os.path.isfile(tmp_path / "train-00001-of-00005.tfrecord")
    second = _Counting(model)
    info = FeatureCache(str(tmp_path), second, PRE, "conv", shard_size=8,
                        batch_size=4).build(shapes_dir, "train", verbose=0)
    assert second.images == 32 and sum(info["written"].values()) == 40
    third = _Counting(model)
    FeatureCache(str(tmp_path), third, PRE, "conv", shard_size=8,
                 batch_size=4).build(shapes_dir, "train", verbose=0)
    assert third.calls == 0


def test_a_different_encoder_cannot_reuse_the_cache(shapes_dir, tmp_path):
    FeatureCache(str(tmp_path), _encoder(), PRE, "conv", shard_size=64).build(
        shapes_dir, "val", verbose=0)
    with pytest.raises(ValueError, match="encoder='conv'"):
        FeatureCache(str(tmp_path), _encoder(), PRE, "other", shard_size=64).build(
            shapes_dir, "val", verbose=0)
    meta = json.load(open(tmp_path / "features_meta.json"))
    assert meta["feature_shape"] == [4] and meta["feature_dtype"] == "float32"
    with pytest.raises(ValueError, match="no cached features for split 'test'"):
        CaptionPipeline(shapes_dir, "test", features_dir=str(tmp_path)).dataset(2)


def test_partial_cache_is_refused_and_missing_records_are_reported(shapes_dir, tmp_path):
    with pytest.raises(RuntimeError, match="interrupted"):
        FeatureCache(str(tmp_path), _Counting(_encoder(), fail_after=2), PRE, "conv",
                     shard_size=8, batch_size=4).build(shapes_dir, "train", verbose=0)
    with pytest.raises(ValueError, match="incomplete .1 of 5 shards"):
        CaptionPipeline(shapes_dir, "train", features_dir=str(tmp_path)).dataset(4)
    FeatureCache(str(tmp_path), _encoder(), PRE, "conv", shard_size=8,
                 batch_size=4).build(shapes_dir, "train", verbose=0)
    pipe = CaptionPipeline(shapes_dir, "train", features_dir=str(tmp_path), mode="eval")
    # a record the cache has no features for (e.g. its image failed to encode)
    pipe.records = pipe.records + [{"index": len(pipe.records), "path": "x",
                                    "image_id": "not-cached", "captions": ["c"]}]
    n = sum(int(b["features"].shape[0]) for b in pipe.dataset(16))
    assert n == 40 and pipe.unreadable_images() == ["x"]


def test_rebuilding_over_other_records_is_refused(shapes_dir, tmp_path):
    cache = FeatureCache(str(tmp_path), _encoder(), PRE, "conv", shard_size=64)
    cache.build(shapes_dir, "val", verbose=0)
    meta = json.load(open(tmp_path / "features_meta.json"))
    meta["splits"]["val"]["image_ids_sha1"] = "0" * 40
    json.dump(meta, open(tmp_path / "features_meta.json", "w"))
    with pytest.raises(ValueError, match="was cached from other records"):
        cache.build(shapes_dir, "val", verbose=0)


def test_cached_features_in_all_pairs_mode(shapes_dir, tmp_path):
    FeatureCache(str(tmp_path), _encoder(), PRE, "conv", shard_size=64).build(
        shapes_dir, "train", verbose=0)
    pipe = CaptionPipeline(shapes_dir, "train", features_dir=str(tmp_path), pairing="all")
    pairs = sorted((i.decode(), c.decode()) for b in pipe.dataset(16, drop_remainder=False)
                   for i, c in zip(b["image_id"].numpy(), b["captions"].numpy()))
    recs = pipe.records
    assert pairs == sorted((r["image_id"], c) for r in recs for c in r["captions"])
    assert pipe.unreadable_images() == []
