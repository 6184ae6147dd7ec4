"""Huge JPEGs decode at reduced scale (bounded memory); normal images exactly as before."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfcaption.data import image_ops
from tfcaption.data.image_preprocessor import ImagePreprocessor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HUGE = 12000


@pytest.fixture(scope="module")
def huge_jpeg(tmp_path_factory):
    """A 12,000 x 12,000 flat-colour JPEG (about 2 MB on disk, 432 MB decoded)."""
    path = str(tmp_path_factory.mktemp("huge") / "huge.jpg")
    Image.new("RGB", (HUGE, HUGE), (200, 40, 30)).save(path, quality=90)
    return path


def _encoded(fmt, h, w, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return tf.constant(buffer.getvalue())


@pytest.mark.parametrize("fmt,h,w", [("JPEG", 480, 640), ("JPEG", 4096, 4096),
                                     ("PNG", 300, 200)])
def test_images_up_to_the_limit_decode_exactly_as_decode_image(fmt, h, w):
    data = _encoded(fmt, h, w)
    expected = image_ops.decode_image(data).numpy()
    eager = image_ops.decode_image_for_size(data, 224).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensors(data).map(
        lambda d: image_ops.decode_image_for_size(d, 224)))).numpy()
    assert eager.shape == (h, w, 3)
    np.testing.assert_array_equal(eager, expected)
    np.testing.assert_array_equal(mapped, expected)


def test_ratio_keeps_the_shorter_side_at_least_the_model_size():
    ratio = image_ops.jpeg_decode_ratio
    assert int(ratio(tf.constant([HUGE, HUGE, 3]), 224)) == 8      # 1500 >= 224
    assert int(ratio(tf.constant([HUGE, HUGE, 3]), 2000)) == 4     # 3000 >= 2000
    assert int(ratio(tf.constant([HUGE, HUGE, 3]), 6001)) == 1     # 6000 < 6001
    assert int(ratio(tf.constant([300, 60000, 3]), 224)) == 1      # 150 < 224
    assert int(ratio(tf.constant([4096, 4096, 3]), 224)) == 1      # not above the limit
    assert int(ratio(tf.constant([4097, 4096, 3]), 224)) == 8
    # decoded sides are rounded up: ceil(1785 / 8) = 224, ceil(1784 / 8) = 223
    assert int(ratio(tf.constant([1785, 1800, 3]), 224, max_pixels=1000)) == 8
    assert int(ratio(tf.constant([1800, 1784, 3]), 224, max_pixels=1000)) == 4


def test_huge_jpeg_decodes_at_reduced_scale_eagerly_and_in_a_dataset(huge_jpeg):
    data = tf.io.read_file(huge_jpeg)
    image = image_ops.decode_image_for_size(data, 224)
    assert tuple(image.shape) == (HUGE // 8, HUGE // 8, 3)
    assert np.abs(image.numpy().astype(int) - [200, 40, 30]).max() <= 3
    pre = ImagePreprocessor("clip", 96)
    batch = next(iter(tf.data.Dataset.from_tensors(data).map(pre.from_bytes).batch(1)))
    assert tuple(batch.shape) == (1, 96, 96, 3)
    # the same as preprocessing the flat colour at full size
    small = pre(tf.constant(np.full((300, 300, 3), [200, 40, 30], np.uint8)))
    np.testing.assert_allclose(batch[0].numpy(), small.numpy(), atol=0.1)


def test_huge_jpeg_preprocessing_peak_memory_stays_modest(huge_jpeg):
    """Full decoding would need 432 MB for the pixels and 1.7 GB more for the float
    resize; the reduced decode stays far below that."""
    code = ("import resource, sys, tensorflow as tf\n"
            "from tfcaption.data.image_preprocessor import ImagePreprocessor\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "x = ImagePreprocessor('clip', 224).from_bytes(tf.io.read_file(sys.argv[1]))\n"
            "assert tuple(x.shape) == (224, 224, 3)\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    res = subprocess.run([sys.executable, "-c", code, huge_jpeg], capture_output=True,
                         text=True, timeout=300, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    growth_mb = int(res.stdout.split()[-1])
    assert growth_mb < 300, f"peak memory grew by {growth_mb} MB while preprocessing"
