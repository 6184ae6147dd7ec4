"""The package's layering: a family never imports another family, lower layers no family."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "tfcaption")
MODELS = os.path.join(PACKAGE, "models")
FAMILY_IMPORT = re.compile(r"^\s*(?:from|import)\s+tfcaption\.models\.(\w+)\.", re.M)
LOWER_LAYERS = ("backbones", "data", "decoding", "evaluation", "serving", "tokenizers",
                "training")


def _sources(directory):
    for parent, _, names in os.walk(directory):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(parent, name)
                with open(path, encoding="utf-8") as f:
                    yield os.path.relpath(path, PACKAGE), f.read()


def _folders():
    return [d for d in os.listdir(MODELS) if os.path.isdir(os.path.join(MODELS, d))
            and not d.startswith("__")]


def test_no_family_imports_another_family():
    crossing = [(path, other) for family in _folders()
                for path, text in _sources(os.path.join(MODELS, family))
                for other in FAMILY_IMPORT.findall(text) if other != family]
    assert crossing == []


def test_lower_layers_import_no_family():
    crossing = [(path, family) for layer in LOWER_LAYERS
                for path, text in _sources(os.path.join(PACKAGE, layer))
                for family in FAMILY_IMPORT.findall(text)]
    assert crossing == []


def test_the_checks_see_the_families():
    assert {"clipcap", "wgan", "clip"} <= set(_folders())
