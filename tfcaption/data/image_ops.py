"""Image decoding and resize policies as TensorFlow ops.

Every function works eagerly and inside ``tf.data.Dataset.map`` on a single
image (``[H, W, 3]``). Decoding accepts JPEG, PNG, GIF (first frame) and BMP,
and always returns RGB uint8 (grayscale is replicated, alpha is dropped).

Huge images: :func:`decode_image_for_size` decodes a JPEG of more than
``FULL_DECODE_MAX_PIXELS`` pixels at a reduced scale (libjpeg's DCT scaling, 1/2, 1/4
or 1/8), never below the size the model needs, so a 12,000 x 12,000 photo costs tens of
megabytes instead of gigabytes; smaller images decode exactly as :func:`decode_image`.
TensorFlow has no reduced-scale decoder for PNG, GIF or BMP: those are always decoded
at full size (a 12,000 x 12,000 PNG peaks at about 2.2 GB during decoding and resizing).
"""

import tensorflow as tf

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MODES = ("caffe", "torch", "tf", "unit")
# JPEGs with more pixels than this are decoded at a reduced scale (about 16.8 megapixels,
# 4096 x 4096): every smaller image decodes exactly as at full size.
FULL_DECODE_MAX_PIXELS = 1 << 24
JPEG_RATIOS = (1, 2, 4, 8)


def decode_image(data: tf.Tensor) -> tf.Tensor:
    """Encoded bytes (scalar string) -> uint8 ``[H, W, 3]`` RGB.

    JPEGs use the accurate integer IDCT (libjpeg's default, as PIL does): it is
    both closer to PIL-based processors and faster here than the generic path.
    """
    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False))
    image.set_shape([None, None, 3])
    return image


def jpeg_decode_ratio(shape: tf.Tensor, min_side: int,
                      max_pixels: int = FULL_DECODE_MAX_PIXELS) -> tf.Tensor:
    """The JPEG scale denominator (int32 1, 2, 4 or 8) for an image of ``shape``
    (``[H, W, C]``, as :func:`tf.image.extract_jpeg_shape` returns).

    1 when ``H * W <= max_pixels``; otherwise the largest ratio whose decoded shorter
    side, ``ceil(min(H, W) / ratio)``, is still at least ``min_side``.
    """
    shape = tf.cast(shape, tf.int64)
    short = tf.minimum(shape[0], shape[1])
    big = shape[0] * shape[1] > max_pixels
    ratio = tf.constant(1, tf.int32)
    for candidate in JPEG_RATIOS[1:]:
        fits = (short + candidate - 1) // candidate >= min_side
        ratio = tf.where(big & fits, tf.constant(candidate, tf.int32), ratio)
    return ratio


def _decode_jpeg_scaled(data: tf.Tensor, min_side: int, max_pixels: int) -> tf.Tensor:
    ratio = jpeg_decode_ratio(tf.image.extract_jpeg_shape(data), min_side, max_pixels)
    index = tf.reduce_sum(tf.cast(tf.constant(JPEG_RATIOS[1:]) <= ratio, tf.int32))

    def branch(r):
        return lambda: tf.io.decode_jpeg(data, channels=3, ratio=r,
                                         dct_method="INTEGER_ACCURATE")

    return tf.switch_case(index, [branch(r) for r in JPEG_RATIOS])


def decode_image_for_size(data: tf.Tensor, min_side: int,
                          max_pixels: int = FULL_DECODE_MAX_PIXELS) -> tf.Tensor:
    """:func:`decode_image`, but a JPEG of more than ``max_pixels`` pixels is decoded at
    1/2, 1/4 or 1/8 scale (the smallest that keeps its shorter side >= ``min_side``, the
    size the preprocessing resizes to), which bounds memory for huge photos.

    Images of at most ``max_pixels`` pixels, and every PNG, GIF and BMP (TensorFlow
    decodes those only at full size), give exactly :func:`decode_image`'s result.
    """
    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: _decode_jpeg_scaled(data, int(min_side), int(max_pixels)),
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False))
    image.set_shape([None, None, 3])
    return image


def _to_uint8(image: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def resize_shorter_side(image: tf.Tensor, size: int, method: str = "bicubic") -> tf.Tensor:
    """Resizes so the shorter side is ``size`` (the longer side is truncated like PIL-based processors)."""
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    short = tf.minimum(h, w)
    new_h = tf.where(h <= w, tf.cast(size, tf.float64), tf.floor(size * h / short))
    new_w = tf.where(w < h, tf.cast(size, tf.float64), tf.floor(size * w / short))
    new_size = tf.cast(tf.stack([new_h, new_w]), tf.int32)
    resized = tf.image.resize(tf.cast(image, tf.float32), new_size, method=method, antialias=True)
    return _to_uint8(resized)


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """Crops the central ``size x size`` window (top/left offsets rounded down)."""
    shape = tf.shape(image)
    top = (shape[0] - size) // 2
    left = (shape[1] - size) // 2
    crop = tf.image.crop_to_bounding_box(image, top, left, size, size)
    crop.set_shape([size, size, 3])
    return crop


def clip_preprocess(image: tf.Tensor, size: int = 224) -> tf.Tensor:
    """CLIP: bicubic shorter side to ``size``, centre crop, scale to 0-1, CLIP mean/std."""
    image = center_crop(resize_shorter_side(image, size, "bicubic"), size)
    image = tf.cast(image, tf.float32) / 255.0
    return (image - tf.constant(CLIP_MEAN)) / tf.constant(CLIP_STD)


def imagenet_preprocess(image: tf.Tensor, size: int = 224, mode: str = "caffe") -> tf.Tensor:
    """Keras-applications preprocessing after a bilinear resize to ``size x size``.

    ``mode`` is keras' ``preprocess_input`` mode: "caffe" (ResNet: RGB->BGR,
    subtract the ImageNet mean), "torch" (DenseNet: 0-1 then mean/std) or
    "tf" (scale to -1..1), or "unit" (divide by 255: 0..1, no mean or std, as
    feature extractors written with ``img_to_array(img) / 255.`` do).
    """
    if mode not in IMAGENET_MODES:
        raise ValueError(f"imagenet mode {mode!r} is not one of {IMAGENET_MODES}")
    image = tf.image.resize(tf.cast(image, tf.float32), [size, size], method="bilinear",
                            antialias=True)
    image = tf.clip_by_value(image, 0.0, 255.0)
    image.set_shape([size, size, 3])
    if mode == "caffe":
        return image[..., ::-1] - tf.constant(CAFFE_MEAN_BGR)
    if mode == "torch":
        return (image / 255.0 - tf.constant(TORCH_MEAN)) / tf.constant(TORCH_STD)
    if mode == "unit":
        return image / 255.0
    return image / 127.5 - 1.0


def raw_preprocess(image: tf.Tensor, size: int = 224) -> tf.Tensor:
    """Bilinear resize to ``size x size`` and scale to 0-1."""
    image = tf.image.resize(tf.cast(image, tf.float32), [size, size], method="bilinear",
                            antialias=True)
    image.set_shape([size, size, 3])
    return tf.clip_by_value(image / 255.0, 0.0, 1.0)
