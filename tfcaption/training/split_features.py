"""Image features of a dataset's train/val/test splits, cached once for training and read back."""

import json
import os

import numpy as np

from tfcaption.backbones.image_encoder_dir import (encoder_name, image_features,
                                                   load_image_encoder)
from tfcaption.data.caption_pipeline import CaptionPipeline
from tfcaption.data.feature_cache import FeatureCache
from tfcaption.data.feature_reader import META_FILE
from tfcaption.kill_point import kill_point


def data_splits(data):
    """The ``[train, val, test]`` split names of an hparams ``data`` section."""
    return [data["train_split"], data["val_split"], data["test_split"]]


def cache_split_features(encoder, data, features_dir, batch_size=64, verbose=1,
                         jit_compile=False, feature_rank=1):
    """Caches the image features of ``encoder`` (a ``LoadedBackbone``: a CLIP image tower
    or a CNN, :func:`image_features`) for the train/val/test splits of ``data`` in
    ``features_dir`` (resumable, :class:`FeatureCache`); returns the size of the one
    feature vector per image (other shapes are an error), or with ``feature_rank`` > 1
    the shape of each image's features (e.g. a region grid ``[7, 7, 2048]``, rank 3).
    The cache records
    :func:`encoder_name`, so every trainer using the same encoder can share it."""
    cache = FeatureCache(features_dir, image_features(encoder, jit_compile=jit_compile),
                         encoder.preprocessor, encoder_name=encoder_name(encoder),
                         batch_size=batch_size)
    for split in data_splits(data):
        cache.build(data["dir"], split, verbose=verbose)
    kill_point("features_cached")
    with open(os.path.join(features_dir, META_FILE)) as f:
        shape = json.load(f)["feature_shape"]
    if len(shape) != feature_rank:
        expected = "one feature vector" if feature_rank == 1 else f"rank-{feature_rank} features"
        raise ValueError(f"{features_dir}: cached features have shape {shape}, expected "
                         f"{expected} per image")
    return int(shape[0]) if feature_rank == 1 else [int(d) for d in shape]


def encode_splits(spec, data, workdir, verbose=1, feature_rank=1):
    """A trainer's image encoder (``spec``: its ``model.image_encoder``) and the features of
    its train/val/test splits cached in ``data.features_dir`` (default
    ``workdir/features``; :func:`cache_split_features`): ``(encoder, features_dir, feature
    size or shape)``."""
    encoder = load_image_encoder(spec)
    features_dir = data["features_dir"] or os.path.join(workdir, "features")
    shape = cache_split_features(encoder, data, features_dir, verbose=verbose,
                                 jit_compile=True, feature_rank=feature_rank)
    return encoder, features_dir, shape


def eval_features(data, split, features_dir, limit=None):
    """Cached features, image ids and references of a split, in record order."""
    pipe = CaptionPipeline(data["dir"], split=split, mode="eval", features_dir=features_dir,
                           shuffle_buffer=0, deterministic=True)
    feats, ids, refs = [], [], []
    for batch in pipe.dataset(256):
        feats.append(batch["features"].numpy())
        ids += [i.decode() for i in batch["image_id"].numpy()]
        refs += [[c.decode() for c in row if c] for row in batch["captions"].numpy()]
        if limit is not None and len(ids) >= limit:
            break
    feats = np.concatenate(feats)
    if limit is not None:
        feats, ids, refs = feats[:limit], ids[:limit], refs[:limit]
    return feats, ids, refs
