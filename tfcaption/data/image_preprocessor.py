"""A serialisable choice of image preprocessing (policy + size)."""

import tensorflow as tf

from tfcaption.data import image_ops

POLICIES = ("clip", "imagenet", "raw")


class ImagePreprocessor:
    """Maps a decoded uint8 RGB image to the float input a model expects.

    Args:
      policy: "clip", "imagenet" (keras.applications style) or "raw" (0-1).
      size: output side in pixels.
      imagenet_mode: the imagenet policy's scaling: a keras ``preprocess_input`` mode
        ("caffe", "torch", "tf") or "unit" (x / 255, no mean or std).
    """

    def __init__(self, policy: str = "clip", size: int = 224, imagenet_mode: str = "caffe"):
        if policy not in POLICIES:
            raise ValueError(f"image policy {policy!r} is not one of {POLICIES}")
        if imagenet_mode not in image_ops.IMAGENET_MODES:
            raise ValueError(f"imagenet_mode {imagenet_mode!r} is not one of "
                             f"{image_ops.IMAGENET_MODES}")
        if int(size) <= 0:
            raise ValueError(f"image size must be positive, got {size}")
        self.policy = policy
        self.size = int(size)
        self.imagenet_mode = imagenet_mode

    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        if self.policy == "clip":
            return image_ops.clip_preprocess(image, self.size)
        if self.policy == "imagenet":
            return image_ops.imagenet_preprocess(image, self.size, self.imagenet_mode)
        return image_ops.raw_preprocess(image, self.size)

    def from_bytes(self, data: tf.Tensor) -> tf.Tensor:
        """Encoded bytes -> preprocessed float32 ``[size, size, 3]``.

        A JPEG of more than :data:`image_ops.FULL_DECODE_MAX_PIXELS` pixels is decoded at
        a reduced scale that keeps its shorter side >= ``size`` (see
        :func:`image_ops.decode_image_for_size`); other images decode at full size.
        """
        return self(image_ops.decode_image_for_size(data, self.size))

    @property
    def output_shape(self):
        return (self.size, self.size, 3)

    def get_config(self) -> dict:
        return {"policy": self.policy, "size": self.size, "imagenet_mode": self.imagenet_mode}

    @classmethod
    def from_config(cls, config: dict) -> "ImagePreprocessor":
        return cls(**config)


def preprocessor_from_config(config: dict):
    """A model dir's ``preprocessor`` entry -> its preprocessing: an
    :class:`ImagePreprocessor`, or a
    :class:`~tfcaption.data.patch_preprocessor.PatchPreprocessor` (policy ``"patches"``)."""
    from tfcaption.data.patch_preprocessor import POLICY, PatchPreprocessor

    if config.get("policy") == POLICY:
        return PatchPreprocessor.from_config(config)
    return ImagePreprocessor.from_config(config)
