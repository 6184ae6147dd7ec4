"""Reads image files into a model's preprocessed input, one failure per file.

Used where a bad file must not stop the others (the ``caption`` and ``evaluate``
commands): :func:`load_image_files` returns the images it could read and one error
message, naming the file, for each it could not.
"""

import os
from typing import List, Sequence, Tuple

import tensorflow as tf

from tfcaption.data.image_bytes import preprocess_image_bytes


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
    return preprocess_image_bytes(data, preprocessor, path)


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
