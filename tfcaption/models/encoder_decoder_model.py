"""What the encoder-decoder captioning models (an image encoder whose states a text decoder
reads through cross-attention) share: their two backbones, the decoder's start token,
teacher-forcing inputs and serialisation."""

import keras
import tensorflow as tf


class EncoderDecoderModel(keras.Model):
    """Holds ``encoder`` and ``decoder`` (functional backbones, built when made) and the
    first decoder input ``decoder_start_token_id``; subclasses register themselves as
    Keras serialisables and implement ``call``."""

    def __init__(self, encoder, decoder, decoder_start_token_id=0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.decoder_start_token_id = int(decoder_start_token_id)
        self.built = True

    def shifted_decoder_inputs(self, token_ids, padding_mask):
        """Teacher forcing as Hugging Face's ``labels``: the decoder reads
        ``decoder_start`` then the tokens shifted right by one -> ``(ids, mask)``."""
        token_ids = tf.cast(token_ids, tf.int32)
        mask = tf.cast(padding_mask, tf.int32)
        start = tf.fill([tf.shape(token_ids)[0], 1], self.decoder_start_token_id)
        return (tf.concat([start, token_ids[:, :-1]], axis=1),
                tf.concat([tf.ones_like(start), mask[:, :-1]], axis=1))

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
