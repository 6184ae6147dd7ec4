"""ATTEND-GAN captioning: attention maps from ``generate`` and ``tfcaption.caption --attention_dir``."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tiny_attend_gan import make_tiny_attend_gan_dir

from tfcaption.models.load_captioner import load_captioner

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


@pytest.fixture(scope="module")
def model_dir(shapes_dir, tmp_path_factory):
    return make_tiny_attend_gan_dir(str(tmp_path_factory.mktemp("attend") / "model"), shapes_dir)


@pytest.fixture(scope="module")
def images(shapes_dir):
    return sorted(glob.glob(os.path.join(shapes_dir, "images", "test", "*")))[:3]


def test_attention_maps_are_the_ones_decoding_used(model_dir, images):
    captioner = load_captioner(model_dir, jit_compile=False)
    out = captioner.generate(images, "greedy", return_attention=True, return_ids=True,
                             max_length=8)
    features = captioner.feature_inputs(images)
    generator = captioner.model
    for row, (ids, maps) in enumerate(zip(out["token_ids"], out["attention"])):
        ids = ids[0]
        assert maps.shape == (len(ids), 3, 3)
        np.testing.assert_allclose(maps.sum((1, 2)), 1.0, atol=1e-5)
        cache = generator.initial_cache(features[row:row + 1])
        token = tf.constant([captioner.vocabulary.start_id])
        for t, expected_id in enumerate(ids):  # the greedy loop, step by step
            logits, alpha, cache = generator.step(token, cache)
            assert int(tf.argmax(logits[0])) == expected_id
            np.testing.assert_allclose(maps[t].reshape(-1), alpha[0].numpy(), atol=1e-5)
            token = tf.constant([expected_id])
    several = captioner.generate(images[:1], "beam", beam_size=2, num_return_sequences=2,
                                 return_attention=True, max_length=8)
    assert len(several["attention"][0]) == 2  # one list of maps per returned caption


def test_caption_command_writes_one_attention_figure_per_image(model_dir, images, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    out_dir = tmp_path / "attention"
    result = subprocess.run(
        [sys.executable, "-m", "tfcaption.caption", f"--model={model_dir}",
         f"--attention_dir={out_dir}", "--max_length=8", *images, str(broken)],
        capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 1, result.stderr  # the broken file, reported
    assert "broken.jpg" in result.stderr and "Traceback" not in result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == images
    written = sorted(os.listdir(out_dir))
    assert written == sorted(os.path.splitext(os.path.basename(p))[0] + ".png" for p in images)
    for name, line in zip(written, lines):
        words = len(line.split("\t")[1].split()) + 1  # each word and <end> (when reached)
        figure = Image.open(out_dir / name)
        assert figure.width >= 160 * min(words, 5)


def test_attention_dir_is_refused_for_other_families(shapes_dir, tmp_path, images):
    from tiny_gru_captioner import make_tiny_gru_dir

    other = make_tiny_gru_dir(str(tmp_path / "gru"), shapes_dir)
    result = subprocess.run(
        [sys.executable, "-m", "tfcaption.caption", f"--model={other}",
         f"--attention_dir={tmp_path / 'x'}", images[0]],
        capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 1
    assert "--attention_dir applies to attend_gan models" in result.stderr
