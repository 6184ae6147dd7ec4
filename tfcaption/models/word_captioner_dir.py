"""Reads and writes the model dir of a :class:`~tfcaption.models.word_captioner.WordCaptioner`.

Layout (see :mod:`tfcaption.models.captioner_dir`)::

    config.json          tfcaption_model_type, the serialised model, the image
                         preprocessing, and {"max_length", "vocabulary", "image_encoder"}
    model.weights.h5     the model's weights
    vocab.txt            the WordVocabulary (one token per line)
    image_encoder/       optional: the pooled image encoder, itself a model dir (``cnn``,
                         ``clip`` or ``clip_resnet``), with its preprocessing
"""

import os

from tfcaption.models.captioner_dir import load_captioner_dir, save_captioner_dir
from tfcaption.tokenizers.word_vocabulary import WordVocabulary

VOCABULARY_FILE = "vocab.txt"


def save_word_captioner(captioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    config = {"max_length": captioner.max_length, "vocabulary": VOCABULARY_FILE,
              **(extra_config or {})}
    return save_captioner_dir(
        captioner, out_dir, captioner.model, config,
        write_extra=lambda d: captioner.vocabulary.save(os.path.join(d, VOCABULARY_FILE)))


def load_word_captioner(path, captioner_class, jit_compile=True, **options):
    """A model dir of ``captioner_class.model_type`` -> a ``captioner_class`` (``options``
    passed to its constructor); the error names a missing vocabulary file."""
    model, config, encoder = load_captioner_dir(path, captioner_class.model_type,
                                                captioner_class.model_class)
    vocabulary_file = os.path.join(os.fspath(path), config.get("vocabulary", VOCABULARY_FILE))
    if not os.path.isfile(vocabulary_file):
        raise FileNotFoundError(f"{path}: the vocabulary file {vocabulary_file} is missing")
    return captioner_class(model, WordVocabulary.load(vocabulary_file), image_encoder=encoder,
                           max_length=config.get("max_length", 20), jit_compile=jit_compile,
                           **options)
