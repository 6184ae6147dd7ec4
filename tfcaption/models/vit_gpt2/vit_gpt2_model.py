"""ViT-GPT2: a ViT image encoder and a GPT-2 decoder with cross-attention (Hugging Face's
VisionEncoderDecoder layout), in Keras."""

import keras
import tensorflow as tf

from tfcaption.backbones import gpt2_decoding
from tfcaption.backbones.gpt2_cross_backbone import GPT2CrossBackbone  # noqa: F401 (serialisable)
from tfcaption.decoding.decode import decode_from_start
from tfcaption.decoding.decoding_config import DecodingConfig
from tfcaption.models.encoder_decoder_model import EncoderDecoderModel


@keras.saving.register_keras_serializable(package="tfcaption")
class VitGpt2Model(EncoderDecoderModel):
    """Images -> ViT hidden states (the class token and every patch) -> optional
    projection to the decoder's width (HF ``enc_to_dec_proj``, present only when the
    widths differ) -> GPT-2 with cross-attention -> next-token logits (tied head).

    Args:
      encoder: a keras-hub ``ViTBackbone``.
      decoder: a :class:`~tfcaption.backbones.gpt2_cross_backbone.GPT2CrossBackbone`.
      decoder_start_token_id: the first decoder input (HF ``decoder_start_token_id``).

    ``call({"images" [B, H, W, 3], "token_ids" [B, T], "padding_mask" [B, T]})`` ->
    logits ``[B, T, V]`` where ``logits[:, t]`` predicts ``token_ids[:, t]`` (teacher
    forcing, as Hugging Face's ``labels``: the decoder reads ``decoder_start`` then the
    tokens shifted right by one; ``padding_mask`` marks the real tokens, eos included).
    :meth:`decode` takes the decoder's inputs themselves.
    """

    def __init__(self, encoder, decoder, decoder_start_token_id=0, **kwargs):
        super().__init__(encoder, decoder, decoder_start_token_id, **kwargs)
        self.projection = None
        if encoder.hidden_dim != decoder.hidden_dim:
            self.projection = keras.layers.Dense(decoder.hidden_dim, name="enc_to_dec_proj")
            self.projection.build((None, None, encoder.hidden_dim))

    @property
    def image_shape(self):
        return tuple(self.encoder.image_shape)

    @property
    def patch_size(self):
        """The ViT's ``(height, width)`` patch size."""
        patch = self.encoder.patch_size
        return (int(patch), int(patch)) if isinstance(patch, int) else tuple(map(int, patch))

    @property
    def num_encoder_states(self) -> int:
        """The class token and one state per patch."""
        (height, width, _), (ph, pw) = self.image_shape, self.patch_size
        return 1 + (height // ph) * (width // pw)

    def encode(self, images, training=False):
        """Images ``[B, H, W, 3]`` (preprocessed) -> encoder states ``[B, S, D_decoder]``."""
        states = self.encoder(images, training=training)
        return states if self.projection is None else self.projection(states)

    def decode(self, encoder_states, token_ids, padding_mask, training=False):
        """Logits ``[B, T, V]`` after each of the decoder inputs ``token_ids`` (which
        begin with the start token) over ``encoder_states``."""
        hidden = self.decoder({"token_ids": tf.convert_to_tensor(token_ids, tf.int32),
                               "padding_mask": tf.convert_to_tensor(padding_mask, tf.int32),
                               "encoder_sequence": encoder_states}, training=training)
        return self.decoder.lm_logits(hidden)

    def call(self, inputs, training=False):
        decoder_ids, decoder_mask = self.shifted_decoder_inputs(inputs["token_ids"],
                                                                inputs["padding_mask"])
        return self.decode(self.encode(inputs["images"], training=training), decoder_ids,
                           decoder_mask, training=training)

    # --- cached decoding ---------------------------------------------------------------
    def decoding_weights(self, dtype=None):
        """The decoder's weights for :func:`gpt2_decoding.cached_forward` (self- and
        cross-attention; ``dtype`` "bfloat16" or "int8" for reduced-precision copies)."""
        return gpt2_decoding.decoding_weights(self.decoder, dtype)

    def generate_ids(self, encoder_states, start_id, decoding, seed=None, weights=None):
        """Decodes from encoder states ``[B, S, D]`` (:meth:`encode`), the first input
        token being ``start_id`` (HF ``decoder_start_token_id``) -> a ``DecodeResult``.
        Each block's cross-attention keys and values are computed here once, then read by
        every token step for every beam or sample. Traceable (XLA)."""
        config = DecodingConfig.parse(decoding)
        decoder = self.decoder
        weights = self.decoding_weights() if weights is None else weights
        cross = gpt2_decoding.cross_keys_values(weights, encoder_states, decoder.num_heads,
                                                decoder.compute_dtype)
        batch = tf.shape(encoder_states)[0]
        cache = gpt2_decoding.init_cache(decoder, batch, 1 + config.max_length,
                                         decoder.compute_dtype)

        def forward(token_ids, cache, index):  # token_ids [N, T] at positions index..
            embeddings = tf.gather(decoder.token_embedding.embeddings, token_ids)
            return gpt2_decoding.cached_forward(
                weights, embeddings, cache, index, decoder.num_heads,
                decoder.layer_norm_epsilon, decoder.compute_dtype, cross=cross)

        return decode_from_start(forward, start_id, batch, cache, config, seed=seed)
