"""Loads any captioner model dir, dispatching on its ``tfcaption_model_type``.

Every command that takes ``--model=DIR`` (caption, evaluate, ...) goes through
:func:`load_captioner`, so a new captioner family only registers its loader here.
"""

import importlib
import os

from tfcaption.backbones.model_dir import CONFIG_FILE, TYPE_KEY, read_model_dir_config

# tfcaption_model_type -> "module:function" that loads such a dir.
CAPTIONER_LOADERS = {
    "clipcap": "tfcaption.models.clipcap.clipcap_model_dir:load_clipcap",
    "wgan_gru": "tfcaption.models.wgan.gru_captioner_dir:load_gru_captioner",
}
# Model dirs that other loaders read but that cannot caption on their own.
BACKBONE_TYPES = ("clip", "clip_resnet", "cnn", "gpt2", "roberta")


def captioner_types():
    """The ``tfcaption_model_type`` values :func:`load_captioner` reads, sorted."""
    return sorted(CAPTIONER_LOADERS)


def load_captioner(model_dir, **kwargs):
    """A captioner model dir -> its captioner (``ClipCapCaptioner``, ``GruCaptioner``).

    ``kwargs`` go to the family's loader (e.g. ``jit_compile=False``). The dir's
    ``format_version`` is checked first. Raises ``FileNotFoundError`` when ``model_dir``
    has no ``config.json``, and ``ValueError`` naming the dir and the captioner types
    when it is a backbone dir (a CLIP, GPT-2, ...), a Hugging Face checkpoint or of an
    unknown type.
    """
    model_dir = os.fspath(model_dir)
    config_path = os.path.join(model_dir, CONFIG_FILE)
    known = ", ".join(repr(t) for t in captioner_types())
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"model dir not found: {model_dir}")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{model_dir} is not a tfcaption model dir: missing "
                                f"{config_path}")
    payload = read_model_dir_config(model_dir)
    model_type = payload.get(TYPE_KEY)
    if model_type is None:
        raise ValueError(f"{model_dir} is not a captioner model dir: {config_path} has no "
                         f"{TYPE_KEY!r} (a Hugging Face checkpoint?); captioner model "
                         f"types: {known}")
    if model_type not in CAPTIONER_LOADERS:
        kind = "a backbone, which cannot caption on its own" \
            if model_type in BACKBONE_TYPES else "an unknown model type"
        raise ValueError(f"{model_dir} is not a captioner model dir: its {TYPE_KEY} is "
                         f"{model_type!r} ({kind}); captioner model types: {known}")
    module_name, function_name = CAPTIONER_LOADERS[model_type].split(":")
    loader = getattr(importlib.import_module(module_name), function_name)
    return loader(model_dir, **kwargs)
