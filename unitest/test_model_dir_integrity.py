"""Model-dir integrity: weights checksums recorded at save and checked at load; every
corrupt weights file or config.json is a ValueError naming the file, also on the command line."""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import warnings

import pytest
from tiny_captioner import CLIP_SHAPES, ROOT
from tiny_gru_captioner import make_tiny_gru_dir

from tfcaption.backbones.clip_loader import load_clip
from tfcaption.models.load_captioner import load_captioner
from tfcaption.models.wgan.gru_captioner import GruCaptioner

WEIGHTS = "model.weights.h5"
ENCODER_WEIGHTS = os.path.join("image_encoder", WEIGHTS)
UNCHECKED = ".*loaded without an integrity check"  # the warning for a dir without checksums


@pytest.fixture(scope="module")
def model_dir(shapes_dir, tmp_path_factory):
    return make_tiny_gru_dir(str(tmp_path_factory.mktemp("tiny") / "model"), shapes_dir)


def _copy(model_dir, tmp_path, name="copy"):
    return shutil.copytree(model_dir, str(tmp_path / name))


def _strip_checksums(directory):
    """Makes ``directory`` (and its image encoder) look written before checksums."""
    for config in glob.glob(os.path.join(directory, "**", "config.json"), recursive=True):
        payload = json.load(open(config))
        payload.pop("files", None)
        with open(config, "w") as f:
            json.dump(payload, f, indent=1)


def _xor(path, start, stop):
    """Flips the bits of bytes ``[start, stop)`` in place (the size stays the same)."""
    with open(path, "r+b") as f:
        f.seek(start)
        chunk = f.read(stop - start)
        f.seek(start)
        f.write(bytes(b ^ 0x5A for b in chunk))


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _overwrite_middle(path):
    middle = os.path.getsize(path) // 2
    with open(path, "r+b") as f:
        f.seek(middle)
        f.write(b"\0" * 2048)


def _drop_config_section(directory):
    path = os.path.join(directory, "config.json")
    payload = json.load(open(path))
    del payload["config"]
    with open(path, "w") as f:
        json.dump(payload, f, indent=1)


# name -> (damage(dir), the file the error must name, what the error must say)
DAMAGE = {
    "garbled_header": (lambda d: _xor(os.path.join(d, WEIGHTS), 0, 64), WEIGHTS,
                       "SHA-256 does not match the one recorded in config.json at save time"),
    "garbled_metadata": (lambda d: _xor(os.path.join(d, WEIGHTS), 600, 1400), WEIGHTS,
                         "SHA-256 does not match the one recorded in config.json"),
    "truncated_weights": (lambda d: _truncate(os.path.join(d, WEIGHTS)), WEIGHTS,
                          "bytes at save time (the file is truncated or was changed)"),
    "truncated_encoder_weights": (lambda d: _truncate(os.path.join(d, ENCODER_WEIGHTS)),
                                  ENCODER_WEIGHTS, "(the file is truncated or was changed)"),
    "overwritten_in_place": (lambda d: _overwrite_middle(os.path.join(d, WEIGHTS)), WEIGHTS,
                             "SHA-256 does not match the one recorded in config.json"),
    "config_without_config_section": (_drop_config_section, "config.json",
                                      "has no 'config' section"),
}


def _load_error(directory):
    with pytest.raises(ValueError) as error:
        load_captioner(directory, jit_compile=False)
    return str(error.value)


def test_saved_dirs_record_size_and_sha256_of_their_weights(model_dir):
    for sub in ("", "image_encoder"):  # the captioner and its CLIP image encoder (save_clip)
        payload = json.load(open(os.path.join(model_dir, sub, "config.json")))
        data = open(os.path.join(model_dir, sub, WEIGHTS), "rb").read()
        assert payload["files"] == {WEIGHTS: {"sha256": hashlib.sha256(data).hexdigest(),
                                              "size": len(data)}}, sub


def test_shipped_model_dirs_record_checksums_of_their_unchanged_weights():
    configs = glob.glob(os.path.join(ROOT, "pretrained_models", "**", "config.json"),
                        recursive=True)
    checked = 0
    for config in configs:
        weights = os.path.join(os.path.dirname(config), WEIGHTS)
        if not os.path.isfile(weights):
            continue
        data = open(weights, "rb").read()
        assert json.load(open(config)).get("files") == {
            WEIGHTS: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}}, config
        checked += 1
    assert checked >= 9  # 4 captioners, their image encoders, clip_shapes


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damage_is_a_value_error_naming_the_file(model_dir, tmp_path, case):
    damage, name, says = DAMAGE[case]
    directory = _copy(model_dir, tmp_path)
    damage(directory)
    message = _load_error(directory)
    assert message.startswith(os.path.join(directory, name) + ": "), message
    assert says in message
    assert "image encoder" not in message  # never the old wrong diagnosis


