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
   filter weights are computed exactly as PyTorch computes them and applied, as its kernel
   applies them, to each output pixel's window of input pixels only, which keeps the
   result within 1e-6 of it);
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
_INT32_SAFE_ROW = (2 ** 31 - 1) // 255 ** 2  # uint8 values per row whose squares sum in int32


def image_statistics(image):
    """``image`` ``[H, W, C]`` -> float32 ``(mean, max(std, 1 / sqrt(H * W * C)))`` over all
    its values, as the reference's float32 statistics (those round the exact values to
    within ~1e-7). Summed exactly: uint8 images in int32 per row, then float64 (rows of
    more than ~33,000 values, and other dtypes, in float64), so the result does not depend
    on the layout of the image."""
    image = tf.convert_to_tensor(image)
    count = tf.cast(tf.size(image), tf.float64)

    def wide_sums():
        wide = tf.cast(image, tf.float64)
        return tf.reduce_sum(wide), tf.reduce_sum(tf.square(wide))

    def row_sums():
        values = tf.cast(tf.reshape(image, [tf.shape(image)[0], -1]), tf.int32)
        return (tf.reduce_sum(tf.cast(tf.reduce_sum(values, 1), tf.float64)),
                tf.reduce_sum(tf.cast(tf.reduce_sum(values * values, 1), tf.float64)))

    if image.dtype == tf.uint8:
        row = tf.size(image) // tf.maximum(tf.shape(image)[0], 1)
        total, squares = tf.cond(row <= _INT32_SAFE_ROW, row_sums, wide_sums)
    else:
        total, squares = wide_sums()
    mean = total / count
    variance = tf.maximum(squares / count - tf.square(mean), 0.0)
    std = tf.maximum(tf.sqrt(variance), tf.math.rsqrt(count))
    return tf.cast(mean, tf.float32), tf.cast(std, tf.float32)


def standardize(image):
    """``image`` ``[H, W, C]`` (any real dtype, ``[0, 255]`` scale) -> float32
    ``(image - mean) / max(std, 1 / sqrt(H * W * C))`` over the whole image
    (:func:`image_statistics`)."""
    mean, std = image_statistics(image)
    return (tf.cast(image, tf.float32) - mean) / std


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


def antialias_window(in_size, out_size):
    """PyTorch's bilinear antialiased resize along one axis (``align_corners=False``) as
    ``(sources, weights)``, both ``[out_size, K]``: output pixel ``i`` is the sum over ``k``
    of ``weights[i, k] * input[sources[i, k]]``, its normalised triangle-filter weights over
    the ``K`` input pixels starting at the first one its filter (widened by the downscale
    factor) reaches; ``K`` is the widest window, and a shorter window's extra weights are 0. The
    float32 weights are computed exactly as PyTorch computes them."""
    in_f, out_f = tf.cast(in_size, tf.float32), tf.cast(out_size, tf.float32)
    scale = in_f / out_f
    downscale = scale >= 1.0
    support = tf.where(downscale, scale, 1.0)
    inverse = tf.where(downscale, 1.0 / scale, 1.0)
    centers = scale * (tf.cast(tf.range(out_size), tf.float32) + 0.5)  # [out]
    first = tf.maximum(tf.cast(centers - support + 0.5, tf.int32), 0)  # trunc, as C++ does
    last = tf.minimum(tf.cast(centers + support + 0.5, tf.int32), in_size)
    sources = first[:, None] + tf.range(tf.reduce_max(last - first))[None, :]  # [out, K]
    distance = (tf.cast(sources, tf.float32) - centers[:, None] + 0.5) * inverse
    weights = tf.where(sources < last[:, None], tf.maximum(0.0, 1.0 - tf.abs(distance)), 0.0)
    total = tf.reduce_sum(weights, axis=1, keepdims=True)
    return tf.minimum(sources, in_size - 1), tf.math.divide_no_nan(weights, total)


def _resize_leading(image, size):
    """``image`` ``[N, ...]`` resized along its first axis to ``size``: each output row is
    one ``[1, K] x [K, rest]`` product of its weights and its window of whole input rows,
    gathered (summed in window order, as PyTorch's kernel sums), so the work is
    ``size * K`` rows, not a dense ``[size, N]`` product."""
    shape = tf.shape(image)
    sources, weights = antialias_window(shape[0], size)
    rows = tf.gather(tf.reshape(image, [shape[0], -1]), sources)  # [size, K, rest]
    resized = tf.matmul(weights[:, None, :], rows)  # [size, 1, rest]
    return tf.reshape(resized, tf.concat([[size], shape[1:]], 0))


def _resize_rows_then_columns(image, height, width):
    """``[H, W, C]`` -> the transposed resized image ``[width, height, C]``."""
    rows = _resize_leading(image, height)  # [height, W, C]
    return _resize_leading(tf.transpose(rows, [1, 0, 2]), width)


def antialias_resize(image, height, width):
    """``image`` float32 ``[H, W, C]`` -> ``[height, width, C]``, PyTorch's bilinear
    antialiased resize. Both passes run along the leading axis, where a window's rows are
    contiguous: the height first on the image as it is, then the width on the transposed
    result (PyTorch runs the width first; the order changes only the float rounding, by
    ~1e-7 of the values)."""
    return tf.transpose(_resize_rows_then_columns(image, height, width), [1, 0, 2])


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
    shape = tf.shape(image)
    rows, cols = patch_grid(shape[0], shape[1], max_patches, patch_size)
    channels = image.shape[-1] if image.shape[-1] is not None else 3
    image = standardize(image) if normalize else tf.cast(image, tf.float32)
    # Resized and transposed, [cols * p, rows * p, C]: the patch transpose undoes it.
    resized = _resize_rows_then_columns(image, rows * patch_size, cols * patch_size)
    grid = tf.reshape(resized, [cols, patch_size, rows, patch_size, channels])
    depth = patch_size * patch_size * channels
    patches = tf.reshape(tf.transpose(grid, [2, 0, 3, 1, 4]), [rows * cols, depth])
    row_ids = tf.repeat(tf.range(1, rows + 1), cols)
    col_ids = tf.tile(tf.range(1, cols + 1), [rows])
    ids = tf.cast(tf.stack([row_ids, col_ids], axis=1), tf.float32)
    patches = tf.concat([ids, patches], axis=1)
    patches = tf.pad(patches, [[0, max_patches - rows * cols], [0, 0]])
    patches = tf.ensure_shape(patches, [max_patches, 2 + depth])
    return patches, tf.cast(tf.reduce_sum(patches, axis=-1) != 0, tf.float32)
