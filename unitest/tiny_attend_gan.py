"""A tiny random-weight ATTEND-GAN generator model dir that captions image files (test helper).

The image encoder is the shipped shapes CLIP's ResNet cut before its attention pool
(96 px -> a 3x3 grid of 512-d regions); the vocabulary is built from the ``shapes``
training captions.
"""

import keras
from tiny_captioner import CLIP_SHAPES, shapes_word_vocabulary

from tfcaption.backbones.image_encoder_dir import load_image_encoder
from tfcaption.data.text_ops import clean_captions
from tfcaption.models.attend_gan.attend_gan_captioner import AttendGanCaptioner
from tfcaption.models.attend_gan.attend_gan_dir import save_attend_gan
from tfcaption.models.attend_gan.attention_lstm_generator import AttentionLstmGenerator


def make_tiny_attend_gan_dir(out_dir, shapes_dir, seed=1):
    """Writes the tiny ``attend_gan`` model dir to ``out_dir``; returns its path."""
    vocabulary = shapes_word_vocabulary(shapes_dir, clean_captions)
    keras.utils.set_random_seed(seed)
    encoder = load_image_encoder({"type": "clip", "path": CLIP_SHAPES, "output": "grid"})
    *grid, channels = encoder.config["output_shape"]
    generator = AttentionLstmGenerator(len(vocabulary), feature_dim=channels, grid_shape=grid,
                                       embedding_dim=16, hidden_dim=24, attention_dim=8)
    captioner = AttendGanCaptioner(generator, vocabulary, image_encoder=encoder, max_length=12)
    return save_attend_gan(captioner, out_dir)
