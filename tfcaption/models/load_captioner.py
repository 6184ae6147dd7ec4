"""Loads any captioner model dir, dispatching on its ``tfcaption_model_type``.

Every command that takes ``--model=DIR`` (caption, evaluate, export, ...) goes through
:func:`load_captioner`, which finds the dir's family in the registry
(:mod:`tfcaption.models.families`).
"""

import inspect
import os

from tfcaption.backbones.model_dir import CONFIG_FILE, TYPE_KEY, read_model_dir_config
from tfcaption.models.captioner_family import import_object
from tfcaption.models.families import captioner_types, family_of_model_type


def resolve_model_dir(model_dir) -> str:
    """A local model dir as it is, or a Hugging Face id (``hf:ORG/NAME[@REVISION]``)
    downloaded and converted once (:func:`tfcaption.hf_hub.captioner_dir`)."""
    from tfcaption.hf_hub import captioner_dir, is_hf_id

    return captioner_dir(model_dir) if is_hf_id(model_dir) else os.fspath(model_dir)


def model_dir_family(model_dir):
    """The registered family of a captioner model dir.

    The dir's ``format_version`` is checked first. Raises ``FileNotFoundError`` when
    ``model_dir`` has no ``config.json``, and ``ValueError`` naming the dir and the
    captioner types when it is a backbone dir (a CLIP, GPT-2, ...), a Hugging Face
    checkpoint or of an unknown type.
    """
    model_dir = resolve_model_dir(model_dir)
    config_path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"model dir not found: {model_dir}")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{model_dir} is not a tfcaption model dir: missing "
                                f"{config_path}")
    model_type = read_model_dir_config(model_dir).get(TYPE_KEY)
    if model_type is None:
        known = ", ".join(repr(t) for t in captioner_types())
        raise ValueError(f"{model_dir} is not a captioner model dir: {config_path} has no "
                         f"{TYPE_KEY!r} (a Hugging Face checkpoint?); captioner model "
                         f"types: {known}")
    return family_of_model_type(model_type, source=model_dir)


def load_captioner(model_dir, **kwargs):
    """A captioner model dir -> its family's captioner (``ClipCapCaptioner``,
    ``GruCaptioner``, ...); errors as :func:`model_dir_family`.

    ``kwargs`` go to the family's loader (e.g. ``jit_compile=False``, or ClipCap's
    ``weights_dtype``); one the family does not take is a ``ValueError`` naming it.
    """
    model_dir = resolve_model_dir(model_dir)
    family = model_dir_family(model_dir)
    loader = import_object(family.loader)
    taken = inspect.signature(loader).parameters
    unknown = sorted(k for k in kwargs if k not in taken)
    if unknown:
        raise ValueError(f"{model_dir} is a {family.name} model: its loader takes no "
                         f"{', '.join(unknown)} (it takes "
                         f"{', '.join(list(taken)[1:])})")
    return loader(os.fspath(model_dir), **kwargs)
