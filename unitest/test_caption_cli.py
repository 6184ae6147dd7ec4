"""``python -m tfcaption.caption``: inputs, output formats, bad files, huge images."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image
from tiny_captioner import make_tiny_clipcap_dir

from tfcaption.caption import format_result
from tfcaption.models.caption_files import caption_files
from tfcaption.models.load_captioner import load_captioner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
# Runs the command and reports its peak resident memory on stderr when it exits.
PEAK = ("import atexit, resource, runpy, sys\n"
        "atexit.register(lambda: print('peak_rss_mb', resource.getrusage("
        "resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr))\n"
        "sys.argv = ['caption'] + sys.argv[1:]\n"
        "runpy.run_module('tfcaption.caption', run_name='__main__', alter_sys=True)\n")


@pytest.fixture(scope="module")
def model_dir(shapes_dir, tmp_path_factory):
    return make_tiny_clipcap_dir(str(tmp_path_factory.mktemp("tiny") / "model"), shapes_dir)


@pytest.fixture(scope="module")
def captioner(model_dir):
    return load_captioner(model_dir)


@pytest.fixture(scope="module")
def eager_captioner(model_dir):
    """Without XLA: compiles faster for the in-process tests."""
    return load_captioner(model_dir, jit_compile=False)


@pytest.fixture(scope="module")
def images(shapes_dir, tmp_path_factory):
    """A folder of 4 test images (and a text file), a corrupt JPEG and a huge JPEG."""
    root = tmp_path_factory.mktemp("inputs")
    folder = root / "photos"
    folder.mkdir()
    tests = sorted(os.listdir(os.path.join(shapes_dir, "images", "test")))[:4]
    for name in tests:
        shutil.copy(os.path.join(shapes_dir, "images", "test", name), folder / name)
    (folder / "notes.txt").write_text("not an image, and skipped in folders")
    bad = root / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    huge = root / "huge.jpg"
    Image.new("RGB", (12000, 12000), (30, 90, 200)).save(huge, quality=90)
    return {"folder": str(folder), "files": [str(folder / n) for n in tests],
            "bad": str(bad), "huge": str(huge)}


def _run(args, code=None):
    argv = [sys.executable, "-c", code] if code else [sys.executable, "-m", "tfcaption.caption"]
    return subprocess.run(argv + args, capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=ENV)


def _errors(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_bad_files_are_reported_and_the_others_captioned_with_bounded_memory(model_dir,
                                                                           images):
    missing = os.path.join(images["folder"], "missing.png")
    res = _run([f"--model={model_dir}", "--max_length=5", "--batch_size=3", images["bad"],
                os.path.join(images["folder"], "*.jpg"), missing, images["huge"]], code=PEAK)
    assert res.returncode == 1, res.stderr[-3000:]
    errors = _errors(res.stderr)
    assert len(errors) == 2 and errors[0] == f"error: {missing}: no such file or directory"
    assert errors[1].startswith(f"error: {images['bad']}: not a readable image (Invalid JPEG")
    lines = res.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == images["files"] + [images["huge"]]
    assert all(len(line.split("\t")) == 2 for line in lines)
    # a full decode of the 12,000 x 12,000 JPEG alone would add more than 2 GB to the
    # command's peak without it (which depends on the machine's libraries and threads)
    peak = int(res.stderr.split("peak_rss_mb")[-1].split()[0])
    base = _run([f"--model={model_dir}", "--max_length=5", "--batch_size=3",
                 os.path.join(images["folder"], "*.jpg")], code=PEAK)
    assert base.returncode == 0, base.stderr[-3000:]
    base_peak = int(base.stderr.split("peak_rss_mb")[-1].split()[0])
    assert peak - base_peak < 600, f"peak memory {peak} MB, {base_peak} MB without the huge image"


def test_json_lines_from_a_directory_match_the_python_api(model_dir, images, captioner):
    res = _run([f"--model={model_dir}", "--json", "--decoding=beam", "--beam_size=3",
                "--num_captions=2", "--max_length=5", images["folder"]])
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["path"] for r in rows] == images["files"]  # sorted, notes.txt skipped
    expected = captioner.generate(images["files"], "beam", beam_size=3,
                                  num_return_sequences=2, max_length=5, return_scores=True)
    for row, captions, scores in zip(rows, expected["captions"], expected["scores"]):
        assert row["captions"] == captions and len(row["scores"]) == 2
        assert row["scores"] == pytest.approx(scores.tolist(), abs=1e-4)
        assert row["scores"][0] >= row["scores"][1]


def test_invalid_decoding_flags_fail_before_loading_the_model(images):
    res = _run(["--model=/nonexistent", "--decoding=top_p", "--top_p=2", images["bad"]])
    assert res.returncode != 0
    assert "DecodingConfig.top_p must be in (0, 1], got 2.0" in res.stderr
    assert "nonexistent" not in res.stderr


def test_caption_files_skips_unreadable_files_and_sampling_matches_generate(eager_captioner,
                                                                          images):
    captioner = eager_captioner
    paths = images["files"] + [images["bad"]] + images["files"][:2]
    results = list(caption_files(captioner, paths, "sample", batch_size=3, seed=5,
                                 top_k=20, max_length=5))
    assert [r["path"] for r in results] == paths
    assert set(results[4]) == {"path", "error"} and results[4]["path"] == images["bad"]
    assert results[4]["error"].startswith(f"{images['bad']}: not a readable image (Invalid")
    good = [r for r in results if "error" not in r]
    assert all(len(r["captions"]) == 1 and len(r["scores"]) == 1 for r in good)
    # seeded by (seed, index of the batch's first file): chunked == one generate call
    clean = images["files"] * 2
    chunked = [r["captions"][0] for r in caption_files(captioner, clean, "sample",
                                                        batch_size=3, seed=5, top_k=20,
                                                        max_length=5)]
    assert chunked == captioner.generate(clean, "sample", batch_size=3, seed=5, top_k=20,
                                         max_length=5)


def test_text_output_has_one_line_per_caption():
    result = {"path": "a.jpg", "captions": ["a red\tcircle", "two\nstars"], "scores": [-1, -2]}
    assert format_result(result, as_json=False) == "a.jpg\ta red circle\na.jpg\ttwo stars\n"
    assert json.loads(format_result(result, as_json=True)) == result


def test_a_flag_of_another_family_is_one_error_line(images):
    wgan = os.path.join(ROOT, "pretrained_models", "wgan_shapes")
    done = _run([f"--model={wgan}", "--weights_dtype=int8", images["files"][0]])
    assert done.returncode == 1 and done.stdout == ""
    assert _errors(done.stderr) == [f"error: --weights_dtype applies to clipcap models; {wgan} "
                                    f"is a wgan_gru model"], done.stderr
