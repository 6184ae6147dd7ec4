"""Pix2Struct in Keras: flattened image patches -> ViT-like encoder -> T5-style decoder."""

import keras
import tensorflow as tf

from tfcaption.decoding.decode import decode
from tfcaption.decoding.decoding_config import DecodingConfig
from tfcaption.models.pix2struct import pix2struct_decoding
from tfcaption.models.pix2struct.pix2struct_backbones import (  # noqa: F401 (serialisable)
    Pix2StructTextDecoder, Pix2StructVisionEncoder)


@keras.saving.register_keras_serializable(package="tfcaption")
class Pix2StructModel(keras.Model):
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

    def __init__(self, encoder, decoder, decoder_start_token_id=0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.decoder_start_token_id = int(decoder_start_token_id)
        self.built = True  # both backbones are functional models, built when made

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
        token_ids = tf.cast(inputs["token_ids"], tf.int32)
        mask = tf.cast(inputs["padding_mask"], tf.int32)
        start = tf.fill([tf.shape(token_ids)[0], 1], self.decoder_start_token_id)
        decoder_ids = tf.concat([start, token_ids[:, :-1]], axis=1)
        decoder_mask = tf.concat([tf.ones_like(start), mask[:, :-1]], axis=1)
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

        start = tf.fill([batch, 1], tf.cast(start_id, tf.int32))
        first_logits, cache = forward(start, cache, 0)

        def step(token_ids, cache, index):
            logits, cache = forward(token_ids[:, None], cache, index)
            return logits[:, 0], cache
        return decode(step, first_logits[:, 0], cache, 1, config, seed=seed)

    def get_config(self):
        return {**super().get_config(), "decoder_start_token_id": self.decoder_start_token_id,
                "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)
