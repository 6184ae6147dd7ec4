"""Reads and writes a gated GRU captioner model dir (the WGAN-GP captioner's generator).

Layout (see :mod:`tfcaption.models.captioner_dir`)::

    config.json          tfcaption_model_type "wgan_gru", the serialised GatedGruGenerator,
                         the image preprocessing, and {"max_length", "vocabulary",
                         "image_encoder"}
    model.weights.h5     the generator's weights
    vocab.txt            the WordVocabulary (one token per line)
    image_encoder/       optional: the image encoder, itself a model dir (``cnn``,
                         ``clip`` or ``clip_resnet``)
"""

import os

from tfcaption.models.captioner_dir import load_captioner_dir, save_captioner_dir
from tfcaption.models.wgan.gated_gru_generator import GatedGruGenerator
from tfcaption.models.wgan.gru_captioner import GruCaptioner
from tfcaption.tokenizers.word_vocabulary import WordVocabulary

MODEL_TYPE = GruCaptioner.model_type
VOCABULARY_FILE = "vocab.txt"


def save_gru_captioner(captioner: GruCaptioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    config = {"max_length": captioner.max_length, "vocabulary": VOCABULARY_FILE,
              **(extra_config or {})}
    return save_captioner_dir(
        captioner, out_dir, captioner.generator, config,
        write_extra=lambda d: captioner.vocabulary.save(os.path.join(d, VOCABULARY_FILE)))


def load_gru_captioner(path, jit_compile=True) -> GruCaptioner:
    """A ``wgan_gru`` model dir -> :class:`GruCaptioner`."""
    generator, config, encoder = load_captioner_dir(path, MODEL_TYPE, GatedGruGenerator)
    vocabulary = WordVocabulary.load(os.path.join(os.fspath(path),
                                                  config.get("vocabulary", VOCABULARY_FILE)))
    return GruCaptioner(generator, vocabulary, image_encoder=encoder,
                        max_length=config.get("max_length", 20), jit_compile=jit_compile)
