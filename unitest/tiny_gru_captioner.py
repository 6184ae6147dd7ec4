"""A tiny random-weight WGAN GRU captioner model dir that captions image files (test helper).

The image encoder is the shipped shapes CLIP (96 px, 64-d embeddings); the vocabulary is
built from the ``shapes`` training captions.
"""

import os

import keras
import tensorflow as tf

from tfcaption.backbones.clip_image_encoder import load_clip_image_encoder
from tfcaption.data.captions_file import read_captions_jsonl
from tfcaption.data.text_ops import clean_captions
from tfcaption.models.wgan.gated_gru_generator import GatedGruGenerator
from tfcaption.models.wgan.gru_captioner import GruCaptioner
from tfcaption.models.wgan.gru_captioner_dir import save_gru_captioner
from tfcaption.tokenizers.word_vocabulary import WordVocabulary

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP_SHAPES = os.path.join(ROOT, "pretrained_models", "clip_shapes")


def make_tiny_gru_dir(out_dir, shapes_dir, seed=1):
    """Writes the tiny ``wgan_gru`` model dir to ``out_dir``; returns its path."""
    texts = [c for r in read_captions_jsonl(os.path.join(shapes_dir, "captions.jsonl"), "train")
             for c in r["captions"]]
    cleaned = [t.decode("utf-8") for t in clean_captions(tf.constant(texts)).numpy()]
    vocabulary = WordVocabulary.build(cleaned)
    keras.utils.set_random_seed(seed)
    encoder = load_clip_image_encoder(CLIP_SHAPES)
    generator = GatedGruGenerator(len(vocabulary), feature_dim=encoder.model.projection_dim,
                                  embedding_dim=16, hidden_dim=24, dropout=0.5)
    captioner = GruCaptioner(generator, vocabulary, image_encoder=encoder, max_length=12)
    return save_gru_captioner(captioner, out_dir)
