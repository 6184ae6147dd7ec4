"""Experiment settings: one JSON file per experiment, with ``--set key=value`` overrides.

A file holds nested objects, e.g. ``{"description": ..., "model": {"type": "clip", ...},
"data": {...}, "train": {...}}``. Overrides use dotted keys (``train.epochs=3``); values
are parsed as JSON when they can be (``3``, ``1e-4``, ``true``, ``[1, 2]``) and are
strings otherwise. An override names an existing section (a typo there is an error at
once); its last key may be new -- a setting the file leaves at its default -- and is
then checked against the trainer's settings like every key (an unknown one is named).
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
            last = depth == len(parts) - 1
            if not isinstance(node, dict) or (part not in node and not last):
                known = sorted(node) if isinstance(node, dict) else []
                raise ValueError(f"override {key!r}: {'.'.join(parts[:depth + 1])!r} is not a "
                               f"key of {source} (known here: {known})")
            if last:
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


class Section(dict):
    """A nested settings section in a schema: its keys are checked like the top level's.

    A plain dict default is a value (e.g. an image-encoder spec), not a section."""


REQUIRED = "<required>"


class Required:
    """A schema entry for a key that must be given, with a value of ``example``'s type
    (``Required(1)``: an integer, ``Required(1e-3)``: a number, ``Required("")``: a
    string); :data:`REQUIRED` takes any value."""

    def __init__(self, example):
        self.example = example


class Nullable:
    """A schema default whose key also takes ``null`` (e.g. ``Nullable(0.5)``: a number
    or None)."""

    def __init__(self, default):
        self.default = default


def _kind(default):
    if isinstance(default, bool):
        return (bool,), "a boolean"
    if isinstance(default, int):
        return (int,), "an integer"
    if isinstance(default, float):
        return (int, float), "a number"
    if isinstance(default, str) and default != REQUIRED:
        return (str,), "a string"
    if isinstance(default, (list, tuple)):
        return (list, tuple), "a list"
    return None, None


def check_hparams(hparams, schema, source="hparams"):
    """Returns a copy of ``hparams`` checked against ``schema`` with its defaults filled in.

    ``schema`` maps each top-level section (``"model"``, ``"data"``, ``"train"``, ...) to a
    :class:`Section` of ``{key: default}``. A key of :class:`Required` (typed) or
    :data:`REQUIRED` (any value) must be given; a
    default of a type (int, float, bool, str, list) requires a value of that type (an int
    is a number); ``null`` is accepted where the default is None or :class:`Nullable`; a
    default of None takes any value; a nested :class:`Section` is checked in turn. Keys
    outside the schema (other than ``description``) are errors. Every error is
    a ``ValueError`` naming ``source`` and the dotted key, with the known keys or the
    expected type, so a bad setting is reported before any work starts.
    """
    out = {"description": hparams["description"]} if "description" in hparams else {}
    _check_section(hparams, Section({"description": None, **schema}), source, "", out)
    return out


def _check_section(given, schema, source, prefix, out):
    if not isinstance(given, dict):
        raise ValueError(f"{source}: {prefix.rstrip('.') or 'hparams'} must be a JSON object, "
                         f"got {given!r}")
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise ValueError(f"{source}: unknown setting(s) {[prefix + k for k in unknown]}; "
                         f"known{' in ' + prefix.rstrip('.') if prefix else ''}: "
                         f"{sorted(schema)}")
    for key, default in schema.items():
        name = prefix + key
        if isinstance(default, Section):
            out[key] = {}
            _check_section(given.get(key, {}), default, source, name + ".", out[key])
            continue
        required = isinstance(default, Required) or default == REQUIRED
        if key not in given:
            if required:
                raise ValueError(f"{source}: missing setting {name!r}")
            if key != "description":
                out[key] = copy.deepcopy(default.default if isinstance(default, Nullable)
                                         else default)
            continue
        value = given[key]
        nullable = isinstance(default, Nullable)
        default = default.default if nullable else default
        said = "required" if required else f"default {default!r}"
        if value is None and not nullable and default is not None:
            raise ValueError(f"{source}: {name} must not be null ({said})")
        types, described = _kind(default.example if isinstance(default, Required)
                                 else default)
        if types is not None and value is not None and (
                not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
            raise ValueError(f"{source}: {name} must be {described} ({said}), got {value!r}")
        out[key] = copy.deepcopy(value)
