"""A tiny random-weight ClipCap model dir that captions image files (test helper).

The image encoder is the shipped shapes CLIP (96 px, 64-d embeddings); GPT-2 has one
block of width 32 and a BPE trained on the ``shapes`` captions.
"""

import os

import keras

from tfcaption.backbones.clip_image_encoder import load_clip_image_encoder
from tfcaption.backbones.gpt2_backbone import GPT2Backbone
from tfcaption.data.captions_file import read_captions_jsonl
from tfcaption.models.clipcap.clipcap_builder import build_mapper
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.models.clipcap.clipcap_model import ClipCapModel
from tfcaption.models.clipcap.clipcap_model_dir import save_clipcap
from tfcaption.tokenizers.bpe_trainer import train_bpe
from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP_SHAPES = os.path.join(ROOT, "pretrained_models", "clip_shapes")


def shapes_train_captions(shapes_dir):
    """Every caption of the ``shapes`` training split, as str."""
    return [c for r in read_captions_jsonl(os.path.join(shapes_dir, "captions.jsonl"), "train")
            for c in r["captions"]]


def shapes_word_vocabulary(shapes_dir, clean):
    """The WordVocabulary of the ``shapes`` training captions after ``clean`` (a string
    tensor op such as ``clean_captions``)."""
    import tensorflow as tf

    from tfcaption.tokenizers.word_vocabulary import WordVocabulary

    cleaned = clean(tf.constant(shapes_train_captions(shapes_dir))).numpy()
    return WordVocabulary.build([t.decode("utf-8") for t in cleaned])


def make_tiny_clipcap_dir(out_dir, shapes_dir, seed=1):
    """Writes the tiny ClipCap model dir to ``out_dir``; returns its path."""
    texts = shapes_train_captions(shapes_dir)
    bpe_dir = out_dir + "_bpe"
    train_bpe(texts, bpe_dir, vocab_size=300)
    tokenizer = load_gpt2_tokenizer(bpe_dir)
    keras.utils.set_random_seed(seed)
    gpt2 = GPT2Backbone(vocabulary_size=tokenizer.vocabulary_size(), num_layers=1,
                        num_heads=2, hidden_dim=32, intermediate_dim=64,
                        max_sequence_length=48, dropout=0.0)
    mapper = build_mapper("mlp", 64, 32, prefix_length=3)
    model = ClipCapModel(mapper, gpt2)
    captioner = ClipCapCaptioner(model, tokenizer,
                                 image_encoder=load_clip_image_encoder(CLIP_SHAPES))
    return save_clipcap(captioner, out_dir)
