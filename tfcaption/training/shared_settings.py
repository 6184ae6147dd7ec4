"""Settings that several trainers share, as parts of :func:`tfcaption.hparams.check_hparams`
schemas: the ``data`` basics, ``tokenizer``, the AdamW keys of ``train`` and ``eval``.

Each trainer's ``SETTINGS`` (in the ``*_settings.py`` module next to it) builds on these,
so a key means the same everywhere and its default is written down once.
"""

from tfcaption.hparams import Required, Section
from tfcaption.training.adamw import SCHEDULES

# data: a dataset in the common form (python -m tfcaption.prepare) and its split names.
DATA = {"dir": Required(""), "train_split": "train", "val_split": "val", "test_split": "test"}

# tokenizer (tfcaption.training.caption_tokenizer, and CLIP's BPE): a tokenizer dir, or a
# BPE trained on the training captions with these settings.
TOKENIZER = Section({"dir": None, "vocab_size": 1000, "min_frequency": 2})

# train keys of tfcaption.training.adamw.build_adamw, with its defaults.
ADAMW = {
    "learning_rate": Required(1e-3),
    "warmup_steps": 0,
    "schedule": "linear",  # or "constant" (after the warmup)
    "weight_decay": 0.0,
    "no_decay": [],  # variable-name substrings without weight decay
    "adam_epsilon": None,  # None: Keras's default
    "clipnorm": None,  # global gradient-norm clip; None: none
}

# eval (tfcaption.training.test_split_report): the shared evaluator on the test split.
# decoding: a method name or a decoding dict ({"method": "beam", "beam_size": 5, ...}).
EVAL = Section({"decoding": {"method": "greedy"}, "batch_size": 64, "max_images": None,
                "print_samples": 5, "clip": None})


def check_adamw(train, source="hparams", prefix=""):
    """Value checks of the AdamW keys (``prefix`` as in ``build_adamw``; a prefixed key
    that is absent or null falls back to the unprefixed one)."""

    def get(key):
        value = train.get(prefix + key)
        return train.get(key) if value is None else value

    if get("learning_rate") is None:
        alternatives = " (or train.learning_rate)" if prefix else ""
        raise ValueError(f"{source}: train.{prefix}learning_rate{alternatives} is required")
    if get("schedule") is not None and get("schedule") not in SCHEDULES:
        raise ValueError(f"{source}: train.{prefix}schedule {get('schedule')!r} is not one "
                         f"of {SCHEDULES}")


def check_positive(train, source="hparams", keys=("batch_size", "epochs")):
    """``train.<key>`` is an integer >= 1 for each of ``keys``."""
    for key in keys:
        if train[key] < 1:
            raise ValueError(f"{source}: train.{key} must be >= 1, got {train[key]!r}")
