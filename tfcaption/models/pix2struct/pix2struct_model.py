"""Pix2Struct in Keras: flattened image patches -> ViT-like encoder -> T5-style decoder."""

import keras
import tensorflow as tf

from tfcaption.decoding.decode import decode_from_start
from tfcaption.decoding.decoding_config import DecodingConfig
from tfcaption.models.encoder_decoder_model import EncoderDecoderModel
from tfcaption.models.pix2struct import pix2struct_decoding
from tfcaption.models.pix2struct.pix2struct_backbones import (  # noqa: F401 (serialisable)
    Pix2StructTextDecoder, Pix2StructVisionEncoder)


@keras.saving.register_keras_serializable(package="tfcaption")
class Pix2StructModel(EncoderDecoderModel):
    """Hugging Face's ``Pix2StructForConditionalGeneration``, in Keras.

    Args:
      encoder: a :class:`Pix2StructVisionEncoder`.
      decoder: a :class:`Pix2StructTextDecoder`.
      decoder_start_token_id: the first decoder input (0 in every released checkpoint).

    ``call({"patches" [B, N, 2 + P], "patch_mask" [B, N], "token_ids" [B, T],
    "padding_mask" [B, T]})`` -> logits ``[B, T, V]`` where ``logits[:, t]`` predicts
    ``token_ids[:, t]`` (teacher forcing, as Hugging Face's ``labels``: the decoder reads
    ``decoder_start`` then the tokens shifted right by one).
    """

    def encode(self, patches, patch_mask, training=False):
        """Flattened patches ``[B, N, 2 + P]`` and their mask -> states ``[B, N, D]``."""
        return self.encoder({"patches": tf.cast(patches, self.encoder.compute_dtype),
                             "padding_mask": tf.cast(patch_mask, tf.int32)}, training=training)

    def decode(self, encoder_states, patch_mask, token_ids, padding_mask, training=False):
        """Logits ``[B, T, V]`` after each decoder input ``token_ids`` (which begin with the
        start token) over the encoder states."""
        return self.decoder({"token_ids": tf.cast(token_ids, tf.int32),
                             "padding_mask": tf.cast(padding_mask, tf.int32),
                             "encoder_sequence": tf.convert_to_tensor(encoder_states),
                             "encoder_padding_mask": tf.cast(patch_mask, tf.int32)},
                            training=training)

    def call(self, inputs, training=False):
        decoder_ids, decoder_mask = self.shifted_decoder_inputs(inputs["token_ids"],
                                                                inputs["padding_mask"])
        states = self.encode(inputs["patches"], inputs["patch_mask"], training=training)
        return self.decode(states, inputs["patch_mask"], decoder_ids, decoder_mask,
                           training=training)

    # --- cached decoding ---------------------------------------------------------------
    def generate_ids(self, encoder_states, patch_mask, start_id, decoding, seed=None):
        """Decodes from encoder states ``[B, N, D]`` and their patch mask ``[B, N]`` ->
        a ``DecodeResult``. Each block's cross-attention keys and values are computed once
        here and read by every token step for every beam or sample. Traceable (XLA)."""
        config = DecodingConfig.parse(decoding)
        decoder = self.decoder
        weights = pix2struct_decoding.decoding_weights(decoder)
        cross = pix2struct_decoding.cross_keys_values(weights, encoder_states,
                                                      decoder.num_heads)
        key_bias = (1.0 - tf.cast(patch_mask, tf.float32)) * pix2struct_decoding.MASKED
        length = 1 + config.max_length
        bias_table = pix2struct_decoding.position_bias(decoder, length)
        batch = tf.shape(encoder_states)[0]
        cache = pix2struct_decoding.init_cache(decoder, batch, length)

        def forward(token_ids, cache, index):
            return pix2struct_decoding.cached_forward(
                weights, token_ids, cache, index, bias_table, cross, key_bias,
                decoder.num_heads, decoder.layer_norm_epsilon)

        return decode_from_start(forward, start_id, batch, cache, config, seed=seed)
