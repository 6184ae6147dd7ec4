"""The registry of captioner families: every command dispatches through it.

Each family lives in ``tfcaption/models/<family>/`` and its package ``__init__`` defines
one :class:`~tfcaption.models.captioner_family.CaptionerFamily` as ``FAMILY``. Adding a
family is its folder plus one line in :data:`FAMILY_PACKAGES` (see
``tfcaption/models/README.md``).
"""

import importlib
import json
import os

# One line per captioner family: the package whose __init__ defines FAMILY.
FAMILY_PACKAGES = (
    "tfcaption.models.clipcap",
    "tfcaption.models.wgan",
    "tfcaption.models.show_tell",
    "tfcaption.models.vit_gpt2",
    "tfcaption.models.pix2struct",
    "tfcaption.models.attend_gan",
)
# Trainers of backbones (not captioners): hparams model.type -> module with run/SETTINGS.
BACKBONE_TRAINERS = {"clip": "tfcaption.models.clip.clip_training"}
# Model dirs that captioners read but that cannot caption on their own.
BACKBONE_TYPES = ("clip", "clip_resnet", "cnn", "gpt2", "roberta")


def families():
    """Every registered :class:`CaptionerFamily`, in registration order."""
    return [importlib.import_module(package).FAMILY for package in FAMILY_PACKAGES]


def captioner_types():
    """The ``tfcaption_model_type`` values a registered family reads, sorted."""
    return sorted(t for family in families() for t in family.model_types)


def trainer_types():
    """Every hparams ``model.type`` a trainer is registered for, sorted."""
    return sorted(set(BACKBONE_TRAINERS).union(*(f.trainers for f in families())))


def family_of_model_type(model_type, source="model dir"):
    """The family reading model dirs of ``model_type``; ``ValueError`` naming ``source``
    and the captioner types otherwise."""
    for family in families():
        if model_type in family.model_types:
            return family
    from tfcaption.backbones.model_dir import TYPE_KEY

    known = ", ".join(repr(t) for t in captioner_types())
    kind = "a backbone, which cannot caption on its own" \
        if model_type in BACKBONE_TYPES else "an unknown model type"
    raise ValueError(f"{source} is not a captioner model dir: its {TYPE_KEY} is "
                     f"{model_type!r} ({kind}); captioner model types: {known}")


def checkpoint_type(path):
    """The ``model_type`` in a checkpoint dir's ``config.json`` (e.g.
    ``"vision-encoder-decoder"``, ``"pix2struct"``), or None when ``path`` is not a dir
    with a readable one."""
    config_file = os.path.join(os.fspath(path), "config.json")
    if not os.path.isfile(config_file):
        return None
    try:
        with open(config_file, encoding="utf-8") as f:
            return json.load(f).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


def family_of_checkpoint(checkpoint_type, source="checkpoint"):
    """The family converting released checkpoints whose ``config.json`` says
    ``model_type: checkpoint_type``; ``ValueError`` naming ``source`` otherwise."""
    for family in families():
        if checkpoint_type in family.checkpoints:
            return family
    known = sorted(t for family in families() for t in family.checkpoints)
    raise ValueError(f"{source}: a {checkpoint_type!r} checkpoint is not a captioner tfcaption "
                     f"converts (config.json model_type: {', '.join(map(repr, known))})")


def trainer_module(model_type, source="hparams"):
    """The trainer module for hparams ``model.type`` (with ``run`` and ``SETTINGS``)."""
    if model_type in BACKBONE_TRAINERS:
        return importlib.import_module(BACKBONE_TRAINERS[model_type])
    for family in families():
        if model_type in family.trainers:
            return family.trainer(model_type)
    raise ValueError(f"{source}: unknown model.type {model_type!r}; known: {trainer_types()}")
