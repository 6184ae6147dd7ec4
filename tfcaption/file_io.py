"""Bottom-layer file helpers every layer uses: JSON reading that names the file, atomic writes."""

import json
import os
import tempfile

from tfcaption.data.malformed_source_error import MalformedSourceError


def load_json(path: str):
    """Reads a whole JSON file; raises MalformedSourceError naming it when invalid."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MalformedSourceError(f"{path}: not valid JSON ({e})") from None


def read_json(path):
    """Loads a JSON file, naming it in the error when it is missing or malformed."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"missing file: {path}")
    return load_json(path)


def atomic_write_text(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file and a rename, with the
    permissions a plain ``open(path, "w")`` would give it."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write(path: str, write) -> None:
    """Calls ``write(binary file)`` on a temporary file next to ``path``, then renames it
    to ``path`` (the permissions a plain ``open(path, "wb")`` would give it); on any
    error the temporary file is removed and ``path`` is untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates it 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def current_umask() -> int:
    """The process's file-creation mask (read without changing it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
