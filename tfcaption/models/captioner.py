"""The base every captioner family's captioner subclasses: inputs, batching, decoding, text."""

import dataclasses

import tensorflow as tf

from tfcaption.backbones.image_encoder_dir import image_features
from tfcaption.data.image_files import load_image_file
from tfcaption.decoding.batched_captions import batched_captions
from tfcaption.decoding.decoding_config import DecodingConfig
from tfcaption.models.vector_inputs import vector_inputs


class Captioner:
    """What every captioner shares; a family implements the abstract hooks.

    A captioner turns images into one feature vector each (its image encoder, or
    precomputed features), and a compiled decoding function turns features into token
    ids, which :meth:`detokenize` (Python) and :meth:`graph_detokenizer` (in a
    SavedModel) turn into text. :meth:`generate` parses its inputs (image paths,
    preprocessed images or feature vectors), batches them and returns captions, ids and
    scores in one form for every family.

    Hooks a family implements:

    * ``model_type`` (class attribute): the ``tfcaption_model_type`` of its model dirs;
    * :attr:`feature_dim`: the width of the feature vector decoding starts from (or
      :attr:`feature_shape` for features of another shape, e.g. an encoder's states
      ``(tokens, width)``);
    * :meth:`decode_function`: a compiled ``(features [B, F], seed [2]) -> DecodeResult``;
    * :meth:`detokenize` and :meth:`graph_detokenizer`;
    * optionally :meth:`fit_decoding_config` (model limits on a decoding setting) and
      :meth:`generate_function` (e.g. decoding with reduced-precision weights).

    Args:
      image_encoder: a ``LoadedBackbone`` from
        :func:`tfcaption.backbones.image_encoder_dir.load_image_encoder` (a CLIP image
        tower or a CNN), or None for a captioner used on precomputed features only.
      stop_token_ids: the ids that end a caption when a decoding setting names none.
      jit_compile: compile decoding and image encoding with XLA.
    """

    model_type = None
    feature_name = "image features"

    def __init__(self, image_encoder=None, stop_token_ids=(), jit_compile=True):
        self.image_encoder = image_encoder
        self.stop_token_ids = tuple(int(i) for i in stop_token_ids)
        self.jit_compile = bool(jit_compile)
        self._encode = None

    # --- hooks -------------------------------------------------------------------------
    @property
    def feature_dim(self) -> int:
        raise NotImplementedError

    @property
    def feature_shape(self) -> tuple:
        """The shape of one image's features (default ``(feature_dim,)``)."""
        return (self.feature_dim,)

    def decode_function(self, config: DecodingConfig, jit_compile: bool):
        """A ``tf.function(features [B, *feature_shape] float32, seed [2] int32) ->
        DecodeResult`` for ``config``, reading the model's own variables."""
        raise NotImplementedError

    def detokenize(self, token_ids) -> str:
        """One generated sequence (a list of ids, cut at its length) -> its text."""
        raise NotImplementedError

    def graph_detokenizer(self):
        """A callable ``(token_ids [B, T], lengths [B]) -> tf.string [B]`` of core
        TensorFlow ops giving :meth:`detokenize`'s text, for serving exports."""
        raise NotImplementedError

    def fit_decoding_config(self, config, decoding, overrides) -> DecodingConfig:
        """The setting adapted to this model's limits (``decoding`` and ``overrides`` as
        given, to tell an explicit ``max_length`` from the default)."""
        return config

    def generate_function(self, config: DecodingConfig):
        """The function :meth:`generate` decodes with (default: :meth:`decode_function`
        with this captioner's ``jit_compile``)."""
        return self.decode_function(config, self.jit_compile)

    def after_caption_files(self, paths, images, result) -> None:
        """Called by :func:`~tfcaption.models.caption_files.caption_files` after each
        batch of image files is captioned (``images`` preprocessed, ``result`` the
        ``generate`` dict with ``token_ids``), e.g. to write attention maps; default:
        nothing."""

    # --- shared ------------------------------------------------------------------------
    @property
    def preprocessor(self):
        return None if self.image_encoder is None else self.image_encoder.preprocessor

    def decoding_config(self, decoding="greedy", **overrides) -> DecodingConfig:
        """The decoding setting (a ``DecodingConfig``, dict or method name, ``overrides``
        setting its fields), with this model's stop tokens when it names none, fitted to
        the model (:meth:`fit_decoding_config`)."""
        config = DecodingConfig.parse(decoding, **overrides)
        if not config.stop_token_ids:
            config = dataclasses.replace(config, stop_token_ids=self.stop_token_ids)
        return self.fit_decoding_config(config, decoding, overrides)

    def image_feature_function(self, jit_compile=None):
        """A ``tf.function``: preprocessed images ``[B, H, W, 3]`` -> float32 features
        ``[B, feature_dim]`` (``jit_compile`` None: this captioner's setting)."""
        if self.image_encoder is None:
            raise ValueError(f"this {self.model_type} captioner has no image encoder: pass "
                             f"{self.feature_name} of shape "
                             f"[batch, {', '.join(map(str, self.feature_shape))}]")
        jit = self.jit_compile if jit_compile is None else bool(jit_compile)
        return image_features(self.image_encoder, jit_compile=jit)

    def encode_images(self, images):
        """Preprocessed images ``[B, H, W, 3]`` -> features ``[B, feature_dim]``."""
        if self._encode is None:
            self._encode = self.image_feature_function()
        return self._encode(tf.convert_to_tensor(images, tf.float32))

    def load_images(self, paths):
        """Image files -> preprocessed ``[B, H, W, 3]`` (errors name the file)."""
        if self.preprocessor is None:
            raise ValueError(f"this {self.model_type} captioner has no image encoder to "
                             f"caption files with")
        return tf.stack([load_image_file(path, self.preprocessor) for path in paths])

    def feature_inputs(self, inputs):
        """Paths, preprocessed images or features -> float32 ``[B, *feature_shape]``."""
        return vector_inputs(inputs, self.feature_shape, self.load_images, self.encode_images,
                             self.feature_name)

    def generate(self, inputs, decoding="greedy", return_ids=False, return_scores=False,
                 batch_size=64, seed=0, start_index=0, **overrides):
        """Captions ``inputs`` (image paths, preprocessed images or feature vectors).

        ``decoding`` is a :class:`DecodingConfig`, a dict or a method name ("greedy",
        "beam", "sample", "top_p", "top_k"); ``overrides`` set its fields
        (``beam_size=3``, ``num_return_sequences=2``, ``max_length=20``, ...).

        Sampling is seeded per batch by ``(seed, start_index + index of the batch's first
        row)``: captioning a long list in chunks of ``batch_size`` rows, each with
        ``start_index`` set to the chunk's offset, gives the same captions as one call.

        Returns a list of strings, or of lists of strings when
        ``num_return_sequences > 1``; with ``return_ids`` / ``return_scores`` a dict
        ``{"captions", "token_ids", "scores"}`` (ids cut at each caption's length).
        """
        config = self.decoding_config(decoding, **overrides)
        function = self.generate_function(config)
        features = self.feature_inputs(inputs)
        return batched_captions(function, features, config.num_return_sequences,
                                self.detokenize, return_ids=return_ids,
                                return_scores=return_scores, batch_size=batch_size,
                                seed=seed, start_index=start_index)
