"""ClipCap with what it needs to caption: tokenizer, optional CLIP image encoder, defaults."""

import dataclasses

import tensorflow as tf

from tfcaption.backbones import gpt2_decoding
from tfcaption.decoding.decoding_config import names_max_length
from tfcaption.models.captioner import Captioner
from tfcaption.serving.graph_detokenizer import GraphDetokenizer
from tfcaption.tokenizers.gpt2_captions import gpt2_caption_text


def longest_caption(model) -> int:
    """The largest ``max_length`` a ClipCap model can decode: GPT-2 reads the prefix and
    every generated token but the last at positions below its ``max_sequence_length``."""
    return int(model.gpt2.max_sequence_length) - int(model.prefix_length) + 1


class ClipCapCaptioner(Captioner):
    """Captions images (or CLIP embeddings) with a :class:`ClipCapModel`.

    Args:
      model: the :class:`ClipCapModel`.
      tokenizer: its GPT-2 tokenizer (ids -> text).
      image_encoder: a ``LoadedBackbone`` whose model has ``encode_image`` (a CLIP from
        :mod:`tfcaption.backbones`), with its ``preprocessor``; None for a model used on
        precomputed embeddings only.
      stop_token_ids: default stop tokens when a decoding setting names none (the
        official checkpoints stop at ``"."``; models trained here at ``<|endoftext|>``);
        None means ``<|endoftext|>``, ``[]`` none.
      strip_token_ids: ids dropped from the end of a caption's text (None means
        ``<|endoftext|>``, ``[]`` none).
      jit_compile: compile decoding (and image encoding) with XLA.
      weights_dtype: None (the model's own variables), or "float32", "bfloat16" or
        "int8": decode with a copy of GPT-2's matrices in that dtype (int8: symmetric,
        one float32 scale per output row), made at the first caption and kept (call
        :meth:`refresh_weights` after changing the model's weights). bfloat16 and int8
        read a half and a quarter of float32's bytes per token, which is what limits
        small-batch decoding; LayerNorm, softmax and the residual stream stay float32.
        Captions can differ from float32 ones where two tokens are nearly tied.
    """

    model_type = "clipcap"
    feature_name = "CLIP embeddings"

    def __init__(self, model, tokenizer, image_encoder=None, stop_token_ids=None,
                 strip_token_ids=None, jit_compile=True, weights_dtype=None):
        end = getattr(tokenizer, "end_token_id", None)
        default = () if end is None else (int(end),)
        super().__init__(image_encoder,
                         default if stop_token_ids is None else stop_token_ids, jit_compile)
        self.model = model
        self.tokenizer = tokenizer
        self.strip_token_ids = tuple(int(i) for i in (
            default if strip_token_ids is None else strip_token_ids))
        if weights_dtype not in (None,) + gpt2_decoding.WEIGHT_DTYPES:
            raise ValueError(f"weights_dtype {weights_dtype!r} is not one of "
                             f"{gpt2_decoding.WEIGHT_DTYPES}")
        self.weights_dtype = weights_dtype
        self._weights = None

    @property
    def feature_dim(self) -> int:
        return int(self.model.prefix_dim)

    def fit_decoding_config(self, config, decoding, overrides):
        """``max_length`` must fit GPT-2's positions (:func:`longest_caption`): when the
        setting does not name one, the default is lowered to that limit; a larger
        explicit value raises ``ValueError``."""
        longest = longest_caption(self.model)
        if config.max_length > longest:
            if names_max_length(decoding, overrides):
                raise ValueError(
                    f"max_length {config.max_length} does not fit this model: its GPT-2 has "
                    f"{self.model.gpt2.max_sequence_length} positions and the prefix takes "
                    f"{self.model.prefix_length}, so captions can have at most {longest} "
                    f"tokens (pass max_length={longest} or less)")
            config = dataclasses.replace(config, max_length=longest)
        return config

    # --- decoding ----------------------------------------------------------------------
    def decoding_weights(self):
        """The copy of GPT-2's matrices in ``weights_dtype`` (variables, made at the first
        call), or None when decoding reads the model's own variables."""
        if self.weights_dtype is not None and self._weights is None:
            self._weights = tf.nest.map_structure(
                lambda t: tf.Variable(t, trainable=False),
                self.model.decoding_weights(self.weights_dtype))
        return self._weights

    def refresh_weights(self):
        """Re-copies the model's weights into :meth:`decoding_weights` (after training or
        loading new weights); compiled decoding functions stay valid."""
        if self._weights is not None:
            tf.nest.map_structure(lambda variable, t: variable.assign(t), self._weights,
                                  self.model.decoding_weights(self.weights_dtype))

    def decode_function(self, config, jit_compile):
        return self.model.generate_function(config, jit_compile=jit_compile)

    def generate_function(self, config):
        """Decoding with :meth:`decoding_weights` when ``weights_dtype`` is set."""
        return self.model.generate_function(config, jit_compile=self.jit_compile,
                                            weights=self.decoding_weights())

    def graph_detokenizer(self):
        return GraphDetokenizer(self.tokenizer.vocabulary, self.model.vocabulary_size,
                                self.strip_token_ids)

    def detokenize(self, token_ids):
        """One generated sequence (list of ids) -> its text, without a trailing
        end-of-text token, stripped of surrounding spaces."""
        return gpt2_caption_text(self.tokenizer, token_ids, self.strip_token_ids)
