"""Checked assignment of checkpoint arrays to Keras variables."""

import re

import numpy as np

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError


class WeightMap:
    """Collects ``variable <- transform(state[key])`` assignments, checks them all, then assigns.

    Nothing is written to the model unless every key is present, every array has the
    variable's shape and every checkpoint key is used (or matches an ``ignore`` pattern);
    otherwise one :class:`CheckpointMismatchError` names all problems.

    Args:
      state: ``{key: numpy array}`` from :func:`read_state_dict`.
      source: checkpoint path, for error messages.
      ignore: regular expressions (``re.fullmatch``) of keys that may be left unused,
        e.g. the ``attn.bias`` causal-mask buffers of old GPT-2 checkpoints.
    """

    def __init__(self, state, source, ignore=()):
        self.state = state
        self.source = source
        self.ignore = [re.compile(pattern) for pattern in ignore]
        self._plan = []
        self._used = set()
        self._missing = []

    def add(self, variable, key, transform=None):
        """Plans ``variable.assign(transform(state[key]))``; ``key`` may be a list."""
        keys = [key] if isinstance(key, str) else list(key)
        self._used.update(keys)
        absent = [k for k in keys if k not in self.state]
        if absent:
            self._missing.extend(absent)
            return
        arrays = [self.state[k] for k in keys]
        value = transform(*arrays) if transform else arrays[0]
        self._plan.append((variable, "+".join(keys), np.asarray(value)))

    def has(self, key):
        return key in self.state

    def mark_used(self, *keys):
        """Declares keys consumed elsewhere (e.g. read for a config value)."""
        self._used.update(k for k in keys if k in self.state)

    def apply(self, model=None):
        """Checks everything, then assigns; with ``model``, every one of its variables must
        have been planned (a converter that forgets a variable fails here, by name)."""
        if model is not None:
            planned = {id(variable) for variable, _, _ in self._plan}
            forgotten = [v.path for v in model.weights if id(v) not in planned]
            if forgotten and not self._missing:
                raise ValueError(f"converter for {self.source} assigns no value to model "
                                 f"variables: {forgotten[:20]}")
        mis_shaped = [(key, value.shape, tuple(variable.shape))
                      for variable, key, value in self._plan
                      if tuple(value.shape) != tuple(variable.shape)]
        unexpected = [key for key in self.state
                      if key not in self._used
                      and not any(p.fullmatch(key) for p in self.ignore)]
        if self._missing or unexpected or mis_shaped:
            raise CheckpointMismatchError(self.source, sorted(set(self._missing)),
                                          unexpected, mis_shaped)
        for variable, _, value in self._plan:
            variable.assign(value.astype(variable.dtype))
        return len(self._plan)


def linear_kernel(weight):
    """PyTorch ``Linear.weight`` (out, in) -> Keras ``Dense.kernel`` (in, out)."""
    return np.transpose(weight)


def conv_kernel(weight):
    """PyTorch ``Conv2d.weight`` (out, in, h, w) -> Keras (h, w, in, out)."""
    return np.transpose(weight, (2, 3, 1, 0))
