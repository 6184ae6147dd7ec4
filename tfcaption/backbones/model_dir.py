"""The tfcaption model-dir format for backbones: ``config.json`` + ``model.weights.h5`` + extras.

``config.json`` holds ``{"tfcaption_model_type": ..., "format_version": 1,
"keras": <serialized model>, "preprocessor": <ImagePreprocessor config or null>,
"config": {...}, "files": {"model.weights.h5": {"sha256": ..., "size": ...}}}``.
Tokenizer files are written next to it by the caller.
``format_version`` is the version of this layout (:data:`FORMAT_VERSION`); a dir without
it was written before versioning and reads as version 1; a version this tfcaption does
not read (:data:`SUPPORTED_FORMAT_VERSIONS`) fails with an error naming it.

``files`` records the SHA-256 and size of the weights at save time; loading checks both
before reading the weights (:mod:`tfcaption.backbones.weights_integrity`), so a truncated
or changed file fails with a ``ValueError`` naming it. A dir written before checksums
were recorded loads unchecked, with a warning. Every problem reading ``config.json`` or the
weights (invalid JSON, a missing section, an unreadable HDF5 file) is a ``ValueError``
naming the file.

Directories are written atomically: into a temporary sibling that replaces the target
only when complete, with the permissions a plain ``os.mkdir`` would give it.

:func:`load_backbone_dir` is the model-dir branch shared by the backbone loaders.
"""

import json
import os
import shutil
import tempfile

import keras

from tfcaption.file_io import current_umask, read_json
from tfcaption.kill_point import kill_point
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.data.image_preprocessor import preprocessor_from_config
from tfcaption.backbones.weights_integrity import (FILES_KEY, load_weights, record_files,
                                                 verify_files)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
TYPE_KEY = "tfcaption_model_type"
VERSION_KEY = "format_version"
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)


def is_model_dir(path) -> bool:
    """True when ``path`` is a tfcaption model dir (not a Hugging Face checkpoint)."""
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
        return False
    return TYPE_KEY in read_json(config_path)


def format_version(payload, path) -> int:
    """The ``format_version`` of a parsed ``config.json`` (1 when absent), checked.

    Raises ``ValueError`` naming ``path``, the version found and the versions this
    tfcaption reads when it is not one of :data:`SUPPORTED_FORMAT_VERSIONS`.
    """
    version = payload.get(VERSION_KEY, 1)
    if isinstance(version, bool) or version not in SUPPORTED_FORMAT_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_FORMAT_VERSIONS)
        newer = isinstance(version, int) and not isinstance(version, bool) and \
            version > max(SUPPORTED_FORMAT_VERSIONS)
        hint = " (written by a newer tfcaption: upgrade tfcaption to read it)" if newer else ""
        raise ValueError(f"{os.path.join(os.fspath(path), CONFIG_FILE)}: model dir "
                         f"{VERSION_KEY} {version!r} is not supported; this tfcaption reads "
                         f"format version {supported}{hint}")
    return int(version)


