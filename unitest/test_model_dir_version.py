"""Model-dir format_version and the generic captioner loader's dispatch and errors."""

import json
import os
import re
import shutil

import pytest
from tiny_captioner import CLIP_SHAPES, make_tiny_clipcap_dir

from tfcaption.backbones.clip_loader import load_clip
from tfcaption.backbones.model_dir import FORMAT_VERSION, read_model_dir_config
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.models.clipcap.clipcap_model_dir import load_clipcap
from tfcaption.models.load_captioner import load_captioner


@pytest.fixture(scope="module")
def model_dir(shapes_dir, tmp_path_factory):
    return make_tiny_clipcap_dir(str(tmp_path_factory.mktemp("tiny") / "model"), shapes_dir)


def _copy_with_version(src, dst, version):
    shutil.copytree(src, dst)
    path = os.path.join(dst, "config.json")
    payload = json.load(open(path))
    if version is None:
        payload.pop("format_version", None)
    else:
        payload["format_version"] = version
    with open(path, "w") as f:
        json.dump(payload, f)
    return str(dst)


def test_saved_dirs_carry_format_version_1(model_dir):
    assert FORMAT_VERSION == 1
    for sub in ("", "image_encoder"):
        payload = json.load(open(os.path.join(model_dir, sub, "config.json")))
        assert payload["format_version"] == 1, sub


def test_dirs_written_before_versioning_read_as_version_1(model_dir, tmp_path):
    unversioned = _copy_with_version(CLIP_SHAPES, tmp_path / "clip", None)
    assert "format_version" not in json.load(open(os.path.join(unversioned, "config.json")))
    assert load_clip(unversioned).model_type == "clip"
    old = _copy_with_version(model_dir, tmp_path / "old", None)
    assert "format_version" not in read_model_dir_config(old)
    assert isinstance(load_captioner(old, jit_compile=False), ClipCapCaptioner)


@pytest.mark.parametrize("version", [2, "1", 0, True, [1]])
def test_unsupported_versions_fail_naming_dir_version_and_supported(model_dir, tmp_path,
                                                                    version):
    bad = _copy_with_version(model_dir, tmp_path / "bad", version)
    expected = (f"{tmp_path / 'bad'}/config.json: model dir format_version {version!r} is "
                f"not supported; this tfcaption reads format version 1")
    for load in (load_captioner, load_clipcap):
        with pytest.raises(ValueError, match=re.escape(expected)):
            load(bad)


def test_newer_version_says_to_upgrade(model_dir, tmp_path):
    bad = _copy_with_version(model_dir, tmp_path / "newer", 7)
    with pytest.raises(ValueError,
                       match=r"format_version 7 .*\(written by a newer tfcaption: upgrade"):
        load_captioner(bad)
    encoder = _copy_with_version(os.path.join(model_dir, "image_encoder"),
                                 tmp_path / "encoder", 2)
    with pytest.raises(ValueError, match="encoder/config.json: model dir format_version 2"):
        load_clip(encoder)


def test_load_captioner_dispatches_on_the_model_type(model_dir):
    captioner = load_captioner(model_dir, jit_compile=False)
    assert isinstance(captioner, ClipCapCaptioner) and captioner.image_encoder is not None


def test_load_captioner_rejects_dirs_that_are_not_captioners(model_dir, tmp_path):
    with pytest.raises(ValueError, match=r"clip_shapes is not a captioner model dir: its "
                       r"tfcaption_model_type is 'clip' \(a backbone, which cannot caption "
                       r"on its own\); captioner model types: 'attend_gan', 'clipcap'"):
        load_captioner(CLIP_SHAPES)
    unknown = _copy_with_version(model_dir, tmp_path / "unknown", 1)
    payload = json.load(open(os.path.join(unknown, "config.json")))
    payload["tfcaption_model_type"] = "show_and_guess"
    json.dump(payload, open(os.path.join(unknown, "config.json"), "w"))
    with pytest.raises(ValueError, match=r"'show_and_guess' \(an unknown model type\); "
                                         r"captioner model types: 'attend_gan', 'clipcap'"):
        load_captioner(unknown)
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match=r"hf is not a captioner model dir: .*config.json "
                                         r"has no 'tfcaption_model_type'"):
        load_captioner(str(hf))
    with pytest.raises(FileNotFoundError, match="empty is not a tfcaption model dir: missing"):
        (tmp_path / "empty").mkdir()
        load_captioner(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="model dir not found"):
        load_captioner(str(tmp_path / "nowhere"))
