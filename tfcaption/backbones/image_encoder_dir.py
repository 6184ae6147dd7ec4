"""Image feature encoders for the word-level captioners: an ImageNet CNN or a CLIP image tower.

An encoder is named by a spec, as in hparams::

    {"type": "cnn", "name": "resnet50_pooled", "weights": "imagenet", "image_size": 224}
    {"type": "cnn", "name": "densenet201_pooled", "weights": "densenet201_notop.h5",
     "preprocessing": "unit"}
    {"type": "clip", "path": "pretrained_models/clip_shapes"}
    {"type": "clip", "path": "pretrained_models/clip_shapes", "output": "grid"}

(``"output": "grid"``: a CLIP ResNet tower's region grid before its attention pool,
:func:`~tfcaption.backbones.clip_grid_encoder.clip_grid_encoder`)

or by the path of a model dir written by :func:`save_image_encoder` (type ``cnn``,
``clip`` or ``clip_resnet``). :func:`image_features` maps preprocessed images to one
feature vector per image with either kind.
"""

import os

import keras
import tensorflow as tf

from tfcaption.backbones.clip_grid_encoder import clip_grid_encoder
from tfcaption.backbones.clip_image_encoder import (LOADERS as CLIP_LOADERS,
                                                   load_clip_image_encoder,
                                                   save_clip_image_encoder)
from tfcaption.backbones.cnn_encoder import load_cnn_encoder
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.backbones.model_dir import (CONFIG_FILE, TYPE_KEY, load_model_dir,
                                           read_model_dir_config, save_model_dir)

SPEC_TYPES = ("cnn", "clip")
CLIP_OUTPUTS = ("embedding", "grid")
_CNN_KEYS = {"type", "name", "weights", "image_size", "preprocessing"}


def load_image_encoder(spec) -> LoadedBackbone:
    """A spec dict or a model dir path (see the module doc) -> :class:`LoadedBackbone`."""
    if isinstance(spec, (str, os.PathLike)):
        return _load_dir(os.fspath(spec))
    if not isinstance(spec, dict) or spec.get("type") not in SPEC_TYPES:
        raise ValueError(f"image encoder spec {spec!r}: expected a model dir path or a dict "
                         f"with \"type\" one of {SPEC_TYPES}")
    if spec["type"] == "clip":
        unknown = sorted(set(spec) - {"type", "path", "output"})
        if unknown or "path" not in spec:
            raise ValueError(f"image encoder spec {spec!r}: a \"clip\" encoder takes "
                             f"\"path\" and optionally \"output\" (unknown keys: {unknown})")
        output = spec.get("output", "embedding")
        if output not in CLIP_OUTPUTS:
            raise ValueError(f"image encoder spec {spec!r}: \"output\" must be one of "
                             f"{CLIP_OUTPUTS}, got {output!r}")
        loaded = load_clip_image_encoder(spec["path"])
        return clip_grid_encoder(loaded) if output == "grid" else loaded
    unknown = sorted(set(spec) - _CNN_KEYS)
    if unknown or "name" not in spec:
        raise ValueError(f"image encoder spec {spec!r}: a \"cnn\" encoder takes \"name\" "
                         f"and optionally \"weights\", \"image_size\", \"preprocessing\" "
                         f"(unknown keys: {unknown})")
    return load_cnn_encoder(spec["name"], weights=spec.get("weights"),
                            image_size=spec.get("image_size", 224),
                            preprocessing=spec.get("preprocessing"))


def _load_dir(path) -> LoadedBackbone:
    if not os.path.isfile(os.path.join(path, CONFIG_FILE)):
        raise FileNotFoundError(f"image encoder dir not found: {os.path.join(path, CONFIG_FILE)}"
                                f" is missing")
    model_type = read_model_dir_config(path).get(TYPE_KEY)
    if model_type in CLIP_LOADERS:
        return load_clip_image_encoder(path)
    if model_type != "cnn":
        raise ValueError(f"{path}: model type {model_type!r} is not an image encoder "
                         f"(cnn, {', '.join(sorted(CLIP_LOADERS))})")
    model, _, preprocessor, config = load_model_dir(path, {"cnn"}, keras.Model)
    return LoadedBackbone(model=model, model_type="cnn", preprocessor=preprocessor,
                          config=config)


def save_image_encoder(loaded: LoadedBackbone, out_dir) -> str:
    """Writes an encoder from :func:`load_image_encoder` as a model dir (atomically)."""
    if loaded.model_type == "cnn":
        return save_model_dir(out_dir, "cnn", loaded.model, preprocessor=loaded.preprocessor,
                              config=loaded.config)
    return save_clip_image_encoder(loaded, out_dir)


def image_features(loaded: LoadedBackbone, jit_compile=True):
    """A ``tf.function``: preprocessed images ``[B, H, W, 3]`` -> features ``[B, F]``."""
    forward = loaded.model.encode_image if loaded.model_type != "cnn" else loaded.model

    def encode(images):
        return tf.cast(forward(images, training=False), tf.float32)

    return tf.function(encode, jit_compile=jit_compile, reduce_retracing=True)


def encoder_name(loaded: LoadedBackbone) -> str:
    """The name a feature cache records for the encoder: ``"cnn:<name>"``, or
    ``"<clip type>:encode_image"`` as ClipCap's CLIP cache, so both can share a cache."""
    if loaded.model_type == "cnn":
        return f"cnn:{loaded.config.get('name', '')}"
    return f"{loaded.model_type}:encode_image"
