"""The ``model`` / ``tokenizer`` / ``data`` / ``train`` / ``eval`` settings of the ViT-GPT2
trainer, with defaults.

``model.checkpoint`` is what fine-tuning starts from: a Hugging Face VisionEncoderDecoder
dir, an ``hf:ORG/NAME`` id or a ``vit_gpt2`` model dir (its tokenizer, special tokens and
image preprocessing come with it). With ``model.checkpoint: null`` the model is built from
the sizes below with random weights and a GPT-2-format BPE trained on the captions
(``tokenizer``). :data:`SETTINGS` is the schema :func:`tfcaption.hparams.check_hparams`
checks an hparams file against; :func:`validate` adds the value checks it cannot express.
"""

from tfcaption.hparams import Nullable, Required, Section
from tfcaption.training.shared_settings import (DISTRIBUTION, ADAMW, DATA, EVAL, TOKENIZER,
                                                check_adamw, check_data_dir, check_positive,
                                                check_positive_int, optimizer_steps)

SIZES = ("image_size", "patch_size", "encoder_layers", "encoder_heads", "encoder_width",
         "encoder_mlp", "decoder_layers", "decoder_heads", "decoder_width", "max_positions")

SETTINGS = {
    "model": Section({
        "type": Required(""),
        "checkpoint": Nullable(None),
        # the sizes of a model built from scratch (model.checkpoint null): ViT-B/16 and
        # GPT-2 small by default
        "image_size": 224, "patch_size": 16, "encoder_layers": 12, "encoder_heads": 12,
        "encoder_width": 768, "encoder_mlp": 3072, "decoder_layers": 12,
        "decoder_heads": 12, "decoder_width": 768, "max_positions": 64,
        "dropout": 0.1,
        "max_length": 15,  # default most generated tokens (eos included)
    }),
    "tokenizer": TOKENIZER,
    # cache: keep the decoded, resized images in memory after the first epoch (for
    # datasets whose images fit there)
    "data": Section({**DATA, "max_length": 32, "pairing": "all", "cache": False}),
    "train": Section({
        **DISTRIBUTION,
        "seed": 0, "batch_size": 32, "epochs": 3, **ADAMW, "learning_rate": Required(5e-5),
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
    if model["image_size"] % model["patch_size"]:
        raise ValueError(f"{source}: model.image_size {model['image_size']} is not a multiple "
                         f"of model.patch_size {model['patch_size']}")
    for width, heads in (("encoder_width", "encoder_heads"), ("decoder_width", "decoder_heads")):
        if model[width] % model[heads]:
            raise ValueError(f"{source}: model.{width} {model[width]} is not divisible into "
                             f"model.{heads}={model[heads]}")
    if model["max_length"] >= model["max_positions"] and model["checkpoint"] is None:
        raise ValueError(f"{source}: model.max_length {model['max_length']} must be less than "
                         f"model.max_positions {model['max_positions']} (the start token)")
    if hparams["data"]["max_length"] >= model["max_positions"] and model["checkpoint"] is None:
        raise ValueError(f"{source}: data.max_length {hparams['data']['max_length']} must be "
                         f"less than model.max_positions {model['max_positions']}")
    if not 0.0 <= model["dropout"] < 1.0:
        raise ValueError(f"{source}: model.dropout must be in [0, 1), got {model['dropout']!r}")
    if hparams["data"]["pairing"] not in ("sample", "all"):
        raise ValueError(f"{source}: data.pairing {hparams['data']['pairing']!r} is not one "
                         f"of ('sample', 'all')")
    check_positive(train, source)
    check_adamw(train, source)


def check_data(hparams, source="hparams"):
    """The checks that read the dataset (the run's length), before any work."""
    optimizer_steps(hparams, source)
