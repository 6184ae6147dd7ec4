"""Pix2Struct with what it needs to caption: the patch preprocessing, the SentencePiece
tokenizer and the special tokens."""

import dataclasses

import tensorflow as tf

from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.data.patch_preprocessor import patch_mask
from tfcaption.decoding.decoding_config import names_max_length
from tfcaption.models.captioner import Captioner
from tfcaption.serving.piece_graph_detokenizer import PieceGraphDetokenizer

DEFAULT_MAX_LENGTH = 32


class Pix2StructCaptioner(Captioner):
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

    def __init__(self, model, tokenizer, tokens, preprocessor, max_length=DEFAULT_MAX_LENGTH,
                 jit_compile=True):
        encoder = LoadedBackbone(model=model.encoder, model_type="pix2struct_vision",
                                 preprocessor=preprocessor)
        super().__init__(encoder, (tokens.eos,), jit_compile)
        self.model = model
        self.tokenizer = tokenizer
        self.tokens = tokens
        self.max_length = int(max_length)
        self.provenance = {}  # e.g. {"converted_from": ...}, written back by the saver
        self._functions = {}

    @property
    def feature_shape(self) -> tuple:
        return tuple(self.preprocessor.output_shape)

    @property
    def feature_dim(self) -> int:
        return self.feature_shape[-1]

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

    def fit_decoding_config(self, config, decoding, overrides):
        """``max_length`` defaults to the model's."""
        if not names_max_length(decoding, overrides):
            config = dataclasses.replace(config, max_length=self.max_length)
        return config

    def decode_function(self, config, jit_compile):
        key = (config, bool(jit_compile))
        if key not in self._functions:
            model, start = self.model, self.tokens.decoder_start

            def run(patches, seed):
                mask = patch_mask(patches)
                states = model.encode(patches, mask)
                return model.generate_ids(states, mask, start, config, seed=seed)

            self._functions[key] = tf.function(
                run, jit_compile=bool(jit_compile), reduce_retracing=True,
                input_signature=[tf.TensorSpec([None, *self.feature_shape], tf.float32),
                                 tf.TensorSpec([2], tf.int32)])
        return self._functions[key]

    def describe(self) -> str:
        """One line on the architecture, special tokens and preprocessing."""
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
        return self.tokenizer.detokenize(tf.ragged.constant([ids], tf.int32))[0].numpy() \
            .decode("utf-8")

    def graph_detokenizer(self):
        return PieceGraphDetokenizer(self.tokenizer)
