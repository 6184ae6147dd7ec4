"""Loads GPT-2 into a keras-hub ``GPT2Backbone`` from real checkpoints or a model dir.

``load_gpt2(path)`` accepts:

1. a Hugging Face checkpoint directory: ``config.json`` (``model_type`` "gpt2") +
   ``model.safetensors`` or ``pytorch_model.bin`` (``GPT2Model`` keys ``h.0.…`` or
   ``GPT2LMHeadModel`` keys ``transformer.h.0.…`` with an optional tied
   ``lm_head.weight``), plus ``vocab.json`` / ``merges.txt`` for the tokenizer;
2. a bare PyTorch state_dict file (``.pt`` / ``.bin`` / ``.pth`` / ``.safetensors``),
   keys with or without an outer prefix (the official ClipCap checkpoints hold the
   GPT-2 under ``gpt.``), old ``attn.bias`` / ``attn.masked_bias`` buffers ignored; the
   architecture is read from the shapes, ``num_heads`` = hidden / 64 unless ``config``
   says otherwise, ``layer_norm_epsilon`` 1e-5;
3. a tfcaption model dir written by :func:`save_gpt2`.

The mapping is mechanical (see :mod:`tfcaption.backbones.gpt2_weights`); any missing,
unexpected or mis-shaped key raises one ``CheckpointMismatchError`` naming them all.
"""

import json
import os

from tfcaption.backbones.checkpoint_reader import find_weights_file, read_json, read_state_dict
from tfcaption.backbones.gpt2_backbone import GPT2Backbone, lm_logits
from tfcaption.backbones.gpt2_weights import (CONFIG_KEYS, assign_weights, config_from_hf,
                                              find_prefix, infer_config, merge_config)
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.backbones.model_dir import CONFIG_FILE, is_model_dir, load_model_dir, save_model_dir
from tfcaption.tokenizers.gpt2_tokenizer import MERGES_FILE, VOCAB_FILE, load_gpt2_tokenizer

MODEL_TYPE = "gpt2"
MERGES_HEADER = "#version: 0.2"

__all__ = ["load_gpt2", "save_gpt2", "gpt2_from_state_dict", "build_gpt2_backbone",
           "lm_logits", "MODEL_TYPE"]


def build_gpt2_backbone(config) -> GPT2Backbone:
    """A randomly initialised backbone from a ``LoadedBackbone.config``-style dict."""
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown GPT-2 config key(s) {unknown}; known: {list(CONFIG_KEYS)}")
    return GPT2Backbone(**config)


def gpt2_from_state_dict(state, source, config=None, tokenizer=None) -> LoadedBackbone:
    """Builds and loads a backbone from an in-memory HF GPT-2 state dict.

    Args:
      state: ``{key: numpy array}`` (e.g. from ``read_state_dict``, or the ``gpt.``
        part of a ClipCap checkpoint).
      source: the checkpoint's name, for error messages.
      config: overrides of the architecture inferred from the shapes (keys of
        ``CONFIG_KEYS``, e.g. ``{"num_heads": 12, "layer_norm_epsilon": 1e-5}``).
      tokenizer: passed through to the result.
    """
    prefix = find_prefix(state, source)
    arch = merge_config(infer_config(state, prefix, source), config, source)
    model = build_gpt2_backbone(arch)
    assign_weights(model, state, prefix, source)
    if tokenizer is not None and tokenizer.vocabulary_size() > arch["vocabulary_size"]:
        raise ValueError(f"{source}: tokenizer has {tokenizer.vocabulary_size()} tokens but "
                         f"the model embeds only {arch['vocabulary_size']}")
    return LoadedBackbone(model=model, model_type=MODEL_TYPE, tokenizer=tokenizer,
                          config=arch)


def _tokenizer_in(directory):
    """Our GPT2Tokenizer when ``directory`` holds vocab.json / merges.txt, else None."""
    names = (VOCAB_FILE, MERGES_FILE)
    if not any(os.path.isfile(os.path.join(directory, n)) for n in names):
        return None
    return load_gpt2_tokenizer(directory)  # names the missing one if only one is there


def _load_hf_dir(path, config):
    config_path = os.path.join(path, CONFIG_FILE)
    arch = config_from_hf(read_json(config_path), config_path)
    weights = find_weights_file(path)
    return gpt2_from_state_dict(read_state_dict(weights), weights,
                                config={**arch, **(config or {})},
                                tokenizer=_tokenizer_in(path))


def _load_model_dir(path, config):
    if config:
        raise ValueError(f"{path} is a tfcaption model dir: its architecture is fixed, "
                         f"config= overrides apply only to checkpoints")
    model, model_type, _, arch = load_model_dir(path, expected_types={MODEL_TYPE})
    return LoadedBackbone(model=model, model_type=model_type,
                          tokenizer=_tokenizer_in(path), config=arch)


def load_gpt2(path, config=None) -> LoadedBackbone:
    """Loads GPT-2 from a HF directory, a bare state_dict file or a tfcaption model dir.

    Returns a :class:`LoadedBackbone` with ``model_type="gpt2"``, ``model`` a
    ``keras_hub.models.GPT2Backbone`` (our subclass with ``layer_norm_epsilon``),
    ``tokenizer`` our ``GPT2Tokenizer`` when the directory holds ``vocab.json`` +
    ``merges.txt`` (else None) and ``config`` the architecture: ``vocabulary_size``,
    ``num_layers``, ``num_heads``, ``hidden_dim``, ``intermediate_dim``,
    ``max_sequence_length``, ``layer_norm_epsilon``, ``dropout``.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if is_model_dir(path):
            return _load_model_dir(path, config)
        return _load_hf_dir(path, config)
    if os.path.isfile(path):
        return gpt2_from_state_dict(read_state_dict(path), path, config=config)
    raise FileNotFoundError(f"GPT-2 checkpoint not found: {path} (expected a Hugging Face "
                            f"directory, a state_dict file or a tfcaption model dir)")


def _write_tokenizer(tokenizer, directory):
    with open(os.path.join(directory, VOCAB_FILE), "w", encoding="utf-8") as f:
        json.dump(dict(tokenizer.vocabulary), f, ensure_ascii=False)
    merges = [m for m in tokenizer.merges if not m.lstrip().startswith("#version")]
    with open(os.path.join(directory, MERGES_FILE), "w", encoding="utf-8") as f:
        f.write("".join(f"{line}\n" for line in [MERGES_HEADER] + merges))


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
