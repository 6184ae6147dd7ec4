"""Encoded image bytes -> a model's preprocessed input, with one error message naming the
image when they are not a readable image.

The one place image bytes become model input for the ``caption`` and ``evaluate``
commands (:mod:`tfcaption.data.image_files` reads the file, then calls
:func:`preprocess_image_bytes`) and for the web demo (uploaded bytes, never written to
disk).
"""

import re

import tensorflow as tf

_OP_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*")
_OP_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\].*$")


def error_reason(message: str) -> str:
    """The first line of a TensorFlow error message without its op decorations."""
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    text = _OP_SUFFIX.sub("", _OP_NODE.sub("", lines[0] if lines else ""))
    return text or "unknown error"


def preprocess_image_bytes(data: bytes, preprocessor, label: str) -> tf.Tensor:
    """``preprocessor.from_bytes(data)``: float32 ``[S, S, 3]``.

    Raises ``ValueError`` ``"LABEL: not a readable image (REASON)"`` for empty bytes or
    bytes TensorFlow's decoder rejects (a text file, a truncated JPEG, ...); ``label``
    names the image (a path, an uploaded file's name) and is used for nothing else.
    """
    if not data:
        raise ValueError(f"{label}: not a readable image (empty file)")
    try:
        return preprocessor.from_bytes(tf.constant(data))
    except tf.errors.OpError as error:
        raise ValueError(f"{label}: not a readable image "
                         f"({error_reason(error.message)})") from None
