import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfcaption.data import image_ops
from tfcaption.data.image_preprocessor import ImagePreprocessor


def _smooth(h, w, seed=0):
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 3), np.uint8))
    return np.asarray(small.resize((w, h), Image.BILINEAR))


def _encode(arr, fmt, mode=None):
    im = Image.fromarray(arr)
    if mode:
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def _both(fn, data):
    """Runs ``fn`` eagerly and inside Dataset.map; returns both results."""
    eager = fn(tf.constant(data)).numpy()
    graph = next(iter(tf.data.Dataset.from_tensors(tf.constant(data)).map(fn))).numpy()
    return eager, graph


@pytest.mark.parametrize("fmt,mode", [("PNG", None), ("BMP", None), ("GIF", "P"),
                                      ("PNG", "L"), ("PNG", "RGBA"), ("JPEG", None),
                                      ("JPEG", "L")])
def test_decode_formats_to_rgb(fmt, mode):
    arr = _smooth(30, 40)
    data = _encode(arr, fmt, mode)
    eager, graph = _both(image_ops.decode_image, data)
    assert eager.shape == (30, 40, 3) and eager.dtype == np.uint8
    np.testing.assert_array_equal(eager, graph)
    expected = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    tol = 0 if fmt in ("PNG", "BMP") else 3
    assert np.abs(eager.astype(int) - expected.astype(int)).max() <= tol
    if mode == "L":
        assert (eager[..., 0] == eager[..., 1]).all() and (eager[..., 1] == eager[..., 2]).all()


def test_decode_rejects_garbage():
    with pytest.raises(tf.errors.InvalidArgumentError):
        image_ops.decode_image(tf.constant(b"not an image"))


@pytest.mark.parametrize("h,w", [(300, 400), (500, 260), (224, 224), (120, 90)])
def test_clip_preprocess_matches_the_pil_clip_processor(h, w):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    arr = _smooth(h, w, seed=h)
    ref = CLIPImageProcessorPil()(images=Image.fromarray(arr), return_tensors="np")
    ref = ref["pixel_values"][0].transpose(1, 2, 0)
    eager, graph = _both(image_ops.clip_preprocess, arr)
    assert eager.shape == (224, 224, 3)
    np.testing.assert_array_equal(eager, graph)
    # within one uint8 level of PIL's bicubic resampling
    assert np.abs(eager - ref).max() <= 1.0 / 255 / min(image_ops.CLIP_STD) + 1e-5


@pytest.mark.parametrize("mode", ["caffe", "torch", "tf"])
def test_imagenet_preprocess_matches_keras_preprocess_input(mode):
    arr = _smooth(64, 64)
    eager, graph = _both(lambda x: image_ops.imagenet_preprocess(x, 64, mode), arr)
    ref = keras.applications.imagenet_utils.preprocess_input(arr.astype(np.float32), mode=mode)
    np.testing.assert_allclose(eager, np.asarray(ref), atol=1e-3)
    np.testing.assert_allclose(eager, graph, atol=1e-6)


def test_raw_preprocess_range_and_shape():
    eager, graph = _both(lambda x: image_ops.raw_preprocess(x, 32), _smooth(50, 70))
    assert eager.shape == (32, 32, 3) and 0.0 <= eager.min() and eager.max() <= 1.0
    np.testing.assert_allclose(eager, graph, atol=1e-6)


def test_preprocessor_config_roundtrip_and_errors():
    p = ImagePreprocessor("imagenet", 96, "torch")
    q = ImagePreprocessor.from_config(p.get_config())
    assert q.get_config() == {"policy": "imagenet", "size": 96, "imagenet_mode": "torch"}
    out = q.from_bytes(tf.constant(_encode(_smooth(40, 50), "PNG")))
    assert tuple(out.shape) == q.output_shape
    with pytest.raises(ValueError, match="'vit'"):
        ImagePreprocessor("vit")
    with pytest.raises(ValueError, match="'bgr'"):
        ImagePreprocessor("imagenet", imagenet_mode="bgr")
