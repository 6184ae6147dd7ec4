"""Bottom-layer file helpers: JSON errors name the file; atomic writes keep plain permissions."""

import os
import stat

import pytest

from tfcaption.data.malformed_source_error import MalformedSourceError
from tfcaption.file_io import atomic_write_text, current_umask, read_json


def test_atomic_write_gives_the_permissions_of_a_plain_write(tmp_path):
    path = tmp_path / "vocab.txt"
    atomic_write_text(str(path), "a\nb\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert path.read_text() == "a\nb\n"
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == stat.S_IMODE(os.stat(plain).st_mode) == 0o666 & ~current_umask()
    assert sorted(os.listdir(tmp_path)) == ["plain.txt", "vocab.txt"]  # no temporary left


def test_read_json_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing file: .*none.json"):
        read_json(str(tmp_path / "none.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(MalformedSourceError, match=f"{bad}: not valid JSON"):
        read_json(str(bad))
