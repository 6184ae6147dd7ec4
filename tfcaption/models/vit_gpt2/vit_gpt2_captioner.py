"""ViT-GPT2 with what it needs to caption: GPT-2 tokenizer, special tokens, ViT preprocessing."""

import tensorflow as tf

from tfcaption.models.encoder_decoder_captioner import EncoderDecoderCaptioner
from tfcaption.serving.graph_detokenizer import GraphDetokenizer
from tfcaption.tokenizers.gpt2_captions import gpt2_caption_text

# The model card's generation length: 16 positions including the start token.
DEFAULT_MAX_LENGTH = 15


class VitGpt2Captioner(EncoderDecoderCaptioner):
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
    encoder_type = "vit"
    default_max_length = DEFAULT_MAX_LENGTH

    @property
    def feature_shape(self) -> tuple:
        return (self.model.num_encoder_states, int(self.model.decoder.hidden_dim))

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

    def limit_reason(self) -> str:
        return (f"its GPT-2 has {self.model.decoder.max_sequence_length} positions, one taken "
                f"by the start token")

    def decode_features(self, features, seed, config):
        return self.model.generate_ids(features, self.tokens.decoder_start, config, seed=seed)

    def describe(self) -> str:
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
        return gpt2_caption_text(self.tokenizer, token_ids, self.stop_token_ids)

    def graph_detokenizer(self):
        return GraphDetokenizer(self.tokenizer.vocabulary, self.model.decoder.vocabulary_size,
                                self.stop_token_ids)
