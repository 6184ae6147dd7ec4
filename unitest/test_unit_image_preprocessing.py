"""The ``unit`` image preprocessing (x / 255, no mean or std): the op, its config, the CNN
encoder spec that selects it, and a model dir that keeps it."""

import numpy as np
import pytest
import tensorflow as tf

from tfcaption.backbones.image_encoder_dir import load_image_encoder, save_image_encoder
from tfcaption.data import image_ops
from tfcaption.data.image_preprocessor import ImagePreprocessor


def _image(size=32, seed=0):
    return tf.constant(np.random.default_rng(seed).integers(0, 256, (size, size, 3)), tf.uint8)


def test_unit_mode_divides_by_255_eagerly_and_in_tf_data():
    image = _image()
    out = ImagePreprocessor("imagenet", 32, imagenet_mode="unit")(image)
    np.testing.assert_allclose(out.numpy(), image.numpy().astype("float32") / 255.0, atol=1e-6)
    torch = image_ops.imagenet_preprocess(image, 32, "torch")
    assert not np.allclose(out.numpy(), torch.numpy())
    ds = tf.data.Dataset.from_tensors(image).map(
        lambda x: image_ops.imagenet_preprocess(x, 32, "unit"))
    np.testing.assert_allclose(next(iter(ds)).numpy(), out.numpy())


def test_unit_mode_config_round_trip_and_bad_mode():
    p = ImagePreprocessor("imagenet", 64, imagenet_mode="unit")
    assert ImagePreprocessor.from_config(p.get_config()).get_config() == \
        {"policy": "imagenet", "size": 64, "imagenet_mode": "unit"}
    with pytest.raises(ValueError, match="'x255'"):
        ImagePreprocessor("imagenet", 64, imagenet_mode="x255")


def test_cnn_spec_preprocessing_is_kept_by_the_encoder_model_dir(tmp_path):
    spec = {"type": "cnn", "name": "densenet201_pooled", "weights": None, "image_size": 32,
            "preprocessing": "unit"}
    encoder = load_image_encoder(spec)
    assert encoder.preprocessor.get_config()["imagenet_mode"] == "unit"
    assert tuple(encoder.model.output.shape) == (None, 1920)
    default = load_image_encoder({**spec, "preprocessing": None})
    assert default.preprocessor.get_config()["imagenet_mode"] == "torch"
    loaded = load_image_encoder(save_image_encoder(encoder, str(tmp_path / "enc")))
    assert loaded.preprocessor.get_config() == encoder.preprocessor.get_config()
    with pytest.raises(ValueError, match="'half'"):
        load_image_encoder({**spec, "preprocessing": "half"})
