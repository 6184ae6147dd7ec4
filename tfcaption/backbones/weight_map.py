"""Checked assignment of PyTorch checkpoint arrays to Keras variables.

The PyTorch -> Keras layouts live here once:

- ``Linear.weight`` ``(out, in)`` -> ``Dense`` / ``EinsumDense`` kernel: transposed, then
  reshaped to the kernel's shape (e.g. ``(D, H, D/H)`` for a query projection of
  ``keras.layers.MultiHeadAttention``, ``(H, D/H, D)`` for its output projection);
- Hugging Face ``Conv1D.weight`` ``(in, out)`` (GPT-2): reshaped only;
- ``Conv2d.weight`` ``(out, in, h, w)`` -> ``Conv2D`` kernel ``(h, w, in, out)``;
- ``LayerNorm`` / ``BatchNorm2d`` ``weight``, ``bias`` (``running_mean``, ``running_var``)
  -> ``gamma``, ``beta`` (``moving_mean``, ``moving_variance``).
"""

import re

import numpy as np

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError

LINEAR = "linear"  # PyTorch nn.Linear: weight (out, in)
CONV1D = "conv1d"  # Hugging Face transformers' Conv1D (GPT-2): weight (in, out)


def linear_kernel(weight):
    """PyTorch ``Linear.weight`` (out, in) -> Keras ``Dense.kernel`` (in, out)."""
    return np.transpose(weight)


def conv_kernel(weight):
    """PyTorch ``Conv2d.weight`` (out, in, h, w) -> Keras (h, w, in, out)."""
    return np.transpose(weight, (2, 3, 1, 0))


def _fits(shape, expected):
    """``shape`` equals ``expected``, where a ``None`` entry of ``expected`` matches any size."""
    return len(shape) == len(expected) and all(
        want is None or int(got) == want for got, want in zip(shape, expected))


def _input_axes(layer):
    """How many leading kernel axes are contracted with the input: 1 for ``Dense``; for an
    ``EinsumDense`` the kernel letters that also appear in the input spec (e.g. 2 for the
    ``"abcd,cde->abe"`` output projection of ``MultiHeadAttention``)."""
    equation = getattr(layer, "equation", None)
    if equation is None:
        return 1
    inputs, kernel = equation.split("->")[0].split(",")
    count = sum(letter in inputs for letter in kernel)
    if not kernel[:count] or any(letter not in inputs for letter in kernel[:count]):
        raise ValueError(f"{layer.name}: EinsumDense equation {equation!r} does not contract "
                         f"leading kernel axes; no PyTorch Linear layout maps onto it")
    return count


