"""The record a captioner family registers: what every command needs to know about it."""

import dataclasses
import importlib
from typing import Mapping, Optional, Tuple


def import_object(path: str):
    """``"package.module:name"`` -> that object; ``"package.module"`` -> the module."""
    module_name, _, name = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, name) if name else module


@dataclasses.dataclass(frozen=True)
class CaptionerFamily:
    """One captioner family, by module paths (imported only when used).

    Attributes:
      name: the family's name (its folder under ``tfcaption/models/``).
      model_types: the ``tfcaption_model_type`` values of the model dirs it reads.
      trainers: ``{hparams model.type: "module"}``; each module has
        ``run(hparams, workdir)``, ``SETTINGS`` (the schema
        :func:`tfcaption.hparams.check_hparams` checks its hparams against) and
        ``validate(hparams, source)`` (the value checks a schema cannot express) and
        ``check_data(hparams, source)`` (the checks that read the data).
      loader: ``"module:function"``, ``(model_dir, jit_compile=True, **options) ->``
        a :class:`~tfcaption.models.captioner.Captioner`.
      saver: ``"module:function"``, ``(captioner, out_dir) -> out_dir``.
      serving_module: ``"module:Class"``, ``(captioner, decoding, jit_compile=...,
        **overrides)`` -> a ``tf.Module`` with ``serving_signature()`` for export.
      checkpoints: ``{Hugging Face config model_type: "module:function"}``, the released
        checkpoint dirs the family converts (``python -m tfcaption.convert`` and ``hf:``
        ids); each function is ``(checkpoint_dir, jit_compile=True) ->`` a captioner
        whose ``describe()`` is one line on what was converted.
      cli_flags: optional ``"module"`` defining the family's own command-line flags for
        ``tfcaption.caption``; it has ``FLAG_NAMES`` and ``load_options(flag_values) ->
        dict`` of loader keyword arguments.
      description: one line for listings.
    """

    name: str
    model_types: Tuple[str, ...]
    trainers: Mapping[str, str]
    loader: str
    saver: str
    serving_module: str = ("tfcaption.serving.captioner_serving_module:"
                           "CaptionerServingModule")
    checkpoints: Mapping[str, str] = dataclasses.field(default_factory=dict)
    cli_flags: Optional[str] = None
    description: str = ""

    def load(self, model_dir, **options):
        """Loads a model dir of this family -> its captioner."""
        return import_object(self.loader)(model_dir, **options)

    def save(self, captioner, out_dir, extra_config=None) -> str:
        """Writes ``captioner`` as a model dir (``extra_config`` added to its config)."""
        if extra_config:
            return import_object(self.saver)(captioner, out_dir, extra_config)
        return import_object(self.saver)(captioner, out_dir)

    def convert(self, checkpoint_type, checkpoint_dir, jit_compile=True):
        """A released checkpoint dir (config ``model_type`` ``checkpoint_type``) -> its
        captioner."""
        return import_object(self.checkpoints[checkpoint_type])(checkpoint_dir,
                                                                jit_compile=jit_compile)

    def trainer(self, model_type):
        """The trainer module for hparams ``model.type``."""
        return import_object(self.trainers[model_type])

    def serving(self, captioner, decoding="greedy", jit_compile=True, **overrides):
        """The serving ``tf.Module`` of ``captioner`` for one decoding setting."""
        return import_object(self.serving_module)(captioner, decoding,
                                                  jit_compile=jit_compile, **overrides)

    def flags_module(self):
        """The module of :attr:`cli_flags` (importing it defines the flags), or None."""
        return import_object(self.cli_flags) if self.cli_flags else None