@pytest.mark.filterwarnings(f"ignore:{UNCHECKED}")
@pytest.mark.parametrize("case", ["garbled_header", "garbled_metadata", "truncated_weights",
                                  "truncated_encoder_weights"])
def test_unreadable_weights_of_a_dir_without_checksums_name_the_file(model_dir, tmp_path, case):
    damage, name, _ = DAMAGE[case]
    directory = _copy(model_dir, tmp_path)
    _strip_checksums(directory)
    damage(directory)
    message = _load_error(directory)
    assert message.startswith(os.path.join(directory, name) + ": not a readable Keras "
                              "weights file, the file is corrupt or truncated ("), message
    assert "Traceback" not in message


def test_a_dir_written_before_checksums_loads_and_warns_once_per_dir(model_dir, tmp_path):
    directory = _copy(model_dir, tmp_path, "old")
    _strip_checksums(directory)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = load_captioner(directory, jit_compile=False)
        load_captioner(directory, jit_compile=False)
    unchecked = [str(w.message) for w in caught if "integrity check" in str(w.message)]
    assert len(unchecked) == 2, unchecked  # the captioner and its encoder, once each
    assert unchecked[0].startswith(os.path.join(directory, WEIGHTS) + ": loaded without")
    assert unchecked[1].startswith(os.path.join(directory, ENCODER_WEIGHTS) + ": loaded")
    assert isinstance(first, GruCaptioner) and first.image_encoder is not None


@pytest.mark.parametrize("files, says", [
    ({WEIGHTS: {"sha256": "abc", "size": 1}}, "record of 'model.weights.h5' must be"),
    ({"../model.weights.h5": {"sha256": "0" * 64, "size": 1}}, "not a file name inside"),
    ([WEIGHTS], "'files' must map file names"),
])
def test_a_malformed_checksum_record_names_config_json(model_dir, tmp_path, files, says):
    directory = _copy(model_dir, tmp_path)
    path = os.path.join(directory, "config.json")
    payload = json.load(open(path))
    payload["files"] = files
    json.dump(payload, open(path, "w"))
    message = _load_error(directory)
    assert message.startswith(path + ": ") and says in message, message


def test_a_changed_clip_model_dir_is_caught(tmp_path):
    directory = shutil.copytree(CLIP_SHAPES, str(tmp_path / "clip"))
    _overwrite_middle(os.path.join(directory, WEIGHTS))
    with pytest.raises(ValueError, match="SHA-256 does not match") as error:
        load_clip(directory)
    assert str(error.value).startswith(os.path.join(directory, WEIGHTS) + ": ")


def test_weights_are_hashed_in_chunks(tmp_path, monkeypatch):
    from tfcaption.backbones import weights_integrity

    data = os.urandom(10_000)
    path = tmp_path / "blob"
    path.write_bytes(data)
    reads = []
    real_open = open

    class Recording:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def readinto(self, buffer):
            reads.append(len(buffer))
            return self.f.readinto(buffer)

    monkeypatch.setattr(weights_integrity, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(weights_integrity, "open", lambda p, mode: Recording(real_open(p, mode)),
                        raising=False)
    assert weights_integrity.file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
    assert reads and max(reads) == 4096 and len(reads) == 4  # 3 chunks and the end


@pytest.mark.parametrize("case, old_format", [("overwritten_in_place", False),
                                              ("config_without_config_section", False),
                                              ("garbled_metadata", True)])
def test_caption_command_prints_one_error_line_naming_the_file(model_dir, shapes_dir, tmp_path,
                                                               case, old_format):
    damage, name, _ = DAMAGE[case]
    directory = _copy(model_dir, tmp_path)
    if old_format:
        _strip_checksums(directory)
    damage(directory)
    image = sorted(glob.glob(os.path.join(shapes_dir, "images", "test", "*")))[0]
    done = subprocess.run([sys.executable, "-m", "tfcaption.caption", f"--model={directory}",
                           image], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"error: {os.path.join(directory, name)}: "), done.stderr
    assert "Traceback" not in done.stderr
