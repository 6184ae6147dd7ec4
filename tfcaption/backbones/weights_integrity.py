"""Integrity of a model dir's weights: SHA-256 and size recorded at save, checked at load.

``config.json`` of a model dir records its sibling weights file under :data:`FILES_KEY`::

    "files": {"model.weights.h5": {"sha256": "<64 hex digits>", "size": <bytes>}}

:func:`record_files` computes that entry when the dir is written; :func:`verify_files`
checks the size, then the checksum, before the weights are read, and raises ``ValueError``
naming the file and what is wrong. A dir written before checksums were recorded loads
unchecked, with one warning per dir and process. :func:`load_weights` turns any error of
reading the weights (h5py's ``OSError``/``RuntimeError``/``KeyError``, Keras's mismatch
``ValueError``) into a ``ValueError`` naming the file.

Files are hashed in chunks of :data:`CHUNK_BYTES`, so a large weights file is never read
into memory at once.
"""

import hashlib
import os
import re
import threading
import warnings

FILES_KEY = "files"
CHUNK_BYTES = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_RESTORE = ("restore the model dir from where it came from (copy, convert or train it "
            "again)")
_warned_dirs = set()
_warned_lock = threading.Lock()


def file_sha256(path) -> str:
    """The SHA-256 hex digest of the file ``path``, read in chunks of :data:`CHUNK_BYTES`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        buffer = bytearray(CHUNK_BYTES)
        view = memoryview(buffer)
        while True:
            count = f.readinto(buffer)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


def record_files(directory, names) -> dict:
    """``{name: {"sha256", "size"}}`` for the files ``names`` of ``directory``: the
    :data:`FILES_KEY` entry of its ``config.json``."""
    return {name: {"sha256": file_sha256(os.path.join(directory, name)),
                   "size": os.path.getsize(os.path.join(directory, name))}
            for name in names}


def verify_files(directory, payload, config_file, required=()):
    """Checks the files recorded under :data:`FILES_KEY` in ``payload`` (the parsed
    ``config_file`` of ``directory``): size first, then SHA-256.

    Raises ``ValueError`` naming the file when its size or checksum differs from the
    record, or naming ``config_file`` when the record is malformed; ``FileNotFoundError``
    when a recorded file is missing. A name of ``required`` that has no record (a dir
    written before checksums were recorded) is read unchecked, with one warning per dir
    and process.
    """
    directory = os.fspath(directory)
    records = payload.get(FILES_KEY)
    if records is None:
        records = {}
    if not isinstance(records, dict):
        raise ValueError(f"{config_file}: {FILES_KEY!r} must map file names to "
                         f"{{\"sha256\", \"size\"}}, got {type(records).__name__}")
    for name, record in records.items():
        _check_record(name, record, config_file)
        _verify_file(os.path.join(directory, name), record, config_file)
    unrecorded = [name for name in required if name not in records]
    if unrecorded:
        _warn_unverified(directory, unrecorded, config_file)


def load_weights(model, path, config_file):
    """``model.load_weights(path)``; any error of reading it becomes a ``ValueError``
    naming ``path`` (a missing file stays ``FileNotFoundError``)."""
    try:
        model.load_weights(path)
    except FileNotFoundError:
        raise
    except (OSError, RuntimeError, KeyError, IndexError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a readable Keras weights file, the file is corrupt "
                         f"or truncated ({_describe(error)}); {_RESTORE}") from None
    except ValueError as error:
        raise ValueError(f"{path}: the weights do not fit the model that {config_file} "
                         f"describes ({_describe(error)})") from None


def _check_record(name, record, config_file):
    if not isinstance(name, str) or not name or os.path.basename(name) != name \
            or name in (".", ".."):
        raise ValueError(f"{config_file}: {FILES_KEY!r} names {name!r}, which is not a file "
                         f"name inside the model dir")
    if not isinstance(record, dict) or not isinstance(record.get("sha256"), str) \
            or not _SHA256.match(record["sha256"]) or isinstance(record.get("size"), bool) \
            or not isinstance(record.get("size"), int) or record["size"] < 0:
        raise ValueError(f"{config_file}: the {FILES_KEY!r} record of {name!r} must be "
                         f"{{\"sha256\": <64 lowercase hex digits>, \"size\": <bytes>}}, got "
                         f"{record!r}")


def _verify_file(path, record, config_file):
    config_name = os.path.basename(config_file)
    try:
        size = os.path.getsize(path)
        if size != record["size"]:
            raise ValueError(f"{path}: the file is {size} bytes but {config_name} recorded "
                             f"{record['size']} bytes at save time (the file is truncated "
                             f"or was changed); {_RESTORE}")
        if file_sha256(path) != record["sha256"]:
            raise ValueError(f"{path}: SHA-256 does not match the one recorded in "
                             f"{config_name} at save time (the file is corrupt or was "
                             f"changed); {_RESTORE}")
    except FileNotFoundError:
        raise FileNotFoundError(f"missing file: {path} (recorded in {config_file})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read the file ({_describe(error)})") from None


def _warn_unverified(directory, names, config_file):
    key = os.path.abspath(directory)
    with _warned_lock:
        if key in _warned_dirs:
            return
        _warned_dirs.add(key)
    files = ", ".join(os.path.join(directory, n) for n in names)
    warnings.warn(f"{files}: loaded without an integrity check: {config_file} records no "
                  f"SHA-256 (a model dir written before tfcaption recorded checksums); save "
                  f"the model dir again to record one", stacklevel=3)


def _describe(error) -> str:
    text = str(error).strip()
    if isinstance(error, KeyError) and len(error.args) == 1:
        text = str(error.args[0])
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
