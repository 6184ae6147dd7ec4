"""A tiny random-weight Show-and-Tell captioner model dir that captions image files (test helper).

The image encoder is the shipped shapes CLIP (96 px, 64-d embeddings); the vocabulary is
built from the ``shapes`` training captions, cleaned the Show-and-Tell way.
"""

import keras
from tiny_captioner import CLIP_SHAPES, shapes_word_vocabulary

from tfcaption.backbones.clip_image_encoder import load_clip_image_encoder
from tfcaption.models.show_tell.show_tell_captioner import ShowTellCaptioner
from tfcaption.models.show_tell.show_tell_dir import save_show_tell
from tfcaption.models.show_tell.show_tell_model import ShowTellModel
from tfcaption.models.show_tell.show_tell_text import clean_show_tell


def make_tiny_show_tell_dir(out_dir, shapes_dir, seed=1, merge="add"):
    """Writes the tiny ``show_tell`` model dir to ``out_dir``; returns its path."""
    vocabulary = shapes_word_vocabulary(shapes_dir, clean_show_tell)
    keras.utils.set_random_seed(seed)
    encoder = load_clip_image_encoder(CLIP_SHAPES)
    model = ShowTellModel(len(vocabulary), feature_dim=encoder.model.projection_dim,
                          embedding_dim=16, hidden_dim=16, dense_dim=12, merge=merge)
    captioner = ShowTellCaptioner(model, vocabulary, image_encoder=encoder, max_length=12)
    return save_show_tell(captioner, out_dir)
