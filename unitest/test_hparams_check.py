"""The settings check every trainer runs first (``check_hparams`` against its ``SETTINGS``),
and every hparams file against its trainer's."""

import copy
import glob
import json
import os
import re

import pytest

from tfcaption.hparams import (REQUIRED, Nullable, Required, Section, apply_overrides,
                               check_hparams, load_hparams)
from tfcaption.models.families import trainer_module, trainer_types
from tfcaption.train import resolve, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HPARAM_FILES = sorted(glob.glob(os.path.join(ROOT, "hparams", "*.json")))

SCHEMA = {
    "model": Section({
        "type": REQUIRED,
        "width": 8,
        "rate": 0.5,
        "name": "mlp",
        "flag": False,
        "sizes": [1, 2],
        "clip": REQUIRED,
        "extra": None,
        "dropout": Nullable(0.1),
        "encoder": {"type": "cnn", "name": "resnet"},
        "gpt2": Section({"path": None, "num_layers": None, "dropout": 0.1}),
    }),
    "train": Section({"epochs": REQUIRED, "seed": 0}),
}
SOURCE = "hparams/x.json"


def _given(**changes):
    given = {"description": "a test", "model": {"type": "t", "clip": "c"},
             "train": {"epochs": 2}}
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        given[section][key] = value
    return given


def _error(given, pattern):
    with pytest.raises(ValueError, match=rf"^{re.escape(SOURCE)}: {pattern}"):
        check_hparams(given, SCHEMA, SOURCE)


def test_defaults_are_filled_in_and_the_input_is_left_alone():
    given = _given()
    before = copy.deepcopy(given)
    filled = check_hparams(given, SCHEMA, SOURCE)
    assert given == before
    assert filled == {
        "description": "a test",
        "model": {"type": "t", "width": 8, "rate": 0.5, "name": "mlp", "flag": False,
                  "sizes": [1, 2], "clip": "c", "extra": None, "dropout": 0.1,
                  "encoder": {"type": "cnn", "name": "resnet"},
                  "gpt2": {"path": None, "num_layers": None, "dropout": 0.1}},
        "train": {"epochs": 2, "seed": 0}}
    filled["model"]["sizes"].append(3)  # defaults are copies
    filled["model"]["encoder"]["name"] = "other"
    assert SCHEMA["model"]["sizes"] == [1, 2]
    assert SCHEMA["model"]["encoder"]["name"] == "resnet"
    assert check_hparams(filled, SCHEMA, SOURCE) == filled  # a filled copy passes as it is
    assert "description" not in check_hparams({k: v for k, v in given.items()
                                               if k != "description"}, SCHEMA, SOURCE)


def test_an_unknown_key_is_named_with_the_file_and_the_known_keys():
    _error(_given(model__widht=3),
           r"unknown setting\(s\) \['model.widht'\]; known in model: \[.*'width'.*\]$")
    _error(dict(_given(), trian={"epochs": 1}),
           r"unknown setting\(s\) \['trian'\]; known: \['description', 'model', 'train'\]$")


def test_a_missing_required_key_is_named():
    given = _given()
    del given["train"]["epochs"]
    _error(given, r"missing setting 'train.epochs'$")
    _error({"model": {"type": "t", "clip": "c"}}, r"missing setting 'train.epochs'$")


@pytest.mark.parametrize("key,value,expected", [
    ("width", "8", r"an integer \(default 8\), got '8'"),
    ("width", 8.5, r"an integer \(default 8\), got 8.5"),
    ("width", True, r"an integer \(default 8\), got True"),
    ("rate", "high", r"a number \(default 0.5\), got 'high'"),
    ("rate", False, r"a number \(default 0.5\), got False"),
    ("name", 3, r"a string \(default 'mlp'\), got 3"),
    ("flag", 1, r"a boolean \(default False\), got 1"),
    ("sizes", 4, r"a list \(default \[1, 2\]\), got 4"),
    ("dropout", "none", r"a number \(default 0.1\), got 'none'"),
])
def test_a_value_of_the_wrong_type_is_named(key, value, expected):
    _error(_given(**{f"model__{key}": value}), rf"model.{key} must be {expected}$")


def test_null_is_taken_only_where_the_schema_says():
    _error(_given(model__width=None), r"model.width must not be null \(default 8\)$")
    filled = check_hparams(_given(model__dropout=None, model__extra=None), SCHEMA, SOURCE)
    assert filled["model"]["dropout"] is None and filled["model"]["extra"] is None


def test_ints_are_numbers_and_untyped_defaults_take_anything():
    filled = check_hparams(_given(model__rate=1, model__extra={"a": [1]}, model__clip=5,
                                  model__encoder="models/encoder"), SCHEMA, SOURCE)
    assert filled["model"]["rate"] == 1 and filled["model"]["extra"] == {"a": [1]}
    assert filled["model"]["encoder"] == "models/encoder"  # a plain dict default is a value


