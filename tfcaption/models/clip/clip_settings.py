"""The settings of ``model.type = "clip"`` (:mod:`tfcaption.models.clip.clip_training`).

:data:`SETTINGS` is the schema :func:`tfcaption.hparams.check_hparams` checks an hparams
file against (unknown keys, missing required keys, types; defaults filled in);
:func:`validate` adds what a schema cannot say: which image-tower keys
``model.vision_type`` takes.
"""

from tfcaption.backbones.clip_model import VISION_TYPES
from tfcaption.hparams import Required, Section
from tfcaption.training.shared_settings import (DISTRIBUTION, DATA, TOKENIZER, check_positive,
                                                check_run_length, train_split_records)

SHARED_KEYS = ("text_hidden_dim", "text_num_layers", "text_num_heads", "text_intermediate_dim",
               "projection_dim", "max_sequence_length", "image_size")
VIT_KEYS = ("patch_size", "vision_hidden_dim", "vision_num_layers", "vision_num_heads",
            "vision_intermediate_dim")
RESNET_KEYS = ("vision_stage_blocks", "vision_width")
RESNET_OPTIONAL = ("vision_heads",)

SETTINGS = {
    "model": Section({
        "type": Required(""),
        "vision_type": "vit",  # or "resnet" (OpenAI's ModifiedResNet)
        **{key: Required(1) for key in SHARED_KEYS},
        # the image tower's: VIT_KEYS for "vit", RESNET_KEYS (+ vision_heads) for "resnet"
        **{key: None for key in VIT_KEYS + RESNET_KEYS + RESNET_OPTIONAL},
    }),
    "data": Section(DATA),
    "tokenizer": TOKENIZER,
    "train": Section({
        **DISTRIBUTION,
        "batch_size": Required(1),
        "epochs": Required(1),
        "learning_rate": Required(1e-3),  # AdamW, warmup then cosine decay
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "clipnorm": None,
        "seed": 0,
        "jit_compile": True,
        "verbose": 2,
        "hard_negative_groups": None,  # attribute word groups, see clip_training
    }),
}


def check_model(model, source="hparams"):
    """The ``model`` keys of its ``vision_type``: every required one given (not null), none
    of the other tower's; returns the vision type."""
    vision_type = model.get("vision_type", "vit")
    if vision_type not in VISION_TYPES:
        raise ValueError(f"{source}: model.vision_type {vision_type!r} is not one of "
                         f"{VISION_TYPES}")
    if vision_type == "vit":
        required, optional = SHARED_KEYS + VIT_KEYS, ()
    else:
        required, optional = SHARED_KEYS + RESNET_KEYS, RESNET_OPTIONAL
    given = {key for key, value in model.items() if value is not None}
    unknown = sorted(given - set(required) - set(optional) - {"type", "vision_type"})
    missing = sorted(key for key in required if model.get(key) is None)
    if unknown or missing:
        raise ValueError(f"{source}: model settings unknown {unknown}, missing {missing}; "
                         f"a {vision_type} CLIP takes {list(required + optional)}")
    return vision_type


def validate(hparams, source="hparams"):
    """The checks :data:`SETTINGS` cannot express (see :func:`check_model`)."""
    check_model(hparams["model"], source)
    check_positive(hparams["train"], source)


def check_data(hparams, source="hparams"):
    """The checks that read the dataset (the run's length), before any work."""
    check_run_length(hparams, len(train_split_records(hparams, source)), "train images",
                     source)
