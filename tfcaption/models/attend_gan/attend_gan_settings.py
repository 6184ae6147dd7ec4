"""The ``model`` / ``data`` / ``train`` / ``eval`` settings of the ATTEND-GAN trainer, with defaults.

The defaults are the reference re-implementation's where it sets them: ResNet-152
``res5c`` regions (7x7x2048, 224 px, ImageNet preprocessing), word embeddings of 768,
an LSTM of 1024 with attention of 512 and no dropout, captions of 16 tokens, a
2-layer bidirectional GRU discriminator of 1024 reading the caption only, dropout 0.1,
AdamW, the attention term's weight 1. Its code sets no learning rates, epochs,
``mc_num``, ``g_steps`` / ``d_steps`` or adversarial weight, and runs batches of 2;
the defaults chosen for those are: batch 64, AdamW 1e-4 (weight decay 0.01, PyTorch's
default), 10 epochs of maximum-likelihood pre-training, 1 of discriminator
pre-training, 5 adversarial epochs with ``g_steps = d_steps = 1``, ``mc_num`` 4 and
``pg_weight`` 1. :data:`SETTINGS` is the schema; :func:`validate` adds value checks.
"""

from tfcaption.hparams import Nullable, Required, Section
from tfcaption.models.attend_gan.attend_gan_model import BASELINES
from tfcaption.training.shared_settings import (DISTRIBUTION, DATA, EVAL, check_data_dir,
                                                check_positive_int, check_run_length,
                                                train_split_records)

TOKENIZERS = ("words",)

SETTINGS = {
    "model": Section({
        "type": Required(""),
        # a spec (tfcaption.backbones.image_encoder_dir) giving a grid of region features
        "image_encoder": {"type": "cnn", "name": "resnet152_res5c", "weights": "imagenet"},
        "tokenizer": "words",
        "vocabulary_size": Nullable(None),  # most tokens kept (specials included); null: all
        "vocabulary_min_count": 1,
        "max_length": 16,  # tokens per caption, <end> included
        "embedding_dim": 768,
        "hidden_dim": 1024,
        "attention_dim": 512,
        "dropout": 0.0,
        "d_embedding_dim": 768,
        "d_hidden_dim": 1024,
        "d_num_layers": 2,
        "d_dropout": 0.1,
        "image_conditioned": False,  # the discriminator also reads the image's mean feature
    }),
    "data": Section({**DATA, "features_dir": None}),
    "train": Section({
        **DISTRIBUTION,
        "seed": 0, "batch_size": 64,
        "pretrain_epochs": 10, "pretrain_learning_rate": 1e-4,
        "d_pretrain_epochs": 1, "d_learning_rate": 1e-4,
        "epochs": 5, "learning_rate": 1e-4,
        "g_steps": 1, "d_steps": 1, "mc_num": 4,
        "pg_weight": 1.0,  # lambda of lambda * L1 + L2
        "attention_weight": 1.0,  # lambda_alpha of the doubly stochastic attention term
        "reward_baseline": "none",  # or "batch_mean" (the reference: none)
        "attention_target": 1.0,  # sum_t alpha_ti is pulled towards it (the paper: 1)
        "weight_decay": 0.01, "clipnorm": Nullable(None),
        "curve_images": 250,  # validation images of the per-epoch CIDEr-D / reward curve
        "jit_compile": True, "verbose": 2, "sample_every": 1, "num_samples": 3,
    }),
    "eval": EVAL,
}


def validate(hparams, source="hparams"):
    """Value checks on checked hparams (:data:`SETTINGS`); ``ValueError`` naming
    ``source``, the key and the bad value otherwise."""
    check_data_dir(hparams, source)
    model, train = hparams["model"], hparams["train"]
    if model["tokenizer"] not in TOKENIZERS:
        raise ValueError(f"{source}: model.tokenizer {model['tokenizer']!r} is not one of "
                         f"{TOKENIZERS} (GPT-2 BPE with GPT-2's wte, the reference's choice, "
                         f"is not implemented)")
    for key in ("max_length", "embedding_dim", "hidden_dim", "attention_dim",
                "d_embedding_dim", "d_hidden_dim", "d_num_layers", "vocabulary_min_count"):
        check_positive_int(model, "model", key, source)
    if model["max_length"] < 2:
        raise ValueError(f"{source}: model.max_length must be >= 2 (a rollout completes a "
                         f"prefix), got {model['max_length']}")
    check_positive_int(model, "model", "vocabulary_size", source, allow_none=True)
    if model["vocabulary_size"] is not None and model["vocabulary_size"] < 5:
        raise ValueError(f"{source}: model.vocabulary_size must be >= 5 (4 specials and a "
                         f"word), got {model['vocabulary_size']}")
    for key in ("dropout", "d_dropout"):
        if not 0.0 <= model[key] < 1.0:
            raise ValueError(f"{source}: model.{key} must be in [0, 1), got {model[key]!r}")
    for key in ("batch_size", "g_steps", "d_steps", "mc_num", "curve_images"):
        check_positive_int(train, "train", key, source)
    for key in ("pretrain_epochs", "d_pretrain_epochs", "epochs"):
        if not isinstance(train[key], int) or train[key] < 0:
            raise ValueError(f"{source}: train.{key} must be an int >= 0, got {train[key]!r}")
    if train["epochs"] == 0 and train["pretrain_epochs"] == 0:
        raise ValueError(f"{source}: train.epochs and train.pretrain_epochs are both 0: "
                         f"nothing to train")
    for key in ("pretrain_learning_rate", "d_learning_rate", "learning_rate"):
        if train[key] <= 0:
            raise ValueError(f"{source}: train.{key} must be > 0, got {train[key]!r}")
    if train["reward_baseline"] not in BASELINES:
        raise ValueError(f"{source}: train.reward_baseline {train['reward_baseline']!r} is not "
                         f"one of {BASELINES}")
    for key in ("pg_weight", "attention_weight", "weight_decay"):
        if train[key] < 0:
            raise ValueError(f"{source}: train.{key} must be >= 0, got {train[key]!r}")


def check_data(hparams, source="hparams"):
    """The checks that read the dataset (at least one batch of train captions), before
    any work."""
    captions = sum(len(r["captions"]) for r in train_split_records(hparams, source))
    check_run_length(hparams, captions, "train captions", source, prefixes=())
