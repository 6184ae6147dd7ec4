"""Pix2Struct's image preprocessing as a model dir stores it: any image -> flattened
patches (see :mod:`tfcaption.data.pix2struct_patches`)."""

import math

import tensorflow as tf

from tfcaption.data import image_ops
from tfcaption.data.pix2struct_patches import (DEFAULT_MAX_PATCHES, DEFAULT_PATCH_SIZE,
                                               flattened_patches)

POLICY = "patches"


class PatchPreprocessor:
    """Maps a decoded uint8 RGB image of any size to ``[max_patches, 2 + p * p * 3]``
    flattened patches (row id, column id, pixels; zero rows pad), as Hugging Face's
    ``Pix2StructImageProcessor`` does. It has :class:`ImagePreprocessor`'s interface
    (``__call__``, ``from_bytes``, ``output_shape``, ``get_config``), so pipelines, the
    commands and serving exports use it unchanged; the patch mask is
    :func:`patch_mask` of the patches.

    Args:
      max_patches: patches per image (the encoder's sequence length).
      patch_size: patch side in pixels.
      normalize: per-image standardisation (the processor's ``do_normalize``).
    """

    policy = POLICY

    def __init__(self, max_patches: int = DEFAULT_MAX_PATCHES,
                 patch_size: int = DEFAULT_PATCH_SIZE, normalize: bool = True):
        for name, value in (("max_patches", max_patches), ("patch_size", patch_size)):
            if int(value) <= 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        self.max_patches = int(max_patches)
        self.patch_size = int(patch_size)
        self.normalize = bool(normalize)

    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        return flattened_patches(image, self.max_patches, self.patch_size, self.normalize)[0]

    def from_bytes(self, data: tf.Tensor) -> tf.Tensor:
        """Encoded bytes -> float32 ``output_shape`` patches. A JPEG of more than
        :data:`image_ops.FULL_DECODE_MAX_PIXELS` pixels is decoded at a reduced scale that
        keeps its shorter side at least the side of a square ``max_patches`` grid."""
        side = self.patch_size * math.ceil(math.sqrt(self.max_patches))
        return self(image_ops.decode_image_for_size(data, side))

    @property
    def output_shape(self):
        return (self.max_patches, 2 + self.patch_size * self.patch_size * 3)

    def get_config(self) -> dict:
        return {"policy": POLICY, "max_patches": self.max_patches,
                "patch_size": self.patch_size, "normalize": self.normalize}

    @classmethod
    def from_config(cls, config: dict) -> "PatchPreprocessor":
        config = dict(config)
        if config.pop("policy", POLICY) != POLICY:
            raise ValueError(f"not a patch preprocessing config: {config!r}")
        return cls(**config)


def patch_mask(patches: tf.Tensor) -> tf.Tensor:
    """Flattened patches ``[..., N, D]`` -> float32 ``[..., N]``: 1 for a real patch (its
    values do not sum to 0, the processor's rule), 0 for padding."""
    return tf.cast(tf.reduce_sum(patches, axis=-1) != 0, tf.float32)
