"""Loads GPT-2 into a keras-hub ``GPT2Backbone`` from real checkpoints or a model dir.

``load_gpt2(path)`` accepts:

1. a Hugging Face checkpoint directory: ``config.json`` (``model_type`` "gpt2") +
   ``model.safetensors`` or ``pytorch_model.bin`` (``GPT2Model`` keys ``h.0.…`` or
   ``GPT2LMHeadModel`` keys ``transformer.h.0.…`` with an optional tied
   ``lm_head.weight``), plus ``vocab.json`` + ``merges.txt`` for the tokenizer (with
   neither, ``tokenizer`` is None; with only one, the other is named as missing);
2. a bare PyTorch state_dict file (``.pt`` / ``.bin`` / ``.pth`` / ``.safetensors``),
   keys with or without an outer prefix, old ``attn.bias`` / ``attn.masked_bias`` buffers
   ignored; the architecture is read from the shapes, ``num_heads`` = hidden / 64 unless
   ``config`` says otherwise, ``layer_norm_epsilon`` 1e-5. A file that holds more than
   GPT-2, such as an official ClipCap checkpoint (the ``GPT2LMHeadModel`` under ``gpt.``
   next to the mapping network ``clip_project.*``), is read with ``prefix="gpt."``: only
   keys under the prefix are used;
3. a tfcaption model dir written by :func:`save_gpt2`.

The mapping is mechanical (see :mod:`tfcaption.backbones.gpt2_weights`); any missing,
unexpected or mis-shaped key raises one ``CheckpointMismatchError`` naming them all.
"""

import os

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.checkpoint_reader import find_weights_file, read_state_dict
from tfcaption.file_io import read_json
from tfcaption.backbones.gpt2_backbone import GPT2Backbone, lm_logits
from tfcaption.backbones.gpt2_weights import (CONFIG_KEYS, assign_weights, config_from_hf,
                                              find_prefix, infer_config, merge_config)
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.backbones.model_dir import (CONFIG_FILE, check_tokenizer_fits, is_model_dir,
                                           load_backbone_dir, save_model_dir)
from tfcaption.hf_hub import local_checkpoint
from tfcaption.tokenizers.gpt2_tokenizer import MERGES_FILE, VOCAB_FILE, load_gpt2_tokenizer

MODEL_TYPE = "gpt2"

__all__ = ["load_gpt2", "save_gpt2", "gpt2_from_state_dict", "build_gpt2_backbone",
           "lm_logits", "MODEL_TYPE"]


def build_gpt2_backbone(config) -> GPT2Backbone:
    """A randomly initialised backbone from a ``LoadedBackbone.config``-style dict."""
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown GPT-2 config key(s) {unknown}; known: {list(CONFIG_KEYS)}")
    return GPT2Backbone(**config)


def _under(state, prefix, source):
    """The entries of ``state`` whose keys start with ``prefix`` (keys unchanged)."""
    if prefix is None:
        return state
    kept = {key: value for key, value in state.items() if key.startswith(prefix)}
    if not kept:
        raise CheckpointMismatchError(source, missing=[f"{prefix}* (GPT-2 keys)"])
    return kept


def gpt2_from_state_dict(state, source, config=None, tokenizer=None,
                         prefix=None) -> LoadedBackbone:
    """Builds and loads a backbone from an in-memory HF GPT-2 state dict.

    Args:
      state: ``{key: numpy array}`` (e.g. from ``read_state_dict``).
      source: the checkpoint's name, for error messages.
      config: overrides of the architecture inferred from the shapes (keys of
        ``CONFIG_KEYS``, e.g. ``{"num_heads": 12, "layer_norm_epsilon": 1e-5}``).
      tokenizer: passed through to the result; its ids must fit the vocabulary.
      prefix: when given (e.g. ``"gpt."`` for a ClipCap checkpoint), only keys starting
        with it are read and the others are left alone; otherwise every key must belong
        to GPT-2.
    """
    state = _under(state, prefix, source)
    found = find_prefix(state, source)
    arch = merge_config(infer_config(state, found, source), config, source)
    model = build_gpt2_backbone(arch)
    assign_weights(model, state, found, source)
    if tokenizer is not None:
        check_tokenizer_fits(tokenizer, arch["vocabulary_size"], source)
    return LoadedBackbone(model=model, model_type=MODEL_TYPE, tokenizer=tokenizer,
                          config=arch)


