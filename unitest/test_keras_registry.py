"""No two Keras classes of the package register the same name (a later registration would
silently replace the earlier one, and deserialising would build the wrong class)."""

import importlib
import inspect
import pkgutil

import keras

import tfcaption


def test_every_registered_name_resolves_to_its_own_class():
    classes = {}
    for info in pkgutil.walk_packages(tfcaption.__path__, "tfcaption."):
        if info.name.count(".") < 2 or info.name.endswith("flags"):
            continue  # the entry points and flag modules define absl flags: not layers
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name and issubclass(cls, keras.layers.Layer):
                classes[f"{cls.__module__}.{cls.__qualname__}"] = cls
    registered = {path: keras.saving.get_registered_name(cls) for path, cls in classes.items()}
    named = {path: name for path, name in registered.items() if name.startswith("tfcaption>")}
    assert len(named) > 20
    clashes = {name: [p for p, n in named.items() if n == name] for name in set(named.values())}
    clashes = {name: paths for name, paths in clashes.items() if len(paths) > 1}
    assert not clashes, clashes
    for path, name in named.items():
        assert keras.saving.get_registered_object(name) is classes[path], (path, name)
