"""Writes any captioner as a serving SavedModel (image bytes in, captions out).

Layout of an export dir::

    saved_model.pb, variables/     the SavedModel; signature ``serving_default``:
                                   image_bytes tf.string [batch] ->
                                   captions tf.string [batch], scores tf.float32 [batch]
    assets.extra/tfcaption_export.json   what was exported: the decoding setting (fixed
                                   at export), XLA or not, the image preprocessing, the
                                   signature, the versions

The same JSON is stored in the SavedModel itself, as the string variable
``tfcaption_export`` (``tf.saved_model.load(path).tfcaption_export.numpy()``).
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

import tfcaption
from tfcaption.file_io import current_umask
from tfcaption.models.families import family_of_model_type
from tfcaption.serving.captioner_serving_module import (FAILED_SCORE, INPUT_NAME,
                                                        CaptionerServingModule)

INFO_DIR = "assets.extra"
INFO_FILE = "tfcaption_export.json"
SIGNATURE = "serving_default"


def export_info(module: CaptionerServingModule, preprocessor, source=None) -> dict:
    """The JSON-ready description of an export (see the module docstring)."""
    return {
        "format": "tfcaption-serving",
        "model_type": module.model_type,
        "source_model": source,
        "signature": {
            "name": SIGNATURE,
            "inputs": {INPUT_NAME: "tf.string [batch]: encoded JPEG, PNG, GIF or BMP"},
            "outputs": {"captions": "tf.string [batch]: UTF-8 captions",
                        "scores": "tf.float32 [batch]: the decoding score of each caption"},
        },
        "decoding": module.decoding.to_dict(),
        "jit_compile": module.jit_compile,
        "image_preprocessing": preprocessor.get_config(),
        "failed_image": {"caption": "", "score": str(FAILED_SCORE)},
        "tfcaption_version": tfcaption.__version__,
        "tensorflow_version": tf.__version__,
    }


def export_captioner(captioner, export_dir, decoding="greedy", jit_compile=True,
                   overwrite=False, source=None, **overrides) -> dict:
    """Exports ``captioner`` (any family's :class:`~tfcaption.models.captioner.Captioner`
    with an image encoder) to ``export_dir``, written whole or not at all.

    Args:
      captioner: the captioner, e.g. from ``load_captioner(model_dir)``; its family's
        serving module (the registry's ``serving_module``) builds the graph.
      export_dir: the output directory (for TensorFlow Serving, a numbered version dir
        such as ``exports/clipcap/1``).
      decoding: the decoding setting, fixed at export (method name, dict or
        ``DecodingConfig``; ``overrides`` set its fields).
      jit_compile: XLA for the image encoder and the decoding loop.
      overwrite: replace an existing non-empty ``export_dir``; otherwise that raises
        ``FileExistsError``.
      source: recorded as ``source_model`` (e.g. the model dir's path).

    Returns:
      The export description also written to ``assets.extra/tfcaption_export.json``.
    """
    export_dir = os.path.abspath(os.fspath(export_dir))
    if os.path.isfile(export_dir) or (os.path.isdir(export_dir) and os.listdir(export_dir)
                                      and not overwrite):
        raise FileExistsError(f"{export_dir} already exists and is not empty (pass "
                              f"overwrite=True / --overwrite to replace it)")
    family = family_of_model_type(captioner.model_type, source=type(captioner).__name__)
    module = family.serving(captioner, decoding, jit_compile=jit_compile, **overrides)
    info = export_info(module, captioner.preprocessor, source)
    text = json.dumps(info, indent=1)
    module.tfcaption_export = tf.Variable(text, trainable=False, dtype=tf.string,
                                          name="tfcaption_export")
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-" + os.path.basename(export_dir) + "-", dir=parent)
    try:
        tf.saved_model.save(module, tmp, signatures={SIGNATURE: module.serving_signature()})
        os.makedirs(os.path.join(tmp, INFO_DIR), exist_ok=True)
        with open(os.path.join(tmp, INFO_DIR, INFO_FILE), "w", encoding="utf-8") as f:
            f.write(text + "\n")
        _replace_dir(tmp, export_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def _replace_dir(new, target):
    """Moves directory ``new`` to ``target`` (replacing it), with default permissions."""
    os.chmod(new, 0o777 & ~current_umask())  # mkdtemp creates it 0700
    if os.path.exists(target):
        old = tempfile.mkdtemp(prefix=".old-", dir=os.path.dirname(target))
        os.replace(target, os.path.join(old, "dir"))
        os.replace(new, target)
        shutil.rmtree(old)
    else:
        os.replace(new, target)


def read_export_info(export_dir) -> dict:
    """The description written by :func:`export_captioner` (no TensorFlow needed)."""
    path = os.path.join(os.fspath(export_dir), INFO_DIR, INFO_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"not a tfcaption serving export: missing {path}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)