class WeightMap:
    """Collects ``variable <- transform(state[key])`` assignments, checks them all, then assigns.

    Every checkpoint array is checked against its expected PyTorch shape *before* any
    transform, so a wrongly shaped array is reported as ``key: checkpoint (raw shape) vs
    model (expected raw shape)``. Nothing is written to the model unless every key is
    present, every array has its expected shape and converts, and every checkpoint key is
    used (or matches an ``ignore`` pattern); otherwise one :class:`CheckpointMismatchError`
    names all problems.

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
        self._targets = set()
        self._used = set()
        self._missing = set()
        self._mis_shaped = {}
        self._unconvertible = {}

    # --- the primitive --------------------------------------------------------------------

    def add(self, variable, key, transform=None, shape=None):
        """Plans ``variable.assign(transform(state[key]))``.

        Args:
          variable: the Keras variable to fill.
          key: a checkpoint key, or a list of keys whose arrays are passed to ``transform``
            in order.
          transform: maps the raw array(s) to the variable's shape; ``None`` copies.
          shape: the expected raw (checkpoint) shape, one per key for a list of keys;
            ``None`` entries match any size. Required with a ``transform``; without one
            it defaults to the variable's shape.
        """
        keys = [key] if isinstance(key, str) else list(key)
        if shape is None:
            if transform is not None or len(keys) != 1:
                raise TypeError(f"WeightMap.add({keys}): the expected checkpoint shape is "
                                f"required with a transform or several keys")
            shape = tuple(variable.shape)
        shapes = [shape] if len(keys) == 1 else list(shape)
        if len(shapes) != len(keys):
            raise TypeError(f"WeightMap.add({keys}): {len(shapes)} shapes for {len(keys)} keys")
        self._targets.add(id(variable))
        self._used.update(keys)
        absent = [k for k in keys if k not in self.state]
        self._missing.update(absent)
        wrong = [(k, tuple(self.state[k].shape), tuple(want))
                 for k, want in zip(keys, shapes)
                 if k in self.state and not _fits(self.state[k].shape, want)]
        for k, got, want in wrong:
            self._mis_shaped[k] = (got, want)
        if absent or wrong:
            return
        name = "+".join(keys)
        arrays = [np.asarray(self.state[k]) for k in keys]
        try:
            value = np.asarray(transform(*arrays) if transform else arrays[0])
        except Exception as e:  # reported with its key, never as a bare numpy error
            self._unconvertible[name] = f"{type(e).__name__}: {e}"
            return
        if tuple(value.shape) != tuple(variable.shape):
            self._unconvertible[name] = (f"converts to {tuple(value.shape)} but "
                                         f"{variable.path} is {tuple(variable.shape)}")
            return
        self._plan.append((variable, value))

    def mark_used(self, *keys):
        """Declares keys consumed elsewhere (e.g. read for a config value)."""
        self._used.update(k for k in keys if k in self.state)

    # --- PyTorch module -> Keras layer ----------------------------------------------------

    def add_dense(self, layers, prefix, layout=LINEAR):
        """``prefix.weight`` / ``prefix.bias`` -> kernel / bias of a ``Dense`` or
        ``EinsumDense``, or of several fused along the output (GPT-2's ``c_attn`` holds
        query, key and value: pass the three layers).

        ``layout`` is :data:`LINEAR` (weight ``(out, in)``) or :data:`CONV1D` (weight
        ``(in, out)``). ``prefix.bias`` is mapped onto each layer that has a bias.
        """
        layers = list(layers) if isinstance(layers, (list, tuple)) else [layers]
        if layout not in (LINEAR, CONV1D):
            raise ValueError(f"layout must be {LINEAR!r} or {CONV1D!r}, got {layout!r}")
        splits = []
        for layer in layers:
            kernel_shape = tuple(layer.kernel.shape)
            axes = _input_axes(layer)
            splits.append((int(np.prod(kernel_shape[:axes])), int(np.prod(kernel_shape[axes:]))))
        fan_in = splits[0][0]
        if any(n_in != fan_in for n_in, _ in splits):
            raise ValueError(f"{prefix}: fused layers differ in input size: {splits}")
        fan_out = sum(n_out for _, n_out in splits)
        raw = (fan_out, fan_in) if layout == LINEAR else (fan_in, fan_out)
        start = 0
        for layer, (_, n_out) in zip(layers, splits):
            rows = slice(start, start + n_out)
            self.add(layer.kernel, prefix + ".weight",
                     _kernel_from(rows, layout, tuple(layer.kernel.shape)), raw)
            if getattr(layer, "bias", None) is not None:
                self.add(layer.bias, prefix + ".bias",
                         _slice_to(rows, tuple(layer.bias.shape)), (fan_out,))
            start += n_out

    def add_attention(self, attention, query, key, value, output):
        """A ``keras.layers.MultiHeadAttention`` <- four PyTorch ``Linear`` projections
        (their key prefixes, e.g. ``"...self_attn.q_proj"``)."""
        for layer, prefix in ((attention.query_dense, query), (attention.key_dense, key),
                              (attention.value_dense, value), (attention.output_dense, output)):
            self.add_dense(layer, prefix)

    def add_layer_norm(self, norm, prefix):
        """``LayerNorm`` ``prefix.weight`` / ``prefix.bias`` -> ``gamma`` / ``beta``."""
        for variable, name in ((norm.gamma, "weight"), (norm.beta, "bias")):
            if variable is not None:
                self.add(variable, f"{prefix}.{name}")

    def add_batch_norm(self, norm, prefix):
        """``BatchNorm2d`` affine parameters and running statistics."""
        for ours, theirs in (("gamma", "weight"), ("beta", "bias"),
                             ("moving_mean", "running_mean"),
                             ("moving_variance", "running_var")):
            variable = getattr(norm, ours)
            if variable is not None:
                self.add(variable, f"{prefix}.{theirs}")

    def add_conv(self, conv, prefix):
        """``Conv2d`` ``prefix.weight`` (out, in, h, w) (and ``prefix.bias``) -> ``Conv2D``."""
        h, w, n_in, n_out = tuple(conv.kernel.shape)
        self.add(conv.kernel, prefix + ".weight", conv_kernel, (n_out, n_in, h, w))
        if getattr(conv, "bias", None) is not None:
            self.add(conv.bias, prefix + ".bias")

    # --- check and assign -----------------------------------------------------------------

    def apply(self, model, unassigned=()):
        """Checks everything, then assigns; returns the number of variables assigned.

        Every variable of ``model.weights`` must have been planned, except those listed in
        ``unassigned`` (e.g. a buffer the model sets itself); a converter that forgets a
        variable fails here, by name, before any checkpoint problem is reported.
        """
        allowed = {id(v) for v in unassigned}
        forgotten = [v.path for v in model.weights
                     if id(v) not in self._targets and id(v) not in allowed]
        if forgotten:
            raise ValueError(f"converter for {self.source} maps no checkpoint key to model "
                             f"variable(s): {forgotten[:20]}")
        unexpected = [key for key in self.state
                      if key not in self._used
                      and not any(p.fullmatch(key) for p in self.ignore)]
        mis_shaped = [(key, got, want) for key, (got, want) in self._mis_shaped.items()]
        unconvertible = sorted(self._unconvertible.items())
        if self._missing or unexpected or mis_shaped or unconvertible:
            raise CheckpointMismatchError(self.source, sorted(self._missing), unexpected,
                                          mis_shaped, unconvertible)
        for variable, value in self._plan:
            variable.assign(value.astype(variable.dtype))
        return len(self._plan)


def _kernel_from(rows, layout, kernel_shape):
    """The ``rows`` output units of a raw Linear / Conv1D weight, as a Keras kernel."""
    def transform(weight):
        in_out = linear_kernel(weight) if layout == LINEAR else weight
        return np.reshape(in_out[:, rows], kernel_shape)
    return transform


def _slice_to(rows, shape):
    def transform(bias):
        return np.reshape(bias[rows], shape)
    return transform
