"""The word vocabulary of a training run, built once from the training captions."""

import os

import tensorflow as tf

from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl
from tfcaption.tokenizers.word_vocabulary import WordVocabulary

VOCABULARY_FILE = "vocab.txt"


def training_vocabulary(data, workdir, clean, max_size=None, min_count=1) -> WordVocabulary:
    """``workdir/vocab.txt``: the :class:`WordVocabulary` of the ``data.train_split``
    captions of ``data.dir`` after ``clean`` (a string op, e.g.
    :func:`tfcaption.data.text_ops.clean_captions`), at most ``max_size`` tokens
    (specials included), words seen at least ``min_count`` times. A rerun reads the file
    back instead of building it again, so a resumed run keeps its ids."""
    path = os.path.join(workdir, VOCABULARY_FILE)
    if os.path.isfile(path):
        return WordVocabulary.load(path)
    records = read_captions_jsonl(os.path.join(data["dir"], CAPTIONS_FILE),
                                  split=data["train_split"])
    captions = [c for r in records for c in r["captions"]]
    cleaned = [c.decode("utf-8") for c in clean(tf.constant(captions)).numpy()]
    vocabulary = WordVocabulary.build(cleaned, min_count=min_count, max_size=max_size)
    vocabulary.save(path)
    return vocabulary
