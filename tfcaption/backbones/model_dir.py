"""The tfcaption model-dir format for backbones: ``config.json`` + ``model.weights.h5`` + extras.

``config.json`` holds ``{"tfcaption_model_type": ..., "keras": <serialized model>,
"preprocessor": <ImagePreprocessor config or null>, "config": {...}}``. Tokenizer files are
written next to it by the caller. Directories are written atomically: into a temporary
sibling that replaces the target only when complete.
"""

import json
import os
import shutil
import tempfile

import keras

from tfcaption.backbones.checkpoint_reader import read_json
from tfcaption.data.image_preprocessor import ImagePreprocessor

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
TYPE_KEY = "tfcaption_model_type"


def is_model_dir(path) -> bool:
    """True when ``path`` is a tfcaption model dir (not a Hugging Face checkpoint)."""
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
        return False
    return TYPE_KEY in read_json(config_path)


def save_model_dir(out_dir, model_type, model, preprocessor=None, config=None,
                   write_extra=None):
    """Writes ``model`` as a model dir; ``write_extra(tmp_dir)`` adds tokenizer files."""
    out_dir = os.path.abspath(os.fspath(out_dir))
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(out_dir) + "-", dir=parent)
    try:
        model.save_weights(os.path.join(tmp, WEIGHTS_FILE))
        payload = {
            TYPE_KEY: model_type,
            "keras": keras.saving.serialize_keras_object(model),
            "preprocessor": preprocessor.get_config() if preprocessor else None,
            "config": config or {},
        }
        with open(os.path.join(tmp, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
        if write_extra is not None:
            write_extra(tmp)
        if os.path.exists(out_dir):
            old = tempfile.mkdtemp(prefix=".old-", dir=parent)
            os.replace(out_dir, os.path.join(old, "dir"))
            os.replace(tmp, out_dir)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def load_model_dir(path, expected_types=None):
    """Reads a model dir -> ``(model, model_type, preprocessor or None, config dict)``."""
    path = os.fspath(path)
    payload = read_json(os.path.join(path, CONFIG_FILE))
    model_type = payload.get(TYPE_KEY)
    if expected_types and model_type not in expected_types:
        raise ValueError(f"{path}/{CONFIG_FILE}: model type {model_type!r} is not one of "
                         f"{sorted(expected_types)}")
    for key in ("keras",):
        if key not in payload:
            raise ValueError(f"{path}/{CONFIG_FILE}: missing key {key!r}")
    weights = os.path.join(path, WEIGHTS_FILE)
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"missing file: {weights}")
    model = keras.saving.deserialize_keras_object(payload["keras"])
    model.load_weights(weights)
    preprocessor = payload.get("preprocessor")
    preprocessor = ImagePreprocessor.from_config(preprocessor) if preprocessor else None
    return model, model_type, preprocessor, payload.get("config", {})
