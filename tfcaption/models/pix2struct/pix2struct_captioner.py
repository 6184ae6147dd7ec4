"""Pix2Struct with what it needs to caption: the patch preprocessing, the SentencePiece
tokenizer and the special tokens."""

import tensorflow as tf

from tfcaption.data.patch_preprocessor import patch_mask
from tfcaption.models.encoder_decoder_captioner import EncoderDecoderCaptioner
from tfcaption.serving.piece_graph_detokenizer import PieceGraphDetokenizer

DEFAULT_MAX_LENGTH = 32


class Pix2StructCaptioner(EncoderDecoderCaptioner):
    """Captions images with a :class:`~tfcaption.models.pix2struct.pix2struct_model.
    Pix2StructModel`.

    Its features are the image's flattened patches ``[max_patches, 2 + p * p * 3]`` (the
    :class:`~tfcaption.data.patch_preprocessor.PatchPreprocessor` output; every image,
    whatever its size and aspect ratio, becomes one such array): the encoder is trained
    with the decoder, so the compiled decoding function runs the encoder on the patches,
    computes each block's cross-attention keys and values once and decodes.

    Args:
      model: the :class:`Pix2StructModel`.
      tokenizer: its :class:`~tfcaption.tokenizers.sentencepiece_tokenizer.
        SentencePieceTokenizer`.
      tokens: the :class:`~tfcaption.models.pix2struct.pix2struct_checkpoint.SpecialTokens`.
      preprocessor: the :class:`PatchPreprocessor` (``max_patches``, ``patch_size``).
      max_length: default most generated tokens (eos included).
      jit_compile: compile decoding with XLA.
    """

    model_type = "pix2struct"
    feature_name = "flattened patches"
    encoder_type = "pix2struct_vision"
    default_max_length = DEFAULT_MAX_LENGTH

    @property
    def feature_shape(self) -> tuple:
        return tuple(self.preprocessor.output_shape)

    def image_feature_function(self, jit_compile=None):
        """Patches are the features (the encoder runs inside decoding): the identity."""
        return tf.function(lambda patches: tf.cast(patches, tf.float32))

    def encode_images(self, images):
        """Patches ``[B, N, D]`` as they are; decoded images ``[B, H, W, 3]`` (``[0, 255]``)
        -> their patches."""
        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape.rank == 4:
            return tf.map_fn(self.preprocessor, images,
                             fn_output_signature=tf.TensorSpec(self.feature_shape, tf.float32))
        return images

    def decode_features(self, features, seed, config):
        mask = patch_mask(features)
        states = self.model.encode(features, mask)
        return self.model.generate_ids(states, mask, self.tokens.decoder_start, config,
                                       seed=seed)

    def describe(self) -> str:
        encoder, decoder = self.model.encoder, self.model.decoder
        return (f"Pix2Struct encoder {encoder.num_layers} layers x {encoder.hidden_dim}, "
                f"decoder {decoder.num_layers} layers x {decoder.hidden_dim} (vocabulary "
                f"{decoder.vocabulary_size}), start token {self.tokens.decoder_start}, eos "
                f"{self.tokens.eos}, patches {self.preprocessor.get_config()}")

    def detokenize(self, token_ids):
        """One generated sequence (list of ids) -> its text (special tokens dropped)."""
        ids = [int(i) for i in token_ids]
        if self.tokens.eos in ids:
            ids = ids[:ids.index(self.tokens.eos)]
        text = self.tokenizer.detokenize(tf.ragged.constant([ids], tf.int32))[0]
        return text.numpy().decode("utf-8")

    def graph_detokenizer(self):
        return PieceGraphDetokenizer(self.tokenizer)