def _tokenizer_in(directory):
    """Our GPT2Tokenizer when ``directory`` holds vocab.json + merges.txt, None when it
    holds neither; ``FileNotFoundError`` naming the other when it holds only one."""
    present = {name: os.path.isfile(os.path.join(directory, name))
               for name in (VOCAB_FILE, MERGES_FILE)}
    if not any(present.values()):
        return None
    absent = [name for name, there in present.items() if not there]
    if absent:
        raise FileNotFoundError(f"missing file: {os.path.join(directory, absent[0])} (the "
                                f"GPT-2 tokenizer needs {VOCAB_FILE} and {MERGES_FILE})")
    return load_gpt2_tokenizer(directory)


def _load_hf_dir(path, config, prefix):
    config_path = os.path.join(path, CONFIG_FILE)
    arch = config_from_hf(read_json(config_path), config_path)
    weights = find_weights_file(path)
    return gpt2_from_state_dict(read_state_dict(weights), weights,
                                config={**arch, **(config or {})},
                                tokenizer=_tokenizer_in(path), prefix=prefix)


def _model_dir_tokenizer(path, model):
    tokenizer = _tokenizer_in(path)
    if tokenizer is not None:
        check_tokenizer_fits(tokenizer, model.vocabulary_size, path)
    return tokenizer


def load_gpt2(path, config=None, prefix=None) -> LoadedBackbone:
    """Loads GPT-2 from a HF directory, a bare state_dict file or a tfcaption model dir.

    Returns a :class:`LoadedBackbone` with ``model_type="gpt2"``, ``model`` a
    ``keras_hub.models.GPT2Backbone`` (our subclass with ``layer_norm_epsilon``),
    ``tokenizer`` our ``GPT2Tokenizer`` when the directory holds ``vocab.json`` +
    ``merges.txt`` (None when it holds neither) and ``config`` the architecture:
    ``vocabulary_size``, ``num_layers``, ``num_heads``, ``hidden_dim``,
    ``intermediate_dim``, ``max_sequence_length``, ``layer_norm_epsilon``, ``dropout``.

    ``config`` overrides the architecture and ``prefix`` selects the GPT-2 keys of a
    checkpoint (see :func:`gpt2_from_state_dict`); neither applies to a model dir.
    """
    path = local_checkpoint(path, "gpt2")  # a local path or hf:ORG/NAME
    if os.path.isdir(path):
        if is_model_dir(path):
            if config or prefix is not None:
                raise ValueError(f"{path} is a tfcaption model dir: its architecture and "
                                 f"keys are fixed, config= and prefix= apply only to "
                                 f"checkpoints")
            return load_backbone_dir(path, MODEL_TYPE, GPT2Backbone, _model_dir_tokenizer)
        return _load_hf_dir(path, config, prefix)
    if os.path.isfile(path):
        return gpt2_from_state_dict(read_state_dict(path), path, config=config, prefix=prefix)
    raise FileNotFoundError(f"GPT-2 checkpoint not found: {path} (expected a Hugging Face "
                            f"directory, a state_dict file or a tfcaption model dir)")


def _write_tokenizer(tokenizer, directory):
    tokenizer.save_to_directory(directory)


def save_gpt2(loaded, out_dir) -> str:
    """Writes ``loaded`` (from :func:`load_gpt2`) as a tfcaption model dir; returns its path.

    The tokenizer, if any, is written in GPT-2's own format (``vocab.json`` +
    ``merges.txt``) next to ``config.json`` and ``model.weights.h5``.
    """
    if loaded.model_type != MODEL_TYPE:
        raise ValueError(f"save_gpt2 got a {loaded.model_type!r} backbone, not {MODEL_TYPE!r}")
    tokenizer = loaded.tokenizer
    write_extra = None if tokenizer is None else (lambda d: _write_tokenizer(tokenizer, d))
    return save_model_dir(out_dir, MODEL_TYPE, loaded.model, config=loaded.config,
                          write_extra=write_extra)
