"""SPICE availability is read from the files pycocoevalcap's SPICE needs."""

import os
import zipfile


from tfcaption.evaluation.spice_availability import (default_spice_dir, manifest_class_path,
                                                     required_spice_files,
                                                     spice_unavailable_reason)

CLASS_PATH = ["lib/stanford-corenlp-3.6.0.jar", "lib/ejml-0.23.jar",
              "lib/stanford-corenlp-3.6.0-models.jar", "lib/SceneGraphParser-1.0.jar"]


def _fake_spice_dir(root, class_path=CLASS_PATH, present=CLASS_PATH):
    """A spice/ folder with a spice-1.0.jar whose manifest lists ``class_path``
    (wrapped at 72 bytes, as Maven writes it) and the ``present`` lib files."""
    os.makedirs(os.path.join(root, "lib"), exist_ok=True)
    line = "Class-Path: " + " ".join(class_path)
    wrapped = [line[:70]] + [" " + line[k:k + 69] for k in range(70, len(line), 69)]
    manifest = "Manifest-Version: 1.0\r\n" + "\r\n".join(wrapped) + \
        "\r\nMain-Class: edu.anu.spice.SpiceScorer\r\n\r\n"
    with zipfile.ZipFile(os.path.join(root, "spice-1.0.jar"), "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", manifest)
    for name in present:
        with open(os.path.join(root, name), "wb") as f:
            f.write(b"jar")
    return str(root)


def test_manifest_class_path_unwraps_continuation_lines(tmp_path):
    spice_dir = _fake_spice_dir(tmp_path)
    assert manifest_class_path(os.path.join(spice_dir, "spice-1.0.jar")) == CLASS_PATH


def test_complete_layout_is_available(tmp_path):
    assert spice_unavailable_reason(_fake_spice_dir(tmp_path)) is None


def test_missing_corenlp_models_jar_is_named(tmp_path):
    spice_dir = _fake_spice_dir(tmp_path, present=[p for p in CLASS_PATH if "models" not in p])
    reason = spice_unavailable_reason(spice_dir)
    assert reason is not None
    assert os.path.join(spice_dir, "lib", "stanford-corenlp-3.6.0-models.jar") in reason
    assert "ejml" not in reason


def test_any_class_path_jar_counts(tmp_path):
    spice_dir = _fake_spice_dir(tmp_path, present=CLASS_PATH[:-1])
    assert "SceneGraphParser-1.0.jar" in spice_unavailable_reason(spice_dir)


def test_missing_spice_jar_still_names_the_corenlp_jars(tmp_path):
    reason = spice_unavailable_reason(str(tmp_path))
    assert "spice-1.0.jar" in reason and "stanford-corenlp-3.6.0.jar" in reason
    assert "stanford-corenlp-3.6.0-models.jar" in reason


def test_no_java_is_a_reason(tmp_path, monkeypatch):
    spice_dir = _fake_spice_dir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert "Java" in spice_unavailable_reason(spice_dir)


def test_installed_package_checks_its_real_files():
    files = required_spice_files()
    assert files[0] == os.path.join(default_spice_dir(), "spice-1.0.jar")
    assert os.path.isfile(files[0])  # shipped with pycocoevalcap
    assert os.path.join(default_spice_dir(), "lib", "stanford-corenlp-3.6.0.jar") in files
    reason = spice_unavailable_reason()
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        assert reason is not None and all(m in reason for m in missing)
    else:  # every jar is installed: nothing to report
        assert reason is None
