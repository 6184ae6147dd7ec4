"""The settings of ``model.type = "clipcap_text"``, CgT-GAN's text-only initialisation
(:mod:`tfcaption.models.clipcap.cgtgan.text_init_training`).

:data:`SETTINGS` is the schema :func:`tfcaption.hparams.check_hparams` checks an hparams
file against; the ``model`` section is ClipCap's
(:data:`tfcaption.models.clipcap.clipcap_settings.MODEL`). :func:`validate` adds the value
checks a schema cannot express.
"""

import os

from tfcaption.hparams import Required, Section
from tfcaption.models.clipcap.cgtgan.corpus_embedding import CORPUS_FILE
from tfcaption.models.clipcap.clipcap_settings import MODEL, check_model
from tfcaption.training.shared_settings import (DISTRIBUTION, ADAMW, DATA, EVAL, TOKENIZER,
                                                check_adamw, check_positive, check_run_length)

SETTINGS = {
    "model": MODEL,
    "data": Section({
        "corpus_embeddings": Required(""),  # the dir python -m tfcaption.embed_corpus wrote
        **DATA,  # dir, test_split, train_split: the images of the final evaluation
        "max_length": Required(1),
    }),
    "tokenizer": TOKENIZER,
    "train": Section({
        **DISTRIBUTION,
        "batch_size": Required(1),
        "epochs": Required(1),
        **ADAMW,
        "seed": 0,
        "jit_compile": True,
        "verbose": 2,
    }),
    "eval": EVAL,
}


def validate(hparams, source="hparams"):
    """The checks :data:`SETTINGS` cannot express, on checked hparams."""
    check_model(hparams["model"], source)
    check_adamw(hparams["train"], source)
    check_positive(hparams["train"], source)


def check_data(hparams, source="hparams"):
    """The checks that read the corpus (the run's length), before any work."""
    path = os.path.join(hparams["data"]["corpus_embeddings"], CORPUS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{source}: data.corpus_embeddings holds no {CORPUS_FILE}: "
                                f"{path} (write it with python -m tfcaption.embed_corpus)")
    with open(path, "rb") as f:
        sentences = sum(1 for line in f if line.strip())
    check_run_length(hparams, sentences, "corpus sentences", source)
