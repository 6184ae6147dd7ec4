"""Pix2Struct's patch preprocessing as a TensorFlow op equals Hugging Face's image processor."""

import numpy as np
import pix2struct_checkpoint
import pytest
import tensorflow as tf
from pix2struct_checkpoint import photo_like

from tfcaption.data import pix2struct_patches as pp

# (height, width, max_patches): tall, wide, tiny, square, more pixels than max_patches allow,
# fewer (upscaled), a one-pixel-high strip
SIZES = [(300, 40, 256), (30, 500, 256), (5, 7, 64), (64, 64, 16), (613, 421, 2048),
         (90, 120, 2048), (1, 200, 128)]


def hf_patches(image, max_patches):
    patches, mask = pix2struct_checkpoint.hf_patches([image], max_patches)
    return patches[0], mask[0]


@pytest.mark.parametrize("height,width,max_patches", SIZES)
def test_equals_the_hugging_face_processor(height, width, max_patches):
    image = photo_like(height, width, seed=height * 1000 + width)
    want, want_mask = hf_patches(image, max_patches)
    got, mask = pp.flattened_patches(image, max_patches)
    assert got.shape == want.shape == (max_patches, 2 + 16 * 16 * 3)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(mask.numpy(), want_mask)
    assert 0 < want_mask.sum() <= max_patches


def reference_grid(height, width, max_patches, patch=16):
    """The processor's formula, in Python floats."""
    scale = (max_patches * (patch / height) * (patch / width)) ** 0.5
    return (max(min(int(scale * height / patch), max_patches), 1),
            max(min(int(scale * width / patch), max_patches), 1))


def test_the_grid_keeps_the_aspect_ratio_within_max_patches():
    assert reference_grid(1000, 100, 256) == (50, 5)
    assert reference_grid(3, 3000, 256) == (1, 256)
    sizes = [(h, w) for h in (1, 3, 16, 100, 224, 333, 1000, 4000) for w in (1, 7, 224, 999)]
    for height, width in sizes:
        for max_patches in (16, 256, 2048, 4096):
            rows, cols = pp.patch_grid(height, width, max_patches)
            want = reference_grid(height, width, max_patches)
            assert (int(rows), int(cols)) == want, (height, width, max_patches)
            assert int(rows) * int(cols) <= max_patches or 1 in want


def test_runs_in_tf_data_and_in_a_graph_with_unknown_sizes():
    images = [photo_like(h, w, seed=h) for h, w in [(40, 70), (100, 20), (33, 33)]]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(images), output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    batches = list(dataset.map(lambda x: pp.flattened_patches(x, 32)).batch(3))
    assert len(batches) == 1 and batches[0][0].shape == (3, 32, 770)
    graph = tf.function(lambda x: pp.flattened_patches(x, 32),
                        input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    for image, patches, mask in zip(images, batches[0][0], batches[0][1]):
        want, want_mask = hf_patches(image, 32)
        np.testing.assert_allclose(patches.numpy(), want, atol=1e-5, rtol=0)
        np.testing.assert_allclose(graph(image)[0].numpy(), want, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(mask.numpy(), want_mask)


def test_a_flat_image_is_not_divided_by_zero():
    patches, mask = pp.flattened_patches(np.full((20, 20, 3), 7, np.uint8), 4)
    assert np.isfinite(patches.numpy()).all()
    np.testing.assert_array_equal(mask.numpy(), [1, 1, 1, 1])
