"""The README's ATTEND-GAN commands as written: the shapes recipe (smoke-sized unless
TFCAPTION_FULL_RECIPES=1; the recipe's targets are then asserted on the shipped model the
full command produced) and captioning with attention figures."""

import json
import os
import re

import pytest
from readme_checkpoint_commands import run_command
from readme_sections import section_command, smoke_recipe

from tfcaption.data import shapes
from tfcaption.data.dataset_writer import DatasetWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_RECIPES = os.environ.get("TFCAPTION_FULL_RECIPES") == "1"
SMOKE_FLAGS = {"hparams/attend_gan_shapes.json": (
    " --set train.pretrain_epochs=1 --set train.d_pretrain_epochs=1 --set train.epochs=1"
    " --set train.batch_size=16 --set train.curve_images=8 --set eval.batch_size=16")}
SHIPPED = os.path.join(ROOT, "pretrained_models", "attend_gan_shapes")


def recipe(cmd):
    return smoke_recipe(cmd, SMOKE_FLAGS)


def _command(word):
    return section_command("ATTEND-GAN", word)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory with ``hparams/``, ``pretrained_models/`` and ``data/shapes`` (the
    quick start's ``prepare``; smaller unless TFCAPTION_FULL_RECIPES=1)."""
    cwd = tmp_path_factory.mktemp("attend_gan_readme")
    for name in ("hparams", "pretrained_models"):
        os.symlink(os.path.join(ROOT, name), cwd / name)
    sizes = (2000, 250, 250, 224) if FULL_RECIPES else (64, 8, 8, 96)
    DatasetWriter(str(cwd / "data" / "shapes"), "shapes").write(
        shapes.generate(*sizes[:3], image_size=sizes[3], seed=0), verbose=False)
    return cwd


def check_gain(metrics):
    """The recipe's targets: the adversarial phase raises the reward (the start-of-phase
    discriminator's score of sampled test captions) over its own pre-training and does
    not lower the test CIDEr-D."""
    gain = metrics["adversarial_gain"]
    assert gain["adversarial"]["start"]["sampled"] > gain["pretrained"]["start"]["sampled"], gain
    assert gain["adversarial"]["cider_d"] >= gain["pretrained"]["cider_d"], gain


def test_shapes_recipe_trains_three_phases_and_reports_the_gain(workdir):
    cmd = _command("tfcaption.train")
    out = run_command(recipe(cmd), workdir, timeout=3600)
    run_dir = workdir / re.search(r"--workdir=(\S+)", cmd).group(1)
    assert f"Wrote {os.path.relpath(run_dir, workdir)}/metrics.json" in out
    metrics = json.load(open(run_dir / "metrics.json"))
    for phase in ("pretrain", "pretrain_d"):
        assert os.path.isfile(run_dir / phase / "generator.weights.h5")
    curve = metrics["curve"]
    assert len(curve["mle"]["val_cider_d"]) == (6 if FULL_RECIPES else 1)
    assert len(curve["adversarial"]["val_d_score"]) == 1
    gain = metrics["adversarial_gain"]
    for name in ("pretrained", "adversarial"):
        assert set(gain[name]) == {"cider_d", "start", "final"}
        assert all(0 < gain[name][judge][kind] < 1 for judge in ("start", "final")
                   for kind in ("sampled", "greedy"))
    check_gain(metrics if FULL_RECIPES else json.load(open(os.path.join(SHIPPED,
                                                                        "metrics.json"))))


def test_caption_command_writes_attention_figures(workdir):
    cmd = _command("--attention_dir")
    out = run_command(cmd, workdir)
    images = re.findall(r"(data/shapes/\S+\.jpg)", cmd)
    assert [line.split("\t")[0] for line in out.strip().splitlines()] == images
    out_dir = workdir / re.search(r"--attention_dir=(\S+)", cmd).group(1)
    assert sorted(os.listdir(out_dir)) == sorted(
        os.path.splitext(os.path.basename(p))[0] + ".png" for p in images)
