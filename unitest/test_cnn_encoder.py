import numpy as np
import pytest

from tfcaption.backbones.cnn_encoder import load_cnn_encoder
from tfcaption.backbones.model_dir import load_model_dir, save_model_dir


@pytest.mark.parametrize("name,size,shape,mode", [
    ("resnet50_pooled", 64, (2048,), "caffe"),
    ("densenet201_pooled", 64, (1920,), "torch"),
    ("resnet152_res5c", 224, (7, 7, 2048), "caffe"),
])
def test_encoder_outputs_and_preprocessing(name, size, shape, mode):
    loaded = load_cnn_encoder(name, weights=None, image_size=size)
    assert loaded.model_type == "cnn"
    assert loaded.preprocessor.get_config() == {
        "policy": "imagenet", "size": size, "imagenet_mode": mode}
    image = np.random.default_rng(0).integers(0, 256, (size + 5, size - 3, 3), np.uint8)
    batch = np.stack([loaded.preprocessor(image).numpy()] * 2)
    out = loaded.model.predict_on_batch(batch)
    assert out.shape == (2,) + shape
    assert tuple(loaded.config["output_shape"]) == shape
    if name == "resnet152_res5c":
        # The grid is the last residual block's output (after its ReLU), not a pooled vector.
        assert loaded.model.layers[-1].name == "conv5_block3_out"
        assert out.min() >= 0.0


def test_weights_file_passes_through(tmp_path):
    first = load_cnn_encoder("resnet50_pooled", weights=None, image_size=32)
    path = str(tmp_path / "resnet50.weights.h5")
    first.model.save_weights(path)
    second = load_cnn_encoder("resnet50_pooled", weights=path, image_size=32)
    x = np.random.default_rng(1).normal(size=(1, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(first.model.predict_on_batch(x),
                                  second.model.predict_on_batch(x))
    assert second.config["weights"] == path


def test_model_dir_round_trip(tmp_path):
    loaded = load_cnn_encoder("resnet50_pooled", image_size=32)
    save_model_dir(tmp_path / "enc", "cnn", loaded.model, loaded.preprocessor, loaded.config)
    model, model_type, preprocessor, config = load_model_dir(tmp_path / "enc")
    x = np.random.default_rng(2).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(model.predict_on_batch(x), loaded.model.predict_on_batch(x),
                               rtol=1e-5, atol=1e-5)
    assert (model_type, config) == ("cnn", loaded.config)
    assert preprocessor.get_config() == loaded.preprocessor.get_config()


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="unknown CNN encoder 'vgg'"):
        load_cnn_encoder("vgg")
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        load_cnn_encoder("resnet50_pooled", weights=str(tmp_path / "nope.h5"))


@pytest.mark.parametrize("name,module", [("resnet50_pooled", "resnet"),
                                         ("densenet201_pooled", "densenet")])
def test_preprocessing_is_the_applications_own(name, module):
    import keras
    import tensorflow as tf

    loaded = load_cnn_encoder(name, image_size=48)
    image = np.random.default_rng(3).integers(0, 256, (48, 48, 3), np.uint8)
    ours = loaded.preprocessor(image).numpy()
    # the same size, so the resize is the identity and only the normalisation differs
    resized = tf.image.resize(tf.cast(image, tf.float32), [48, 48], antialias=True).numpy()
    theirs = getattr(keras.applications, module).preprocess_input(resized.copy())
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)


def test_the_keras_applications_notop_file_format_loads(tmp_path):
    """A file in the released ImageNet file's format (legacy Keras HDF5 weights, one group
    per layer, read in layer order; under its released name) loads through the Flickr8k
    recipe's encoder spec."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    from tfcaption.backbones.image_encoder_dir import load_image_encoder

    random = load_cnn_encoder("densenet201_pooled", weights=None, image_size=32)
    path = tmp_path / "densenet201_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, random.model)
    with h5py.File(path, "r") as f:
        assert "conv1_conv" in f.attrs["layer_names"].astype(str).tolist()  # legacy layout
    loaded = load_image_encoder({"type": "cnn", "name": "densenet201_pooled",
                                 "weights": str(path), "image_size": 32,
                                 "preprocessing": "unit"})
    x = np.random.default_rng(4).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.model.predict_on_batch(x),
                               random.model.predict_on_batch(x), rtol=1e-5, atol=1e-5)
