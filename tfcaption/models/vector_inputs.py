"""What a captioner's ``generate`` accepts: image paths, preprocessed images or vectors."""

import tensorflow as tf


def vector_inputs(inputs, shape, load_images, encode_images, vector_name):
    """Image paths (``load_images`` then ``encode_images``), preprocessed images
    ``[B, H, W, 3]`` (``encode_images``) or features ``[B, *shape]`` (as they are; ``shape``
    an int for vectors, or a tuple such as ``(tokens, width)``) -> float32 ``[B, *shape]``;
    anything else is a ``ValueError`` naming ``vector_name``."""
    shape = (int(shape),) if isinstance(shape, int) else tuple(int(d) for d in shape)
    if isinstance(inputs, str):
        inputs = [inputs]
    if isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str):
        return encode_images(load_images(inputs))
    x = tf.convert_to_tensor(inputs, tf.float32)
    if x.shape.rank == 4 and tuple(x.shape[1:]) != shape:
        return encode_images(x)
    if tuple(x.shape[1:]) == shape:
        return x
    raise ValueError(f"expected image paths, images [B, H, W, 3] or {vector_name} "
                     f"[B, {', '.join(map(str, shape))}], got shape {tuple(x.shape)}")
