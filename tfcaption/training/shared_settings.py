"""Settings that several trainers share, as parts of :func:`tfcaption.hparams.check_hparams`
schemas: the ``data`` basics, ``tokenizer``, the AdamW keys of ``train`` and ``eval``.

Each trainer's ``SETTINGS`` (in the ``*_settings.py`` module next to it) builds on these,
so a key means the same everywhere and its default is written down once.
"""

import os

from tfcaption.hparams import Required, Section
from tfcaption.training.adamw import SCHEDULES
from tfcaption.training.distribution import SETTINGS as DISTRIBUTION  # noqa: F401

# train keys of every trainer: DISTRIBUTION (train.distribute, train.tpu,
# train.mixed_precision; tfcaption.training.distribution).

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


def check_data_dir(hparams, source="hparams"):
    """``data.dir`` is given (a dataset in the common form)."""
    if not hparams["data"]["dir"]:
        raise ValueError(f"{source}: data.dir is required: a dataset in the common form "
                         f"(python -m tfcaption.prepare ...)")


def check_positive_int(section, name, key, source="hparams", allow_none=False):
    """``<name>.<key>`` of ``section`` is an int >= 1 (or None with ``allow_none``)."""
    value = section[key]
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{source}: {name}.{key} must be a positive int, got {value!r}")


def check_positive(train, source="hparams", keys=("batch_size", "epochs")):
    """``train.<key>`` is an integer >= 1 for each of ``keys``."""
    for key in keys:
        if train[key] < 1:
            raise ValueError(f"{source}: train.{key} must be >= 1, got {train[key]!r}")


def train_split_records(hparams, source="hparams"):
    """The records of ``data.train_split`` in ``data.dir/captions.jsonl``; ``ValueError``
    naming the file when it is missing or the split is empty (read before any work)."""
    from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl

    data = hparams["data"]
    path = os.path.join(data["dir"], CAPTIONS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{source}: data.dir {data['dir']!r} holds no {CAPTIONS_FILE} "
                                f"(write it with python -m tfcaption.prepare)")
    records = read_captions_jsonl(path, split=data["train_split"])
    if not records:
        raise ValueError(f"{source}: {path} has no record of split "
                         f"{data['train_split']!r} (data.train_split)")
    return records


def check_run_length(hparams, examples, what, source="hparams", prefixes=("",)):
    """The run's optimizer steps (``examples // train.batch_size * train.epochs``), checked
    before any work: at least one step per epoch, and ``train.<prefix>warmup_steps`` (or
    ``train.warmup_steps``) no more than the steps where its ``schedule`` is ``"linear"``
    (the decay must end after the warmup; a constant or cosine schedule takes any warmup).
    ``what`` names the examples ("train images")."""
    train = hparams["train"]
    batch, epochs = train["batch_size"], train["epochs"]
    per_epoch = examples // batch
    if per_epoch == 0:
        raise ValueError(f"{source}: train.batch_size={batch} is larger than the {examples} "
                         f"{what}: an epoch would have no step")
    total = per_epoch * epochs
    for prefix in prefixes:
        warmup = train.get(prefix + "warmup_steps")
        key = prefix + "warmup_steps"
        if warmup is None:
            warmup, key = train.get("warmup_steps") or 0, "warmup_steps"
        schedule = train.get(prefix + "schedule") or train.get("schedule")
        if schedule == "linear" and warmup > total:
            raise ValueError(
                f"{source}: train.{key}={warmup} is more than the run's {total} optimizer "
                f"steps ({examples} {what} // train.batch_size {batch} * train.epochs "
                f"{epochs}); lower train.{key} or raise train.epochs")
    return total


def optimizer_steps(hparams, source="hparams"):
    """The run's optimizer steps from the train split's size (every caption once per
    epoch with ``data.pairing="all"``, else one per image), checked
    (:func:`check_run_length`) before any work."""
    records = train_split_records(hparams, source)
    if hparams["data"]["pairing"] == "all":
        return check_run_length(hparams, sum(len(r["captions"]) for r in records),
                                "train captions", source)
    return check_run_length(hparams, len(records), "train images", source)
