"""Pix2Struct's variable-resolution input as a TensorFlow op: an image of any size and aspect
ratio -> at most ``max_patches`` flattened patches with their row and column ids.

The op reproduces Hugging Face's ``Pix2StructImageProcessor`` (and the original
``pix2struct/preprocessing``):

1. per-image standardisation over all pixels and channels of the ``[0, 255]`` image: mean
   and (population) standard deviation, the latter floored at ``1 / sqrt(H * W * 3)``;
2. the largest grid of ``rows x cols`` patches that keeps the aspect ratio within
   ``max_patches``: ``scale = sqrt(max_patches * (p / H) * (p / W))``,
   ``rows = max(min(floor(scale * H / p), max_patches), 1)`` (cols likewise);
3. a bilinear, antialiased resize to ``rows * p x cols * p`` (PyTorch's ``interpolate(...,
   antialias=True)``, the triangle filter widened by the downscale factor; its float32
   filter weights are computed exactly as PyTorch computes them, which keeps the result
   within 1e-6 of it);
4. ``p x p x 3`` patches flattened in row-major order (channels fastest), each preceded by
   its 1-based row and column id, zero-padded to ``max_patches``; the attention mask marks
   the real patches.

Shapes depend on the image only through ``rows`` and ``cols`` (dynamic), so the op runs
eagerly, in ``tf.data.Dataset.map`` and inside an exported SavedModel; its outputs have the
static shapes ``[max_patches, 2 + p * p * 3]`` and ``[max_patches]``.
"""

import tensorflow as tf

DEFAULT_MAX_PATCHES = 2048
DEFAULT_PATCH_SIZE = 16


def standardize(image):
    """``image`` ``[H, W, C]`` (any real dtype, ``[0, 255]`` scale) -> float32
    ``(image - mean) / max(std, 1 / sqrt(H * W * C))`` over the whole image."""
    image = tf.cast(image, tf.float32)
    mean = tf.reduce_mean(image)
    std = tf.sqrt(tf.reduce_mean(tf.square(image - mean)))
    floor = tf.math.rsqrt(tf.cast(tf.size(image), tf.float32))
    return (image - mean) / tf.maximum(std, floor)


def patch_grid(height, width, max_patches, patch_size=DEFAULT_PATCH_SIZE):
    """The ``(rows, cols)`` of patches an ``height x width`` image is resized to (int32
    scalars; computed in float64 as the reference computes them in Python floats)."""
    h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    p = tf.constant(float(patch_size), tf.float64)
    scale = tf.pow(float(max_patches) * (p / h) * (p / w), 0.5)

    def count(size):
        n = tf.cast(tf.floor(scale * size / p), tf.int32)
        return tf.maximum(tf.minimum(n, max_patches), 1)
    return count(h), count(w)


def antialias_weights(in_size, out_size):
    """The ``[out_size, in_size]`` float32 matrix of PyTorch's bilinear antialiased resize
    along one axis (``align_corners=False``): row ``i`` holds the normalised triangle-filter
    weights of output pixel ``i``, the filter widened by the downscale factor."""
    in_f, out_f = tf.cast(in_size, tf.float32), tf.cast(out_size, tf.float32)
    scale = in_f / out_f
    downscale = scale >= 1.0
    support = tf.where(downscale, scale, 1.0)
    inverse = tf.where(downscale, 1.0 / scale, 1.0)
    centers = scale * (tf.cast(tf.range(out_size), tf.float32) + 0.5)  # [out]
    first = tf.maximum(tf.cast(centers - support + 0.5, tf.int32), 0)  # trunc, as C++ does
    last = tf.minimum(tf.cast(centers + support + 0.5, tf.int32), in_size)
    sources = tf.range(in_size)
    inside = (sources[None, :] >= first[:, None]) & (sources[None, :] < last[:, None])
    distance = (tf.cast(sources, tf.float32)[None, :] - centers[:, None] + 0.5) * inverse
    weights = tf.where(inside, tf.maximum(0.0, 1.0 - tf.abs(distance)), 0.0)
    total = tf.reduce_sum(weights, axis=1, keepdims=True)
    return tf.math.divide_no_nan(weights, total)


def antialias_resize(image, height, width):
    """``image`` float32 ``[H, W, C]`` -> ``[height, width, C]``, PyTorch's bilinear
    antialiased resize (width first, then height, as its separable kernel runs)."""
    shape = tf.shape(image)
    rows = antialias_weights(shape[0], height)  # [height, H]
    cols = antialias_weights(shape[1], width)  # [width, W]
    resized = tf.einsum("hwc,vw->hvc", image, cols)
    return tf.einsum("hvc,uh->uvc", resized, rows)


def flattened_patches(image, max_patches=DEFAULT_MAX_PATCHES, patch_size=DEFAULT_PATCH_SIZE,
                      normalize=True):
    """One image -> ``(patches, attention_mask)``.

    Args:
      image: ``[H, W, 3]`` uint8 (or any real dtype on the ``[0, 255]`` scale).
      max_patches: the sequence length (static int).
      patch_size: the patch side in pixels (static int).
      normalize: per-image standardisation (the processor's ``do_normalize``).

    Returns:
      float32 ``[max_patches, 2 + patch_size * patch_size * 3]`` (row id, column id, then
      the patch's pixels), and float32 ``[max_patches]``: 1 for a real patch, 0 for padding.
    """
    image = tf.convert_to_tensor(image)
    image = standardize(image) if normalize else tf.cast(image, tf.float32)
    shape = tf.shape(image)
    rows, cols = patch_grid(shape[0], shape[1], max_patches, patch_size)
    channels = image.shape[-1] if image.shape[-1] is not None else 3
    resized = antialias_resize(image, rows * patch_size, cols * patch_size)
    grid = tf.reshape(resized, [rows, patch_size, cols, patch_size, channels])
    depth = patch_size * patch_size * channels
    patches = tf.reshape(tf.transpose(grid, [0, 2, 1, 3, 4]), [rows * cols, depth])
    row_ids = tf.repeat(tf.range(1, rows + 1), cols)
    col_ids = tf.tile(tf.range(1, cols + 1), [rows])
    ids = tf.cast(tf.stack([row_ids, col_ids], axis=1), tf.float32)
    patches = tf.concat([ids, patches], axis=1)
    patches = tf.pad(patches, [[0, max_patches - rows * cols], [0, 0]])
    patches = tf.ensure_shape(patches, [max_patches, 2 + depth])
    return patches, tf.cast(tf.reduce_sum(patches, axis=-1) != 0, tf.float32)