def test_a_nested_section_is_checked_in_turn():
    given = _given(model__gpt2={"num_layers": 2})
    gpt2 = check_hparams(given, SCHEMA, SOURCE)["model"]["gpt2"]
    assert gpt2 == {"path": None, "num_layers": 2, "dropout": 0.1}
    _error(_given(model__gpt2={"layers": 2}),
           r"unknown setting\(s\) \['model.gpt2.layers'\]; known in model.gpt2: "
           r"\['dropout', 'num_layers', 'path'\]$")
    _error(_given(model__gpt2={"dropout": "x"}), r"model.gpt2.dropout must be a number")
    _error(_given(model__gpt2="checkpoints/gpt2"),
           r"model.gpt2 must be a JSON object, got 'checkpoints/gpt2'$")


def test_every_trainer_declares_its_settings():
    for model_type in trainer_types():
        trainer = trainer_module(model_type)
        assert set(trainer.SETTINGS) >= {"model", "data", "train"}, model_type
        assert isinstance(trainer.SETTINGS["model"]["type"], Required), model_type
        assert all(isinstance(s, Section) for s in trainer.SETTINGS.values()), model_type
        assert callable(trainer.validate), model_type


@pytest.mark.parametrize("path", HPARAM_FILES, ids=os.path.basename)
def test_every_hparams_file_resolves(path):
    hparams = load_hparams(path)
    trainer, filled = resolve(hparams, path)
    trainer.validate(filled, path)
    assert check_hparams(filled, trainer.SETTINGS, path) == filled
    assert _missing_leaves(hparams, filled) == []  # every given value kept
    assert json.loads(json.dumps(filled)) == filled  # written to the workdir as it is


def _leaves(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield prefix + key, value


def _missing_leaves(given, filled):
    have = dict(_leaves(filled))
    return [k for k, v in _leaves(given) if k not in have or have[k] != v]


@pytest.mark.parametrize("name,override,expected", [
    ("wgan_shapes", "train.epochs=two", r"train.epochs must be an integer \(default 30\), "
                                        r"got 'two'"),
    ("clip_shapes", "train.warmup_steps=two", r"train.warmup_steps must be an integer"),
    ("clipcap_shapes", "train.jit_compile=1", r"train.jit_compile must be a boolean"),
    ("cgtgan_shapes", "model.cos_weight=high", r"model.cos_weight must be a number"),
    ("cgtgan_init_shapes", "tokenizer.vocab_size=400.5", r"tokenizer.vocab_size must be an "
                                                         r"integer"),
])
def test_a_wrong_type_is_named_with_the_file_before_any_work(name, override, expected,
                                                             tmp_path):
    path = os.path.join(ROOT, "hparams", f"{name}.json")
    hparams = apply_overrides(load_hparams(path), [override])
    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match=rf"^{re.escape(path)}: {expected}"):
        train(hparams, str(workdir), source=path)
    assert not workdir.exists()


@pytest.mark.parametrize("name,key,value,pattern", [
    ("clipcap_shapes", "model.gpt2.num_heads", None,
     r"model.gpt2 has no path, so it needs a GPT-2 config; missing \['model.gpt2.num_heads'\]"),
    ("clipcap_shapes", "model.mapping_type", "lstm", r"model.mapping_type 'lstm' is not one of"),
    ("cgtgan_init_shapes", "train.schedule", "cosine", r"train.schedule 'cosine' is not one of"),
    ("cgtgan_shapes", "train.g_schedule", "cosine", r"train.g_schedule 'cosine' is not one of"),
])
def test_values_a_schema_cannot_check_are_named(name, key, value, pattern):
    path = os.path.join(ROOT, "hparams", f"{name}.json")
    trainer, filled = resolve(load_hparams(path), path)
    *sections, last = key.split(".")
    node = filled
    for section in sections:
        node = node[section]
    node[last] = value
    filled = check_hparams(filled, trainer.SETTINGS, path)  # types are right
    with pytest.raises(ValueError, match=rf"^{re.escape(path)}: {pattern}"):
        trainer.validate(filled, path)


def test_typed_required_keys_are_checked_before_any_work(tmp_path):
    schema = {"train": Section({"epochs": Required(1), "learning_rate": Required(1e-3)})}
    assert check_hparams({"train": {"epochs": 2, "learning_rate": 1}}, schema, "f.json") == \
        {"train": {"epochs": 2, "learning_rate": 1}}
    with pytest.raises(ValueError, match=r"^f.json: train.epochs must be an integer "
                                         r"\(required\), got 'two'$"):
        check_hparams({"train": {"epochs": "two", "learning_rate": 1}}, schema, "f.json")
    with pytest.raises(ValueError, match=r"^f.json: missing setting 'train.learning_rate'$"):
        check_hparams({"train": {"epochs": 2}}, schema, "f.json")
    with pytest.raises(ValueError, match=r"train.epochs must not be null \(required\)"):
        check_hparams({"train": {"epochs": None, "learning_rate": 1}}, schema, "f.json")
    # through the entry point: named with the file, nothing written
    path = "hparams/clipcap_shapes.json"
    for override, message in (("train.epochs=two", "train.epochs must be an integer"),
                              ("train.batch_size=0", "train.batch_size must be >= 1")):
        with pytest.raises(ValueError, match=f"^{path}: {message}"):
            train(load_hparams(os.path.join(ROOT, path), [override]), str(tmp_path / "w"),
                  source=path)
        assert not (tmp_path / "w").exists()
