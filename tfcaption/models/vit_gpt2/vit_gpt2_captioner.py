"""ViT-GPT2 with what it needs to caption: GPT-2 tokenizer, special tokens, ViT preprocessing."""

import dataclasses

import tensorflow as tf

from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.decoding.decoding_config import names_max_length
from tfcaption.models.captioner import Captioner
from tfcaption.serving.graph_detokenizer import GraphDetokenizer
from tfcaption.tokenizers.gpt2_captions import gpt2_caption_text

# The model card's generation length: 16 positions including the start token.
DEFAULT_MAX_LENGTH = 15


class VitGpt2Captioner(Captioner):
    """Captions images with a :class:`~tfcaption.models.vit_gpt2.vit_gpt2_model.VitGpt2Model`.

    The image encoder is the model's own ViT (fine-tuned with the decoder, so it is saved
    in the model's weights, not as a separate dir); its features are the encoder states
    ``[B, 1 + patches, decoder width]`` that every decoding step attends to.

    Args:
      model: the :class:`VitGpt2Model`.
      tokenizer: its GPT-2 tokenizer (``load_gpt2_tokenizer``).
      tokens: the :class:`~tfcaption.models.vit_gpt2.vit_gpt2_checkpoint.SpecialTokens`.
      preprocessor: the ViT image preprocessing (an ``ImagePreprocessor``; the released
        checkpoint's is ``imagenet`` mode ``tf`` at 224 px: x / 127.5 - 1).
      max_length: default most generated tokens (eos included).
      jit_compile: compile decoding and image encoding with XLA.
    """

    model_type = "vit_gpt2"
    feature_name = "ViT encoder states"

    def __init__(self, model, tokenizer, tokens, preprocessor, max_length=DEFAULT_MAX_LENGTH,
                 jit_compile=True):
        encoder = LoadedBackbone(model=model.encoder, model_type="vit",
                                 preprocessor=preprocessor)
        super().__init__(encoder, (tokens.eos,), jit_compile)
        self.model = model
        self.tokenizer = tokenizer
        self.tokens = tokens
        self.strip_token_ids = (int(tokens.eos),)
        self.max_length = int(max_length)
        self.provenance = {}  # e.g. {"converted_from": ...}, written back by the saver
        self._functions = {}

    @property
    def feature_dim(self) -> int:
        return int(self.model.decoder.hidden_dim)

    @property
    def feature_shape(self) -> tuple:
        return (self.model.num_encoder_states, self.feature_dim)

    def image_feature_function(self, jit_compile=None):
        """Preprocessed images -> encoder states (the ViT, then ``enc_to_dec_proj``)."""
        jit = self.jit_compile if jit_compile is None else bool(jit_compile)
        model = self.model

        def encode(images):
            return tf.cast(model.encode(images, training=False), tf.float32)
        return tf.function(encode, jit_compile=jit, reduce_retracing=True)

    def longest_caption(self) -> int:
        """Generated tokens that fit GPT-2's positions after the start token."""
        return int(self.model.decoder.max_sequence_length) - 1

    def fit_decoding_config(self, config, decoding, overrides):
        """``max_length`` defaults to the model's; more than GPT-2's positions allow is a
        ``ValueError``."""
        if not names_max_length(decoding, overrides):
            config = dataclasses.replace(config, max_length=self.max_length)
        if config.max_length > self.longest_caption():
            raise ValueError(f"max_length {config.max_length} does not fit this model: its "
                             f"GPT-2 has {self.model.decoder.max_sequence_length} positions, "
                             f"one taken by the start token (at most "
                             f"{self.longest_caption()})")
        return config

    def decode_function(self, config, jit_compile):
        key = (config, bool(jit_compile))
        if key not in self._functions:
            model, start = self.model, self.tokens.decoder_start

            def run(features, seed):
                return model.generate_ids(features, start, config, seed=seed)

            self._functions[key] = tf.function(
                run, jit_compile=bool(jit_compile), reduce_retracing=True,
                input_signature=[tf.TensorSpec([None, *self.feature_shape], tf.float32),
                                 tf.TensorSpec([2], tf.int32)])
        return self._functions[key]

    def describe(self) -> str:
        """One line on the architecture, special tokens and preprocessing."""
        model, tokens = self.model, self.tokens
        vit, gpt = model.encoder, model.decoder
        return (f"ViT {vit.num_layers} layers x {vit.hidden_dim} ({model.image_shape[0]} px, "
                f"patch {model.patch_size[0]}), GPT-2 with cross-attention {gpt.num_layers} "
                f"layers x {gpt.hidden_dim} (vocabulary {gpt.vocabulary_size}), "
                f"enc_to_dec_proj {'yes' if model.projection is not None else 'no'}, start "
                f"token {tokens.decoder_start}, eos {tokens.eos}, image preprocessing "
                f"{self.preprocessor.get_config()}")

    def detokenize(self, token_ids):
        """One generated sequence (list of ids) -> its text, without the trailing eos."""
        return gpt2_caption_text(self.tokenizer, token_ids, self.strip_token_ids)

    def graph_detokenizer(self):
        return GraphDetokenizer(self.tokenizer.vocabulary, self.model.decoder.vocabulary_size,
                                self.strip_token_ids)
