"""The ``model`` / ``data`` / ``train`` / ``eval`` settings of the Show-and-Tell trainer, with defaults.

The defaults are the Flickr8k merge-model design: DenseNet201 pooled features of images
scaled to 0-1 (x / 255), 256-wide image vector, embeddings and LSTM, a 128-wide Dense
layer, dropout 0.5, Adam 1e-3, batch 64, up to 50 epochs with early stopping on the
validation loss (patience 5, best weights kept) and the learning rate times 0.2 after 3
epochs without improvement. :data:`SETTINGS` is the schema
:func:`tfcaption.hparams.check_hparams` checks an hparams file against; :func:`validate`
adds the value checks a schema cannot express.
"""

from tfcaption.hparams import Nullable, Required, Section
from tfcaption.models.show_tell.show_tell_model import MERGES
from tfcaption.training.shared_settings import (DISTRIBUTION, DATA, EVAL, check_data_dir,
                                                check_positive_int, check_run_length,
                                                train_split_records)

SETTINGS = {
    "model": Section({
        "type": Required(""),
        # a spec (tfcaption.backbones.image_encoder_dir) or a model dir path; one pooled
        # feature vector per image
        "image_encoder": {"type": "cnn", "name": "densenet201_pooled", "weights": "imagenet",
                          "preprocessing": "unit"},
        "vocabulary_size": Nullable(None),  # most tokens kept (specials included); null: all
        "vocabulary_min_count": 1,
        "max_length": 34,  # most tokens per caption, <end> included
        "embedding_dim": 256,
        "hidden_dim": 256,
        "dense_dim": 128,
        "dropout": 0.5,
        "merge": "add",  # or "none": the image only as the LSTM's first input
    }),
    "data": Section({**DATA, "features_dir": None}),
    "train": Section({
        **DISTRIBUTION,
        "seed": 0, "batch_size": 64, "epochs": 50,
        "learning_rate": 1e-3, "clipnorm": Nullable(None),
        # early stopping on the validation loss; null disables it
        "early_stopping_patience": Nullable(5), "early_stopping_min_delta": 0.0,
        "restore_best_weights": True,
        # learning rate times reduce_lr_factor after reduce_lr_patience epochs without a
        # better validation loss; null patience disables it
        "reduce_lr_factor": 0.2, "reduce_lr_patience": Nullable(3), "min_learning_rate": 1e-8,
        "jit_compile": True, "verbose": 2, "sample_every": 1, "num_samples": 3,
    }),
    "eval": EVAL,
}


def validate(hparams, source="hparams"):
    """Value checks on checked hparams (:data:`SETTINGS`); ``ValueError`` naming
    ``source``, the key and the bad value otherwise."""
    check_data_dir(hparams, source)
    model, train = hparams["model"], hparams["train"]
    for key in ("max_length", "embedding_dim", "hidden_dim", "dense_dim",
                "vocabulary_min_count"):
        check_positive_int(model, "model", key, source)
    check_positive_int(model, "model", "vocabulary_size", source, allow_none=True)
    if model["vocabulary_size"] is not None and model["vocabulary_size"] < 5:
        raise ValueError(f"{source}: model.vocabulary_size must be >= 5 (4 specials and a "
                         f"word), got {model['vocabulary_size']}")
    if model["merge"] not in MERGES:
        raise ValueError(f"{source}: model.merge {model['merge']!r} is not one of {MERGES}")
    if model["merge"] == "add" and model["embedding_dim"] != model["hidden_dim"]:
        raise ValueError(f"{source}: model.merge 'add' needs model.embedding_dim "
                         f"({model['embedding_dim']}) == model.hidden_dim "
                         f"({model['hidden_dim']})")
    if not 0.0 <= model["dropout"] < 1.0:
        raise ValueError(f"{source}: model.dropout must be in [0, 1), got {model['dropout']!r}")
    for key in ("batch_size", "epochs"):
        check_positive_int(train, "train", key, source)
    for key in ("early_stopping_patience", "reduce_lr_patience"):
        check_positive_int(train, "train", key, source, allow_none=True)
    if not 0.0 < train["reduce_lr_factor"] < 1.0:
        raise ValueError(f"{source}: train.reduce_lr_factor must be in (0, 1), got "
                         f"{train['reduce_lr_factor']!r}")
    if train["learning_rate"] <= 0:
        raise ValueError(f"{source}: train.learning_rate must be > 0, got "
                         f"{train['learning_rate']!r}")


def check_data(hparams, source="hparams"):
    """The checks that read the dataset (at least one batch of train captions), before
    any work."""
    captions = sum(len(r["captions"]) for r in train_split_records(hparams, source))
    check_run_length(hparams, captions, "train captions", source, prefixes=())
