"""Any captioner as one graph function: encoded image bytes in, captions out."""

import tensorflow as tf

from tfcaption.serving.image_batch_decoder import ImageBatchDecoder

INPUT_NAME = "image_bytes"
FAILED_SCORE = float("-inf")


def bucket_rows(count):
    """Row indices ``[bucket]`` that pad ``count`` rows to the next power of two by
    repeating row 0 (a repeated row stops decoding exactly when its original does)."""
    buckets = tf.constant([2 ** i for i in range(31)], tf.int32)
    bucket = tf.reduce_min(tf.where(buckets >= count, buckets, buckets[-1]))
    return tf.concat([tf.range(count), tf.zeros([bucket - count], tf.int32)], axis=0)


class CaptionerServingModule(tf.Module):
    """``serve(image_bytes)`` captions a batch of encoded images in the graph.

    Works through the :class:`~tfcaption.models.captioner.Captioner` interface, so
    every family exports the same way. Steps: :class:`ImageBatchDecoder` (decode + the
    model dir's preprocessing; images that fail are set aside), the image encoder
    (``captioner.image_feature_function``), the family's compiled decoding loop
    (``captioner.decode_function``, e.g. ClipCap's prefill then one ``tf.while_loop``
    over tokens with a key/value cache) and ``captioner.graph_detokenizer()``. An image
    that fails to decode gets the caption ``""`` and the score ``-inf``; the others are
    captioned as ``captioner.generate`` captions them, with the same decoding setting.

    Args:
      captioner: a :class:`~tfcaption.models.captioner.Captioner` with an image encoder.
      decoding: a ``DecodingConfig``, dict or method name; with ``overrides``, resolved
        by ``captioner.decoding_config`` (the model's stop tokens unless it names some,
        and its limits: e.g. ClipCap's ``max_length`` must fit GPT-2's positions).
        It must return one sequence per image.
      jit_compile: compile the image encoder and the decoding loop with XLA (as the
        captioner does); False keeps them plain TensorFlow graphs. XLA compiles once per
        batch size, so with XLA the images that decoded are padded to a power of two
        (:func:`bucket_rows`): at most one compilation per bucket, not per size.
      **overrides: decoding fields (``beam_size=3``, ``max_length=20``, ...).

    :meth:`serving_signature` traces ``serve`` and tracks exactly the variables it reads
    (not, e.g., a CLIP's text tower), so ``tf.saved_model.save(module, path,
    signatures={"serving_default": module.serving_signature()})`` writes a complete
    SavedModel.
    """

    def __init__(self, captioner, decoding="greedy", jit_compile=True, **overrides):
        super().__init__(name="captioner_serving")
        if captioner.image_encoder is None or captioner.preprocessor is None:
            raise ValueError(f"this {captioner.model_type} model has no image encoder (with "
                             f"its image preprocessing): it takes {captioner.feature_name}, "
                             f"not images, so it cannot be exported to caption image bytes")
        config = captioner.decoding_config(decoding, **overrides)  # max_length fitted
        if config.num_return_sequences != 1:
            raise ValueError("a serving export returns one caption per image: "
                             f"num_return_sequences must be 1, got "
                             f"{config.num_return_sequences}")
        self.decoding = config
        self.jit_compile = bool(jit_compile)
        self._decode_images = ImageBatchDecoder(captioner.preprocessor)
        self.model_type = captioner.model_type
        self._detokenize = captioner.graph_detokenizer()
        self._encode = captioner.image_feature_function(self.jit_compile)
        self._generate = captioner.decode_function(config, self.jit_compile)
        self._seed = (int(config.seed), 0)  # what captioner.generate(seed=...) uses
        self._signature = None
        self.serving_variables = []

    def caption_valid(self, images):
        """Preprocessed images ``[N, S, S, 3]`` -> (captions ``[N]``, scores ``[N]``)."""
        count = tf.shape(images)[0]
        if self.jit_compile:
            images = tf.gather(images, bucket_rows(count))
        features = tf.cast(self._encode(images), tf.float32)
        result = self._generate(features, tf.constant(self._seed, tf.int32))
        token_ids, lengths = result.token_ids[:count, 0], result.lengths[:count, 0]
        return self._detokenize(token_ids, lengths), result.scores[:count, 0]

    def serve(self, image_bytes):
        """``tf.string [B]`` encoded images -> ``{"captions": tf.string [B],
        "scores": tf.float32 [B]}``."""
        image_bytes = tf.convert_to_tensor(image_bytes, tf.string)
        count = tf.shape(image_bytes)[0]
        images, indices = self._decode_images(image_bytes)
        captions, scores = tf.cond(
            tf.size(indices) > 0, lambda: self.caption_valid(images),
            lambda: (tf.zeros([0], tf.string), tf.zeros([0], tf.float32)))
        rows = indices[:, None]
        return {
            "captions": tf.tensor_scatter_nd_update(tf.fill([count], ""), rows, captions),
            "scores": tf.tensor_scatter_nd_update(tf.fill([count], FAILED_SCORE), rows,
                                                  scores),
        }

    def serving_signature(self):
        """The concrete ``serving_default`` function (one input, ``image_bytes``), traced
        once; the variables it reads become ``serving_variables``."""
        if self._signature is None:
            function = tf.function(self.serve, input_signature=[
                tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
            self._signature = function.get_concrete_function()
            self.serving_variables = list(self._signature.variables)
        return self._signature
