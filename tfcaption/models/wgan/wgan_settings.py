"""The ``model`` / ``data`` / ``train`` / ``eval`` settings of the WGAN-GP captioner, with defaults.

The defaults are the reference design (the COCO recipe's settings but its batch size).
:data:`SETTINGS` is the schema :func:`tfcaption.hparams.check_hparams` checks an hparams
file against (unknown keys, a missing ``data.dir``, types; defaults filled in);
:func:`validate` adds the value checks a schema cannot express.
"""

from tfcaption.hparams import Required, Nullable, Section
from tfcaption.training.shared_settings import (DISTRIBUTION, DATA, EVAL, check_data_dir,
                                                check_run_length, train_split_records)

SETTINGS = {
    "model": Section({
        "type": Required(""),
        # a spec (tfcaption.backbones.image_encoder_dir) or a model dir path
        "image_encoder": {"type": "cnn", "name": "resnet50_pooled", "weights": "imagenet"},
        "vocabulary_size": 4000,
        "max_length": 20,
        "embedding_dim": 300,
        "hidden_dim": 256,
        "dropout": 0.5,
        "critic_dropout": 0.0,
        "critic_score_activation": None,  # e.g. "sigmoid" (the released code's)
        "glove": None,  # a GloVe text file initialising both embeddings
    }),
    "data": Section({**DATA, "features_dir": None, "max_train_captions": None}),
    "train": Section({
        **DISTRIBUTION,
        "seed": 0, "batch_size": 512, "epochs": 30,
        "n_critic": 9, "gp_weight": 10.0, "gp_epsilon": 1e-5,
        "learning_rate": 1e-3, "beta_1": 0.5, "beta_2": 0.999, "clipnorm": Nullable(1.0),
        "fake_input": "softmax", "gumbel_start": 1.0, "gumbel_end": 0.1, "gumbel_steps": 1000,
        "supervised_weight": 0.0,
        "pretrain_epochs": 0, "pretrain_learning_rate": 1e-3,
        "jit_compile": True, "verbose": 2, "sample_every": 1, "num_samples": 3,
    }),
    "eval": EVAL,
}


def validate(hparams, source="hparams"):
    """Value checks on checked hparams (:data:`SETTINGS`): positive sizes, at least one
    epoch to train; ``ValueError`` naming ``source`` and the key otherwise."""
    check_data_dir(hparams, source)
    train, model = hparams["train"], hparams["model"]
    for name, section in (("train", train), ("model", model)):
        for key in ("batch_size", "n_critic", "max_length", "vocabulary_size"):
            if key in section and (not isinstance(section[key], int) or section[key] < 1):
                raise ValueError(f"{source}: {name}.{key} must be a positive int, got "
                                 f"{section[key]!r}")
    if model["vocabulary_size"] < 5:
        raise ValueError(f"{source}: model.vocabulary_size must be >= 5 (4 specials and a "
                         f"word), got {model['vocabulary_size']}")
    for key in ("epochs", "pretrain_epochs"):
        if not isinstance(train[key], int) or train[key] < 0:
            raise ValueError(f"{source}: train.{key} must be an int >= 0, got {train[key]!r}")
    if train["epochs"] == 0 and train["pretrain_epochs"] == 0:
        raise ValueError(f"{source}: train.epochs and train.pretrain_epochs are both 0: "
                         f"nothing to train")


def check_data(hparams, source="hparams"):
    """The checks that read the dataset (at least one batch of train captions), before
    any work."""
    captions = sum(len(r["captions"]) for r in train_split_records(hparams, source))
    limit = hparams["data"]["max_train_captions"]
    check_run_length(hparams, min(captions, int(limit)) if limit else captions,
                     "train captions", source, prefixes=())