def read_model_dir_config(path) -> dict:
    """The parsed ``config.json`` of the model dir ``path``, its format version checked
    (:func:`format_version`)."""
    config_path = os.path.join(os.fspath(path), CONFIG_FILE)
    try:
        payload = read_json(config_path)
    except FileNotFoundError:
        raise
    except OSError as error:  # a directory, no permission, an I/O error
        raise ValueError(f"{config_path}: cannot read the file ({error})") from None
    if not isinstance(payload, dict):
        raise ValueError(f"{config_path}: expected a JSON object, got "
                         f"{type(payload).__name__}")
    format_version(payload, path)
    return payload


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
            VERSION_KEY: FORMAT_VERSION,
            "keras": keras.saving.serialize_keras_object(model),
            "preprocessor": preprocessor.get_config() if preprocessor else None,
            "config": config or {},
            FILES_KEY: record_files(tmp, [WEIGHTS_FILE]),
        }
        with open(os.path.join(tmp, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
        if write_extra is not None:
            write_extra(tmp)
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp creates it 0700
        kill_point("model_dir_written")
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


# Serialised dtype policies that set only compute and variable dtypes (not quantised ones).
PLAIN_POLICIES = ("DTypePolicy", "FloatDTypePolicy")


def session_dtype(serialized):
    """A serialised Keras object with every plain dtype policy (``"dtype": {"class_name":
    "DTypePolicy", ...}``, at any depth) replaced by None, so that the object is built
    under the session's global policy (``keras.config.dtype_policy()``): the policy a
    model was saved under (float32 for a float32 session) says how that session computed,
    not how this one does; weights are float32 under every plain policy."""
    if isinstance(serialized, list):
        return [session_dtype(value) for value in serialized]
    if not isinstance(serialized, dict):
        return serialized
    return {key: None if key == "dtype" and isinstance(value, dict)
            and value.get("class_name") in PLAIN_POLICIES else session_dtype(value)
            for key, value in serialized.items()}


def load_model_dir(path, expected_types=None, expected_class=None):
    """Reads a model dir -> ``(model, model_type, preprocessor or None, config dict)``.

    The model is built under the session's global dtype policy (:func:`session_dtype`):
    under ``train.mixed_precision`` a loaded model computes in that policy as a model
    built in the run does.

    ``expected_types``: allowed ``tfcaption_model_type`` values; ``expected_class``: the
    class the deserialised model must be an instance of. Either mismatch, a
    ``format_version`` this tfcaption does not read, a missing or malformed section of
    ``config.json``, weights whose size or SHA-256 differ from the ones recorded at save
    time, and weights that cannot be read raise ``ValueError`` naming the file; a missing
    ``config.json`` or weights file raises ``FileNotFoundError``.
    """
    path = os.fspath(path)
    config_path = os.path.join(path, CONFIG_FILE)
    payload = read_model_dir_config(path)
    model_type = payload.get(TYPE_KEY)
    if expected_types and model_type not in expected_types:
        raise ValueError(f"{config_path}: model type {model_type!r} is not one of "
                         f"{sorted(expected_types)}")
    for key, kinds, what in _SECTIONS:
        if key not in payload:
            raise ValueError(f"{config_path}: has no {key!r} section ({what}); the file is "
                             f"incomplete or was not written by tfcaption")
        if not isinstance(payload[key], kinds):
            raise ValueError(f"{config_path}: the {key!r} section must be {what}, got "
                             f"{type(payload[key]).__name__}")
    weights = os.path.join(path, WEIGHTS_FILE)
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"missing file: {weights}")
    verify_files(path, payload, config_path, required=(WEIGHTS_FILE,))
    try:
        model = keras.saving.deserialize_keras_object(session_dtype(payload["keras"]))
        preprocessor = payload["preprocessor"]
        preprocessor = preprocessor_from_config(preprocessor) if preprocessor else None
    except (ValueError, TypeError, KeyError, AttributeError, ImportError) as error:
        raise ValueError(f"{config_path}: cannot build the model it describes "
                         f"({type(error).__name__}: {error})") from None
    if expected_class is not None and not isinstance(model, expected_class):
        raise ValueError(f"{path}: holds a {type(model).__name__}, not a "
                         f"{expected_class.__name__}")
    load_weights(model, weights, config_path)
    return model, model_type, preprocessor, payload["config"]


# The sections of config.json every model dir has: key, allowed types, what it is.
_SECTIONS = (
    ("keras", dict, "the serialised Keras model, an object"),
    ("preprocessor", (dict, type(None)), "the image preprocessing, an object or null"),
    ("config", dict, "the model's settings, an object"),
)


def load_backbone_dir(path, model_type, model_class, load_tokenizer=None) -> LoadedBackbone:
    """A backbone model dir -> :class:`LoadedBackbone`.

    Args:
      path: the model dir.
      model_type: its required ``tfcaption_model_type``.
      model_class: the class the stored model must be.
      load_tokenizer: ``load_tokenizer(path, model)`` -> tokenizer (or ``None``); ``None``
        for image-only backbones.
    """
    model, model_type, preprocessor, config = load_model_dir(path, {model_type}, model_class)
    tokenizer = load_tokenizer(path, model) if load_tokenizer is not None else None
    return LoadedBackbone(model=model, model_type=model_type, preprocessor=preprocessor,
                          tokenizer=tokenizer, config=config)


def check_tokenizer_fits(tokenizer, vocabulary_size, source):
    """Raises ``ValueError`` when a token id of ``tokenizer`` has no row in a model
    embedding of ``vocabulary_size`` rows; returns ``tokenizer``."""
    top = max(tokenizer.vocabulary.values())
    if top >= vocabulary_size:
        raise ValueError(f"{source}: tokenizer id {top} does not fit the model's "
                         f"vocabulary of {vocabulary_size} ids")
    return tokenizer
