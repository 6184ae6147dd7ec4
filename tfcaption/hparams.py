"""Experiment settings: one JSON file per experiment, with ``--set key=value`` overrides.

A file holds nested objects, e.g. ``{"description": ..., "model": {"type": "clip", ...},
"data": {...}, "train": {...}}``. Overrides use dotted keys (``train.epochs=3``); values
are parsed as JSON when they can be (``3``, ``1e-4``, ``true``, ``[1, 2]``) and are
strings otherwise. An override may only replace a key the file already has, so a typo
is an error rather than a silently ignored setting.
"""

import copy
import json
import os

from tfcaption.file_io import read_json


def parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(hparams, overrides, source="hparams"):
    """Returns a copy of ``hparams`` with each ``"a.b=value"`` override applied."""
    hparams = copy.deepcopy(hparams)
    for item in overrides or ():
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        node = hparams
        parts = key.strip().split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                known = sorted(node) if isinstance(node, dict) else []
                raise ValueError(f"override {key!r}: {'.'.join(parts[:depth + 1])!r} is not a "
                               f"key of {source} (known here: {known})")
            if depth == len(parts) - 1:
                node[part] = parse_value(value)
            else:
                node = node[part]
    return hparams


def load_hparams(path, overrides=()):
    """Reads an hparams JSON file and applies overrides; checks ``model.type`` exists."""
    path = os.fspath(path)
    hparams = apply_overrides(read_json(path), overrides, source=path)
    model = hparams.get("model")
    if not isinstance(model, dict) or "type" not in model:
        raise ValueError(f"{path}: missing key 'model.type'")
    return hparams


def save_hparams(hparams, path):
    from tfcaption.file_io import atomic_write_text

    atomic_write_text(path, json.dumps(hparams, indent=2) + "\n")
