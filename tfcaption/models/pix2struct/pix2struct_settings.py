"""The ``model`` / ``tokenizer`` / ``data`` / ``train`` / ``eval`` settings of the Pix2Struct
trainer, with defaults.

``model.checkpoint`` is what fine-tuning starts from: a Hugging Face Pix2Struct dir, an
``hf:ORG/NAME`` id or a ``pix2struct`` model dir (its tokenizer, special tokens and patch
settings come with it; ``model.max_patches`` overrides the patches per image, as the
original fine-tuning raised them to 4096). With ``model.checkpoint: null`` the model is
built from the sizes below with random weights and a SentencePiece model trained on the
captions (``tokenizer.vocab_size``). The default optimiser is the original recipe's:
Adafactor, peak learning rate 1e-2 after 1,000 warmup steps, cosine decay, batch 32, no
dropout; every caption ends with eos and there is no label smoothing. :data:`SETTINGS` is
the schema :func:`tfcaption.hparams.check_hparams` checks an hparams file against;
:func:`validate` adds the value checks it cannot express.
"""

from tfcaption.hparams import Nullable, Required, Section
from tfcaption.training import adafactor
from tfcaption.training.shared_settings import (DISTRIBUTION, ADAMW, DATA, EVAL, TOKENIZER,
                                                check_adamw, check_data_dir, check_positive,
                                                check_positive_int, optimizer_steps)

SIZES = ("patch_size", "encoder_layers", "decoder_layers", "num_heads", "hidden_dim",
         "intermediate_dim", "key_value_dim", "max_positions")
OPTIMIZERS = ("adafactor", "adamw")

SETTINGS = {
    "model": Section({
        "type": Required(""),
        "checkpoint": Nullable(None),
        "max_patches": Nullable(None),  # None: the checkpoint's (2048 from scratch)
        # the sizes of a model built from scratch (model.checkpoint null): pix2struct-base
        "patch_size": 16, "encoder_layers": 12, "decoder_layers": 12, "num_heads": 12,
        "hidden_dim": 768, "intermediate_dim": 2048, "key_value_dim": 64,
        "max_positions": 4096,  # row and column embeddings
        "dropout": 0.0,
        "max_length": 32,  # default most generated tokens (eos included)
    }),
    "tokenizer": TOKENIZER,
    "data": Section({**DATA, "max_length": 48, "pairing": "all", "cache": False}),
    "train": Section({
        **DISTRIBUTION,
        "seed": 0, "batch_size": 32, "epochs": 3, "optimizer": "adafactor",
        **ADAMW, "learning_rate": Required(1e-2), "warmup_steps": 1000, "schedule": "cosine",
        "jit_compile": True, "verbose": 2, "sample_every": 1, "num_samples": 3,
    }),
    "eval": EVAL,
}


def validate(hparams, source="hparams"):
    """Value checks on checked hparams (:data:`SETTINGS`); ``ValueError`` naming
    ``source``, the key and the bad value otherwise."""
    check_data_dir(hparams, source)
    model, train = hparams["model"], hparams["train"]
    for key in SIZES + ("max_length",):
        check_positive_int(model, "model", key, source)
    check_positive_int(model, "model", "max_patches", source, allow_none=True)
    if model["num_heads"] * model["key_value_dim"] != model["hidden_dim"]:
        raise ValueError(f"{source}: model.num_heads {model['num_heads']} x "
                         f"model.key_value_dim {model['key_value_dim']} must equal "
                         f"model.hidden_dim {model['hidden_dim']}")
    if not 0.0 <= model["dropout"] < 1.0:
        raise ValueError(f"{source}: model.dropout must be in [0, 1), got {model['dropout']!r}")
    if hparams["data"]["pairing"] not in ("sample", "all"):
        raise ValueError(f"{source}: data.pairing {hparams['data']['pairing']!r} is not one "
                         f"of ('sample', 'all')")
    if train["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"{source}: train.optimizer {train['optimizer']!r} is not one of "
                         f"{OPTIMIZERS}")
    if train["optimizer"] == "adafactor":
        if train["schedule"] not in adafactor.SCHEDULES:
            raise ValueError(f"{source}: train.schedule {train['schedule']!r} is not one of "
                             f"{adafactor.SCHEDULES} (train.optimizer adafactor)")
    else:
        check_adamw(train, source)
    check_positive(train, source)


def check_data(hparams, source="hparams"):
    """The checks that read the dataset (the run's length), before any work."""
    optimizer_steps(hparams, source)
