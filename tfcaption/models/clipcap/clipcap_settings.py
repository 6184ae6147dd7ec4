"""The settings of ``model.type = "clipcap"`` (:mod:`tfcaption.models.clipcap.clipcap_training`).

:data:`SETTINGS` is the schema :func:`tfcaption.hparams.check_hparams` checks an hparams
file against (unknown keys, missing required keys, types; defaults filled in);
:func:`validate` adds the value checks a schema cannot express. :data:`MODEL` (the
``model`` section of :func:`~tfcaption.models.clipcap.clipcap_builder.build_clipcap`) is
shared with the text-only trainer (``clipcap_text``).
"""

from tfcaption.hparams import Required, Section
from tfcaption.models.clipcap.clipcap_builder import MAPPING_TYPES
from tfcaption.training.shared_settings import (DISTRIBUTION, ADAMW, DATA, EVAL, TOKENIZER,
                                                check_adamw, check_positive, optimizer_steps)

# model.gpt2: {"path": a GPT-2 checkpoint} (its tokenizer too), or, with no path, the
# config of a randomly initialised GPT-2 (null: GPT2Backbone's default).
GPT2_CONFIG_REQUIRED = ("num_layers", "num_heads", "hidden_dim", "intermediate_dim")
GPT2 = Section({"path": None, **{key: None for key in GPT2_CONFIG_REQUIRED},
                "max_sequence_length": None, "layer_norm_epsilon": None, "dropout": None})

MODEL = Section({
    "type": Required(""),
    "mapping_type": "mlp",  # or "transformer"
    "prefix_length": Required(1),
    "clip_length": None,  # transformer: CLIP positions (None: prefix_length)
    "num_layers": 8,  # transformer blocks
    "normalize_prefix": False,
    "only_prefix": False,  # True: GPT-2 frozen, only the mapping network trains
    "clip": Required(""),  # the CLIP image encoder (any path load_clip_image_encoder reads)
    "gpt2": GPT2,
})

SETTINGS = {
    "model": MODEL,
    "data": Section({**DATA, "features_dir": None,  # None: workdir/features
                     "pairing": "all",  # every caption once per epoch, or "sample"
                     "max_length": Required(1)}),
    "tokenizer": TOKENIZER,
    "train": Section({
        **DISTRIBUTION,
        "batch_size": Required(1),
        "epochs": Required(1),
        **ADAMW,
        "seed": 0,
        "jit_compile": True,
        "verbose": 2,
        "sample_every": 1,  # epochs between sample captions (0: never)
        "num_samples": 4,  # validation images captioned then
    }),
    "eval": EVAL,
}


def gpt2_settings(gpt2):
    """``model.gpt2`` without its null keys, as ``load_or_build_gpt2`` takes it."""
    return {key: value for key, value in gpt2.items() if value is not None}


def check_model(model, source="hparams"):
    """``model.mapping_type`` is known; ``model.gpt2`` has a path or a GPT-2 config."""
    if model["mapping_type"] not in MAPPING_TYPES:
        raise ValueError(f"{source}: model.mapping_type {model['mapping_type']!r} is not one "
                         f"of {MAPPING_TYPES}")
    gpt2 = model["gpt2"]
    if not gpt2.get("path"):
        missing = [f"model.gpt2.{key}" for key in GPT2_CONFIG_REQUIRED if gpt2.get(key) is None]
        if missing:
            raise ValueError(f"{source}: model.gpt2 has no path, so it needs a GPT-2 config; "
                             f"missing {missing}")


def validate(hparams, source="hparams"):
    """The checks :data:`SETTINGS` cannot express, on checked hparams."""
    check_model(hparams["model"], source)
    check_adamw(hparams["train"], source)
    check_positive(hparams["train"], source)


def check_data(hparams, source="hparams"):
    """The checks that read the dataset (the run's length), before any work."""
    optimizer_steps(hparams, source)
