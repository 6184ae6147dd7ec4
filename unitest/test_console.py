"""What the commands print around their output: nothing by default (TensorFlow's logs and
other packages' warnings come back with ``-v 1``), and the train / evaluate summary."""

import os
import re
import subprocess
import sys

import pytest
from tiny_captioner import make_tiny_clipcap_dir

from tfcaption.console import requested_verbosity
from tfcaption.data.captions_file import read_captions_jsonl
from tfcaption.evaluation.run_summary import format_duration, run_summary, samples_from

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TensorFlow's C++ lines (I0000 ..., W0000 ..., E0000 ...), CUDA notices, Python warnings
NOISE = re.compile(r"^[IWEF]\d{4} |cuda|warning", flags=re.M | re.I)


@pytest.fixture(scope="module")
def model_dir(shapes_dir, tmp_path_factory):
    return make_tiny_clipcap_dir(str(tmp_path_factory.mktemp("tiny") / "model"), shapes_dir)


def caption(model_dir, image, *flags):
    env = dict(os.environ)
    for name in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS"):  # as a user's shell has them
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "tfcaption.caption", f"--model={model_dir}",
                           "--max_length=4", *flags, image], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env=env)


def test_a_command_prints_only_its_output_and_v1_brings_tensorflow_logs_back(model_dir,
                                                                             shapes_dir):
    image = os.path.join(shapes_dir, read_captions_jsonl(
        os.path.join(shapes_dir, "captions.jsonl"), "test")[0]["image"])
    quiet = caption(model_dir, image)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert not NOISE.search(quiet.stderr) and not NOISE.search(quiet.stdout), quiet.stderr
    line, = quiet.stdout.splitlines()
    assert line.startswith(image + "\t")

    loud = caption(model_dir, image, "-v", "1")
    assert loud.returncode == 0, loud.stderr[-3000:]
    assert re.search(r"^[IWE]0000 .*\.cc:\d+\] ", loud.stderr, flags=re.M), loud.stderr[-3000:]
    assert loud.stdout == quiet.stdout  # (--verbosity=1 is the same flag: see below)


@pytest.mark.parametrize("argv, expected", [
    (["train"], None),
    (["train", "-v", "1"], 1),
    (["train", "-v=2", "--hparams=x"], 2),
    (["train", "--verbosity", "0"], 0),
    (["train", "--verbosity=1", "-v", "-1"], -1),  # the last one wins, as in absl
    (["train", "-v", "x"], None),  # absl reports it
    (["caption", "--", "-v", "1"], None),
])
def test_requested_verbosity_reads_absl_s_flag_before_absl_does(argv, expected):
    assert requested_verbosity(argv) == expected


def test_run_summary_shows_the_key_metrics_samples_and_files():
    metrics = {
        "num_images": 250, "num_unreadable": 1,
        "coco": {"Bleu_4": 0.7654, "METEOR": 0.5, "CIDEr": 4.1, "SPICE": None,
                 "SPICE_unavailable": "no jars", "ROUGE_L": 0.8},
        "clip_score": {"CLIPScore": None, "RefCLIPScore": None},
        "diversity": {"distinct_1": 0.1},
        "shapes": {"all_correct": 0.928, "object_recall": 0.963},
        "settings": {"split": "test", "data_dir": "data/shapes",
                     "decoding": {"method": "greedy"}},
        "final_loss": 0.5, "final_val_loss": 0.45,
    }
    samples = samples_from({"test_1": "a red circle", "test_22": "a blue star"},
                           {"test_1": ["a small red circle", "x"], "test_22": ["a blue star"]})
    text = run_summary(metrics, samples, [("runs/x/metrics.json", "all metrics")], 432.4)
    assert text == (
        "Split test of data/shapes: 250 images, greedy decoding (1 unreadable images "
        "skipped)\n"
        "  BLEU-4                0.7654\n"
        "  METEOR                0.5000\n"
        "  CIDEr-D               4.1000\n"
        "  shapes all_correct    0.9280\n"
        "  shapes object_recall  0.9630\n"
        "  final loss            0.5000\n"
        "  final val loss        0.4500\n"
        "  time                  7 min 12 s\n"
        "Sample captions:\n"
        "  test_1   a red circle\n"
        "           (reference: a small red circle)\n"
        "  test_22  a blue star\n"
        "           (reference: a blue star)\n"
        "Wrote runs/x/metrics.json (all metrics)\n")
    retrieval = run_summary({"R@1": 0.8, "R@5": 1.0, "num_images": 250, "num_candidates": 250,
                             "final_train_loss": 1.25})
    assert retrieval.splitlines() == [
        "Image-to-text retrieval: 250 test images, 250 candidate captions",
        "  R@1         0.8000", "  R@5         1.0000", "  final loss  1.2500"]
    assert [format_duration(s) for s in (4.6, 65, 3725)] == ["5 s", "1 min 05 s",
                                                             "1 h 02 min"]
