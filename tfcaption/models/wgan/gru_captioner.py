"""The gated GRU generator with what it needs to caption: vocabulary, image encoder, defaults."""

import dataclasses

import tensorflow as tf

from tfcaption.backbones.image_encoder_dir import image_features
from tfcaption.data.image_files import load_image_file
from tfcaption.decoding.batched_captions import batched_captions
from tfcaption.decoding.decode import decode
from tfcaption.decoding.decoding_config import DecodingConfig, names_max_length
from tfcaption.models.vector_inputs import vector_inputs


class GruCaptioner:
    """Captions images (or image features) with a :class:`GatedGruGenerator`.

    Args:
      generator: the :class:`GatedGruGenerator`.
      vocabulary: its :class:`WordVocabulary` (``<start>`` begins, ``<end>`` stops).
      image_encoder: a ``LoadedBackbone`` from
        :func:`tfcaption.backbones.image_encoder_dir.load_image_encoder`, or None for a
        model used on precomputed features only.
      max_length: default most words per caption (``<end>`` included).
      jit_compile: compile decoding and image encoding with XLA.
    """

    def __init__(self, generator, vocabulary, image_encoder=None, max_length=20,
                 jit_compile=True):
        if len(vocabulary) != generator.vocabulary_size:
            raise ValueError(f"the vocabulary has {len(vocabulary)} tokens but the generator "
                             f"{generator.vocabulary_size} rows")
        self.generator = generator
        self.vocabulary = vocabulary
        self.image_encoder = image_encoder
        self.max_length = int(max_length)
        self.jit_compile = bool(jit_compile)
        self._encode = None
        self._functions = {}

    @property
    def preprocessor(self):
        return None if self.image_encoder is None else self.image_encoder.preprocessor

    def decoding_config(self, decoding="greedy", **overrides) -> DecodingConfig:
        """The decoding setting; ``<end>`` stops it, and ``max_length`` defaults to the
        model's when the setting does not name one."""
        config = DecodingConfig.parse(decoding, **overrides)
        if not config.stop_token_ids:
            config = dataclasses.replace(config, stop_token_ids=(self.vocabulary.end_id,))
        if not names_max_length(decoding, overrides):
            config = dataclasses.replace(config, max_length=self.max_length)
        return config

    # --- inputs ------------------------------------------------------------------------
    def encode_images(self, images):
        """Preprocessed images ``[B, H, W, 3]`` -> features ``[B, feature_dim]``."""
        if self.image_encoder is None:
            raise ValueError("this captioner has no image encoder: pass image features of "
                             f"shape [batch, {self.generator.feature_dim}]")
        if self._encode is None:
            self._encode = image_features(self.image_encoder, self.jit_compile)
        return self._encode(tf.convert_to_tensor(images, tf.float32))

    def load_images(self, paths):
        """Image files -> preprocessed ``[B, H, W, 3]`` (errors name the file)."""
        if self.preprocessor is None:
            raise ValueError("this captioner has no image encoder to caption files with")
        return tf.stack([load_image_file(path, self.preprocessor) for path in paths])

    def feature_inputs(self, inputs):
        """Paths, preprocessed images or features -> float32 ``[B, feature_dim]``."""
        return vector_inputs(inputs, self.generator.feature_dim, self.load_images,
                             self.encode_images, "image features")

    # --- decoding ----------------------------------------------------------------------
    def generate_function(self, config):
        """A compiled ``(features [B, F], seed [2]) -> DecodeResult`` for ``config``."""
        if config not in self._functions:
            generator, start_id = self.generator, self.vocabulary.start_id

            def run(features, seed):
                first_logits, cache = generator.decoding_start(features, start_id)
                return decode(generator.decoding_step, first_logits, cache, 0, config,
                              seed=seed)

            self._functions[config] = tf.function(run, jit_compile=self.jit_compile,
                                                  reduce_retracing=True)
        return self._functions[config]

    def generate(self, inputs, decoding="greedy", return_ids=False, return_scores=False,
                 batch_size=64, seed=0, start_index=0, **overrides):
        """Captions ``inputs`` (image paths, preprocessed images or image features).

        Arguments and return value as ``ClipCapCaptioner.generate``: a list of strings
        (lists of strings when ``num_return_sequences > 1``), or with ``return_ids`` /
        ``return_scores`` a dict ``{"captions", "token_ids", "scores"}``.
        """
        config = self.decoding_config(decoding, **overrides)
        function = self.generate_function(config)
        features = self.feature_inputs(inputs)
        return batched_captions(function, features, config.num_return_sequences, self.detokenize,
                                return_ids=return_ids, return_scores=return_scores,
                                batch_size=batch_size, seed=seed, start_index=start_index)

    def detokenize(self, token_ids):
        """One generated sequence (list of ids) -> its words, up to ``<end>``
        (:meth:`WordVocabulary.decode`)."""
        token_ids = list(token_ids)
        if not token_ids:
            return ""
        return self.vocabulary.decode(tf.constant(token_ids, tf.int64)).numpy().decode("utf-8")
