"""Reads image files into a model's preprocessed input, one failure per file.

Used where a bad file must not stop the others (the ``caption`` and ``evaluate``
commands): :func:`load_image_files` returns the images it could read and one error
message, naming the file, for each it could not.
"""

import os
import re
from typing import List, Sequence, Tuple

import tensorflow as tf


_OP_NODE = re.compile(r"\{\{function_node [^}]*\}\}\s*")
_OP_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\].*$")


def _reason(message: str) -> str:
    """The first line of a TensorFlow error message without its op decorations."""
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    text = _OP_SUFFIX.sub("", _OP_NODE.sub("", lines[0] if lines else ""))
    return text or "unknown error"


def load_image_file(path: str, preprocessor) -> tf.Tensor:
    """One image file -> ``preprocessor.from_bytes`` of its bytes (float32 ``[S, S, 3]``).

    Raises ``ValueError`` ``"PATH: not a readable image (REASON)"`` for a missing,
    unreadable or undecodable file (a directory, a text file, a truncated JPEG, ...).
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise ValueError(f"{path}: not a readable image ({error.strerror or error})") from None
    if not data:
        raise ValueError(f"{path}: not a readable image (empty file)")
    try:
        return preprocessor.from_bytes(tf.constant(data))
    except tf.errors.OpError as error:
        raise ValueError(f"{path}: not a readable image "
                         f"({_reason(error.message)})") from None


def load_image_files(paths: Sequence[str], preprocessor
                     ) -> Tuple[tf.Tensor, List[int], List[Tuple[int, str]]]:
    """Reads every file it can.

    Returns ``(images, readable, failures)``: ``images`` is float32
    ``[len(readable), S, S, 3]`` (``None`` when no file could be read), ``readable`` the
    indices into ``paths`` of its rows, ``failures`` ``(index, message)`` pairs, each
    message naming its file (see :func:`load_image_file`).
    """
    images, readable, failures = [], [], []
    for index, path in enumerate(paths):
        try:
            images.append(load_image_file(path, preprocessor))
            readable.append(index)
        except ValueError as error:
            failures.append((index, str(error)))
    return (tf.stack(images) if images else None), readable, failures
