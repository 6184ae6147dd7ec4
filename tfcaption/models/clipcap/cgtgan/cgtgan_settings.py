"""The settings of ``model.type = "cgtgan"``
(:mod:`tfcaption.models.clipcap.cgtgan.cgtgan_training`).

:data:`SETTINGS` is the schema :func:`tfcaption.hparams.check_hparams` checks an hparams
file against (unknown keys, missing required keys, types; defaults filled in);
:func:`validate` adds the value checks a schema cannot express. The model and
``rw`` schedule defaults are the reference's (those of :class:`CgtGanModel`).

The generator's and the discriminator's AdamW each read the ``train`` AdamW keys (see
:func:`tfcaption.training.adamw.build_adamw`), and ``g_<key>`` / ``d_<key>`` override
one of them for one optimizer; a null or absent ``g_``/``d_`` key means the unprefixed
one (:func:`optimizer_settings`).
"""

from tfcaption.hparams import Required, Section
from tfcaption.training.shared_settings import (DISTRIBUTION, ADAMW, DATA, EVAL, check_adamw,
                                                check_positive, check_run_length,
                                                train_split_records)

# model.discriminator without a path: the RoBERTa config trained from scratch
ENCODER_KEYS = ("num_layers", "num_heads", "hidden_dim", "intermediate_dim", "dropout")
OPTIMIZER_PREFIXES = ("g_", "d_")

_ADAMW = dict(ADAMW, learning_rate=None)  # may be given per optimizer only
SETTINGS = {
    "model": Section({
        "type": Required(""),
        "generator": Required(""),  # the ClipCap model dir to start from
        "clip": Required(""),  # the reward's CLIP (whose image embeddings prefix the generator)
        "discriminator": Section({
            "path": None,  # a RoBERTa dir (with its tokenizer), or null: ENCODER_KEYS
            "tokenizer": None,  # null: a RoBERTa tokenizer on the generator's BPE
            "max_sequence_length": 64,
            "mlp_dim": None,  # null: half the width
            **{key: None for key in ENCODER_KEYS},
        }),
        "num_samples": 5,
        "max_gen_length": 20,
        "baseline": "greedy",
        "cos_weight": 0.5,
        "clip_weight": 0.0,
        "stop_token_ids": None,  # null: the generator's
    }),
    "data": Section({
        **DATA,
        "corpus_embeddings": Required(""),  # the dir python -m tfcaption.embed_corpus wrote
        "features_dir": None,  # null: the corpus dir's CLIP image features
    }),
    "train": Section({
        **DISTRIBUTION,
        "batch_size": Required(1),
        "epochs": Required(1),
        "gan_training_steps": 150,
        "gan_warm_steps": 2350,
        "reward_weight": 0.5,
        "update_discriminator": True,
        "seed": 0,
        "jit_compile": True,
        "verbose": 2,
        **_ADAMW,
        **{prefix + key: None for prefix in OPTIMIZER_PREFIXES for key in ADAMW},
    }),
    "eval": EVAL,  # decoding and max_images also for the per-epoch validation
}


def optimizer_settings(train):
    """``train`` without its null ``g_``/``d_`` keys, so ``build_adamw(..., prefix=...)``
    falls back to the unprefixed key for them."""
    return {key: value for key, value in train.items()
            if value is not None or not key.startswith(OPTIMIZER_PREFIXES)}


def check_discriminator(settings, source="hparams"):
    """``model.discriminator`` has a path, or every key of a RoBERTa config."""
    if settings.get("path"):
        return
    missing = [key for key in ENCODER_KEYS if settings.get(key) is None]
    if missing:
        raise ValueError(f"{source}: model.discriminator has no path, so it needs a RoBERTa "
                         f"config; missing {missing}")


def validate(hparams, source="hparams"):
    """The checks :data:`SETTINGS` cannot express, on checked hparams."""
    check_discriminator(hparams["model"]["discriminator"], source)
    train = hparams["train"]
    check_positive(hparams["train"], source)
    for prefix in OPTIMIZER_PREFIXES:
        check_adamw(train, source, prefix)


def check_data(hparams, source="hparams"):
    """The checks that read the dataset (the run's length, for both optimizers), before
    any work."""
    check_run_length(hparams, len(train_split_records(hparams, source)), "train images",
                     source, prefixes=OPTIMIZER_PREFIXES)
