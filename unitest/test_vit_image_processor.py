"""The ViT image processing in-graph (the ``imagenet`` policy's ``tf`` mode: bilinear
resize to 224, x / 127.5 - 1, i.e. rescale 1/255 then mean = std = 0.5) against
transformers' ViTImageProcessor (PIL bilinear) on photo-like images of several sizes:
within one 8-bit level."""

import numpy as np
import pytest
from PIL import Image
from transformers import ViTImageProcessor

from tfcaption.data.image_preprocessor import ImagePreprocessor

ONE_LEVEL = 1.0 / 127.5  # one 8-bit level after x / 127.5 - 1


def photo_like(height, width, seed):
    """Smooth colour fields with edges and mild noise, as uint8 RGB."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (max(2, height // 24), max(2, width // 24), 3))
    image = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize(
        (width, height), Image.BICUBIC), np.float32)
    image[height // 3:height // 2] = 255 - image[height // 3:height // 2]  # a hard edge
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("height, width", [(480, 640), (333, 500), (224, 224), (120, 90),
                                           (1000, 260)])
def test_equals_vit_image_processor_within_one_level(height, width):
    processor = ViTImageProcessor(size={"height": 224, "width": 224}, resample=2,
                                  do_rescale=True, rescale_factor=1 / 255,
                                  do_normalize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    ours = ImagePreprocessor("imagenet", 224, imagenet_mode="tf")
    for seed in range(2):
        image = photo_like(height, width, seed)
        theirs = processor(images=Image.fromarray(image), return_tensors="np")["pixel_values"]
        got = ours(image).numpy()
        assert got.shape == (224, 224, 3)
        diff = np.abs(got - theirs[0].transpose(1, 2, 0))
        assert diff.max() <= ONE_LEVEL + 1e-5, (height, width, seed, diff.max() / ONE_LEVEL)
