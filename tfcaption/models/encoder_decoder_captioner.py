"""The captioner of an encoder-decoder family (ViT-GPT2, Pix2Struct): a model whose own
image encoder is trained with its decoder, a tokenizer, special tokens and the image
preprocessing."""

import dataclasses

import tensorflow as tf

from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.decoding.decoding_config import names_max_length
from tfcaption.models.captioner import Captioner


class EncoderDecoderCaptioner(Captioner):
    """What an encoder-decoder family's captioner shares.

    A subclass names ``model_type``, ``feature_name`` and ``encoder_type`` (the
    ``model_type`` of its image encoder's ``LoadedBackbone``) and implements
    :attr:`feature_shape`, :meth:`decode_features`, :meth:`describe`,
    :meth:`detokenize` and :meth:`graph_detokenizer`; optionally
    :meth:`longest_caption`.

    Args:
      model: an :class:`~tfcaption.models.encoder_decoder_model.EncoderDecoderModel`.
      tokenizer: its tokenizer.
      tokens: its special tokens (``decoder_start``, ``eos``, ``pad``).
      preprocessor: the image preprocessing of a model dir.
      max_length: default most generated tokens (eos included; None: the class's
        ``default_max_length``).
      jit_compile: compile decoding and image encoding with XLA.
    """

    encoder_type = None
    default_max_length = None  # a subclass's default for max_length

    def __init__(self, model, tokenizer, tokens, preprocessor, max_length=None,
                 jit_compile=True):
        encoder = LoadedBackbone(model=model.encoder, model_type=self.encoder_type,
                                 preprocessor=preprocessor)
        super().__init__(encoder, (tokens.eos,), jit_compile)
        self.model = model
        self.tokenizer = tokenizer
        self.tokens = tokens
        self.max_length = int(self.default_max_length if max_length is None else max_length)
        self.provenance = {}  # e.g. {"converted_from": ...}, written back by the saver
        self._functions = {}

    @property
    def feature_dim(self) -> int:
        return int(self.feature_shape[-1])

    def decode_features(self, features, seed, config):
        """Features ``[B, *feature_shape]`` -> a ``DecodeResult`` (traceable)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line on the architecture, special tokens and preprocessing."""
        raise NotImplementedError

    def longest_caption(self):
        """The most generated tokens the model allows, or None for no limit."""
        return None

    def fit_decoding_config(self, config, decoding, overrides):
        """``max_length`` defaults to the model's; more than :meth:`longest_caption` is a
        ``ValueError``."""
        if not names_max_length(decoding, overrides):
            config = dataclasses.replace(config, max_length=self.max_length)
        longest = self.longest_caption()
        if longest is not None and config.max_length > longest:
            raise ValueError(f"max_length {config.max_length} does not fit this model: at "
                             f"most {longest} generated tokens ({self.limit_reason()})")
        return config

    def limit_reason(self) -> str:
        return "its positions"

    def decode_function(self, config, jit_compile):
        key = (config, bool(jit_compile))
        if key not in self._functions:
            def run(features, seed):
                return self.decode_features(features, seed, config)

            self._functions[key] = tf.function(
                run, jit_compile=bool(jit_compile), reduce_retracing=True,
                input_signature=[tf.TensorSpec([None, *self.feature_shape], tf.float32),
                                 tf.TensorSpec([2], tf.int32)])
        return self._functions[key]
