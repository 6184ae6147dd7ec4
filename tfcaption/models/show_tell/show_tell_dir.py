"""Reads and writes a Show-and-Tell model dir.

Layout (see :mod:`tfcaption.models.captioner_dir`)::

    config.json          tfcaption_model_type "show_tell", the serialised ShowTellModel,
                         the image preprocessing, and {"max_length", "vocabulary",
                         "image_encoder"}
    model.weights.h5     the model's weights
    vocab.txt            the WordVocabulary (one token per line)
    image_encoder/       optional: the pooled image encoder, itself a model dir (``cnn``,
                         ``clip`` or ``clip_resnet``), with its preprocessing (e.g. the
                         ``imagenet`` policy's ``unit`` mode, x / 255)
"""

import os

from tfcaption.models.captioner_dir import load_captioner_dir, save_captioner_dir
from tfcaption.models.show_tell.show_tell_captioner import ShowTellCaptioner
from tfcaption.models.show_tell.show_tell_model import ShowTellModel
from tfcaption.tokenizers.word_vocabulary import WordVocabulary

MODEL_TYPE = ShowTellCaptioner.model_type
VOCABULARY_FILE = "vocab.txt"


def save_show_tell(captioner: ShowTellCaptioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    config = {"max_length": captioner.max_length, "vocabulary": VOCABULARY_FILE,
              **(extra_config or {})}
    return save_captioner_dir(
        captioner, out_dir, captioner.model, config,
        write_extra=lambda d: captioner.vocabulary.save(os.path.join(d, VOCABULARY_FILE)))


def load_show_tell(path, jit_compile=True) -> ShowTellCaptioner:
    """A ``show_tell`` model dir -> :class:`ShowTellCaptioner`."""
    model, config, encoder = load_captioner_dir(path, MODEL_TYPE, ShowTellModel)
    vocabulary_file = os.path.join(os.fspath(path), config.get("vocabulary", VOCABULARY_FILE))
    if not os.path.isfile(vocabulary_file):
        raise FileNotFoundError(f"{path}: the vocabulary file {vocabulary_file} is missing")
    vocabulary = WordVocabulary.load(vocabulary_file)
    return ShowTellCaptioner(model, vocabulary, image_encoder=encoder,
                             max_length=config.get("max_length", 20), jit_compile=jit_compile)
