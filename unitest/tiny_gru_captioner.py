"""A tiny random-weight WGAN GRU captioner model dir that captions image files (test helper).

The image encoder is the shipped shapes CLIP (96 px, 64-d embeddings); the vocabulary is
built from the ``shapes`` training captions.
"""

import keras
from tiny_captioner import CLIP_SHAPES, shapes_word_vocabulary

from tfcaption.backbones.clip_image_encoder import load_clip_image_encoder
from tfcaption.data.text_ops import clean_captions
from tfcaption.models.wgan.gated_gru_generator import GatedGruGenerator
from tfcaption.models.wgan.gru_captioner import GruCaptioner
from tfcaption.models.wgan.gru_captioner_dir import save_gru_captioner


def make_tiny_gru_dir(out_dir, shapes_dir, seed=1):
    """Writes the tiny ``wgan_gru`` model dir to ``out_dir``; returns its path."""
    vocabulary = shapes_word_vocabulary(shapes_dir, clean_captions)
    keras.utils.set_random_seed(seed)
    encoder = load_clip_image_encoder(CLIP_SHAPES)
    generator = GatedGruGenerator(len(vocabulary), feature_dim=encoder.model.projection_dim,
                                  embedding_dim=16, hidden_dim=24, dropout=0.5)
    captioner = GruCaptioner(generator, vocabulary, image_encoder=encoder, max_length=12)
    return save_gru_captioner(captioner, out_dir)
