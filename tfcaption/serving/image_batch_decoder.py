"""Decodes and preprocesses a batch of encoded images in the graph, skipping the ones that
fail instead of failing the batch."""

import tensorflow as tf


class ImageBatchDecoder:
    """Encoded images ``tf.string [B]`` -> the preprocessed images that decode, and where
    they came from.

    Each image goes through ``preprocessor.from_bytes`` (tfcaption's decoder: JPEG, PNG,
    GIF first frame, BMP -> RGB, then the model's preprocessing) inside a
    ``tf.data`` pipeline with ``ignore_errors``: an image whose decoding or
    preprocessing raises (empty bytes, bytes of another format, a truncated or damaged
    file) is dropped, and the others go on. A graph has no try/except; ``ignore_errors``
    is how it skips an element whose ops fail, and it skips exactly what the eager path
    (``ClipCapCaptioner.load_images``) rejects. Core TensorFlow ops only.

    Args:
      preprocessor: an :class:`~tfcaption.data.image_preprocessor.ImagePreprocessor`.
      num_parallel_calls: images decoded at once (``tf.data.AUTOTUNE`` by default).
    """

    def __init__(self, preprocessor, num_parallel_calls=tf.data.AUTOTUNE):
        self.preprocessor = preprocessor
        self.num_parallel_calls = num_parallel_calls

    def __call__(self, image_bytes: tf.Tensor):
        """-> ``(images float32 [N, *preprocessor.output_shape], indices int32 [N])``: the
        ``N`` images that decoded, in input order, and their positions in
        ``image_bytes``."""
        image_bytes = tf.reshape(tf.convert_to_tensor(image_bytes, tf.string), [-1])
        shape = list(self.preprocessor.output_shape)
        count = tf.shape(image_bytes)[0]
        indices = tf.range(count, dtype=tf.int32)

        def decode(index, data):
            return index, tf.ensure_shape(self.preprocessor.from_bytes(data), shape)

        decoded = (tf.data.Dataset.from_tensor_slices((indices, image_bytes))
                   .map(decode, num_parallel_calls=self.num_parallel_calls,
                        deterministic=True)
                   .ignore_errors())
        # one placeholder row (index -1) so the single batch exists even when every
        # image failed; it is dropped below
        placeholder = tf.data.Dataset.from_tensors(
            (tf.constant(-1, tf.int32), tf.zeros(shape, tf.float32)))
        kept, images = (decoded.concatenate(placeholder)
                        .batch(tf.cast(count, tf.int64) + 1).get_single_element())
        return images[:-1], kept[:-1]
