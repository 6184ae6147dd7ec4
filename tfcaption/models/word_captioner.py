"""The captioner base of families that decode words of a :class:`WordVocabulary` from one
pooled feature vector per image (Show-and-Tell, the WGAN-GP GRU captioner).

The family's Keras model provides ``vocabulary_size``, ``feature_dim``,
``decoding_start(features, start_id) -> (first_logits, cache)`` and
``decoding_step(token_ids, cache, index) -> (logits, cache)``; decoding runs through
:func:`tfcaption.decoding.decode.decode`. Model dirs: :mod:`tfcaption.models.word_captioner_dir`.
"""

import dataclasses

import tensorflow as tf

from tfcaption.decoding.decode import decode
from tfcaption.decoding.decoding_config import names_max_length
from tfcaption.models.captioner import Captioner
from tfcaption.serving.word_graph_detokenizer import WordGraphDetokenizer


class WordCaptioner(Captioner):
    """Captions images (or pooled image features) with a word-level model.

    Subclasses set ``model_type`` (the model dir's type) and ``model_class`` (the Keras
    model class their dirs hold).

    Args:
      model: the family's Keras model.
      vocabulary: its :class:`WordVocabulary` (``<start>`` begins, ``<end>`` stops).
      image_encoder: a ``LoadedBackbone`` from
        :func:`tfcaption.backbones.image_encoder_dir.load_image_encoder` giving one pooled
        feature vector per image (a CNN or a CLIP image tower), or None for a model used
        on precomputed features only.
      max_length: default most words per caption (``<end>`` included).
      jit_compile: compile decoding and image encoding with XLA.
    """

    model_type = None
    model_class = None

    def __init__(self, model, vocabulary, image_encoder=None, max_length=20,
                 jit_compile=True):
        if len(vocabulary) != model.vocabulary_size:
            raise ValueError(f"the vocabulary has {len(vocabulary)} tokens but the model "
                             f"has {model.vocabulary_size} output rows")
        super().__init__(image_encoder, (vocabulary.end_id,), jit_compile)
        self.model = model
        self.vocabulary = vocabulary
        self.max_length = int(max_length)
        self._functions = {}

    @property
    def feature_dim(self) -> int:
        return int(self.model.feature_dim)

    def fit_decoding_config(self, config, decoding, overrides):
        """``max_length`` defaults to the model's when the setting does not name one."""
        if not names_max_length(decoding, overrides):
            config = dataclasses.replace(config, max_length=self.max_length)
        return config

    def decode_function(self, config, jit_compile):
        key = (config, bool(jit_compile))
        if key not in self._functions:
            model, start_id = self.model, self.vocabulary.start_id

            def run(features, seed):
                first_logits, cache = model.decoding_start(features, start_id)
                return decode(model.decoding_step, first_logits, cache, 0, config, seed=seed)

            self._functions[key] = tf.function(
                run, jit_compile=bool(jit_compile), reduce_retracing=True,
                input_signature=[tf.TensorSpec([None, *self.feature_shape], tf.float32),
                                 tf.TensorSpec([2], tf.int32)])
        return self._functions[key]

    def detokenize(self, token_ids):
        """One generated sequence (list of ids) -> its words, up to ``<end>``
        (:meth:`WordVocabulary.decode`)."""
        token_ids = list(token_ids)
        if not token_ids:
            return ""
        return self.vocabulary.decode(tf.constant(token_ids, tf.int64)).numpy().decode("utf-8")

    def graph_detokenizer(self):
        return WordGraphDetokenizer(self.vocabulary)
