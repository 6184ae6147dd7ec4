"""What a captioner's ``generate`` accepts: image paths, preprocessed images or vectors."""

import tensorflow as tf


def vector_inputs(inputs, width, load_images, encode_images, vector_name):
    """Image paths (``load_images`` then ``encode_images``), preprocessed images
    ``[B, H, W, 3]`` (``encode_images``) or vectors ``[B, width]`` (as they are) ->
    float32 ``[B, width]``; anything else is a ``ValueError`` naming ``vector_name``."""
    if isinstance(inputs, str):
        inputs = [inputs]
    if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str):
        return encode_images(load_images(inputs))
    x = tf.convert_to_tensor(inputs, tf.float32)
    if x.shape.rank == 4:
        return encode_images(x)
    if x.shape.rank == 2 and x.shape[-1] == width:
        return x
    raise ValueError(f"expected image paths, images [B, H, W, 3] or {vector_name} "
                     f"[B, {width}], got shape {tuple(x.shape)}")
