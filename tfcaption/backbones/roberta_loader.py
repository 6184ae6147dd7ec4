"""Loads a RoBERTa encoder (:class:`RobertaEncoder`) from a Hugging Face directory or a model dir.

Hugging Face directories (``config.json`` with ``model_type: "roberta"``, weights, and the
tokenizer's ``vocab.json`` + ``merges.txt``) may hold:

- a ``RobertaModel`` (keys ``embeddings.word_embeddings.weight``,
  ``encoder.layer.0.attention.self.query.weight``, ..., ``pooler.dense.weight``), or
- a ``RobertaForMaskedLM``, like the real ``roberta-base`` (keys prefixed ``roberta.``, plus
  ``lm_head.*``, which are not used). Such checkpoints have no pooler: it is freshly
  initialised, a warning is logged and ``config["pooler_from_checkpoint"]`` is False.

See :mod:`tfcaption.backbones.roberta_encoder` for how positions, token types and the
LayerNorm epsilon are mapped. Every checkpoint key is accounted for: missing, unexpected
and mis-shaped keys are all named in one :class:`CheckpointMismatchError`.
"""

import logging
import os

import numpy as np

from tfcaption.backbones.checkpoint_reader import (find_weights_file, read_json,
                                                   read_state_dict)
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.backbones.model_dir import (is_model_dir, load_model_dir,
                                           save_model_dir)
from tfcaption.backbones.roberta_encoder import RobertaEncoder
from tfcaption.backbones.weight_map import WeightMap
from tfcaption.tokenizers.roberta_tokenizer import RobertaTokenizer

MODEL_TYPE = "roberta"
PREFIX = "roberta."
# Keys a checkpoint may hold that the encoder does not use: the masked-LM head and
# the position / token-type id buffers that older transformers versions saved.
IGNORED_KEYS = (r"lm_head\..*", r"embeddings\.position_ids", r"embeddings\.token_type_ids")
_REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
             "intermediate_size", "max_position_embeddings")

logger = logging.getLogger(__name__)


def _hf_settings(config, path):
    """Architecture settings from a HF ``config.json`` (``RobertaConfig`` defaults)."""
    if config.get("model_type") != MODEL_TYPE:
        raise ValueError(f"{path}: model_type is {config.get('model_type')!r}, expected "
                         f"{MODEL_TYPE!r} (a RoBERTa checkpoint)")
    absent = [key for key in _REQUIRED if key not in config]
    if absent:
        raise ValueError(f"{path}: missing keys {absent}")
    checks = {"hidden_act": "gelu", "position_embedding_type": "absolute",
              "is_decoder": False, "add_cross_attention": False}
    for key, supported in checks.items():
        if config.get(key, supported) != supported:
            raise ValueError(f"{path}: {key}={config[key]!r} is not supported (only "
                             f"{supported!r})")
    pad_token_id = int(config.get("pad_token_id", 1))
    offset = pad_token_id + 1  # HF positions of real tokens start at pad_token_id + 1
    max_positions = int(config["max_position_embeddings"])
    if max_positions <= offset:
        raise ValueError(f"{path}: max_position_embeddings={max_positions} leaves no "
                         f"position after the {offset} reserved rows")
    return {
        "vocabulary_size": int(config["vocab_size"]),
        "num_layers": int(config["num_hidden_layers"]),
        "num_heads": int(config["num_attention_heads"]),
        "hidden_dim": int(config["hidden_size"]),
        "intermediate_dim": int(config["intermediate_size"]),
        "dropout": float(config.get("hidden_dropout_prob", 0.1)),
        "max_sequence_length": max_positions - offset,
        "layer_norm_epsilon": float(config.get("layer_norm_eps", 1e-12)),
    }, {"pad_token_id": pad_token_id, "position_offset": offset,
        "type_vocab_size": int(config.get("type_vocab_size", 2)),
        "architectures": list(config.get("architectures") or [])}


def _shaped(shape, fn=None):
    """``fn(array)`` reshaped to ``shape``; the raw array when sizes differ (then reported
    as mis-shaped with the checkpoint's own shape)."""
    def transform(array):
        value = fn(array) if fn else array
        return np.reshape(value, shape) if value.size == np.prod(shape) else array
    return transform


def _embedding_plan(weights, model, offset):
    emb = model.backbone.embeddings
    weights.add(emb.token_embedding.embeddings, "embeddings.word_embeddings.weight")
    table = emb.position_embedding.position_embeddings

    def positions(position_table, token_types):
        rows = position_table[offset:]
        if rows.shape != tuple(table.shape) or token_types.shape[-1:] != rows.shape[-1:]:
            return position_table
        return rows + token_types[0]  # every token has type 0

    weights.add(table, ["embeddings.position_embeddings.weight",
                        "embeddings.token_type_embeddings.weight"], positions)
    norm = model.backbone.embeddings_layer_norm
    weights.add(norm.gamma, "embeddings.LayerNorm.weight")
    weights.add(norm.beta, "embeddings.LayerNorm.bias")


def _layer_plan(weights, layer, prefix):
    attention = layer._self_attention_layer
    dense = {"query": attention.query_dense, "key": attention.key_dense,
             "value": attention.value_dense,
             "output.dense": attention.output_dense}
    for name, target in dense.items():
        key = f"{prefix}.attention.self.{name}" if name != "output.dense" \
            else f"{prefix}.attention.output.dense"
        weights.add(target.kernel, key + ".weight",
                    _shaped(tuple(target.kernel.shape), np.transpose))
        weights.add(target.bias, key + ".bias", _shaped(tuple(target.bias.shape)))
    pairs = [(layer._self_attention_layer_norm, "attention.output.LayerNorm"),
             (layer._feedforward_layer_norm, "output.LayerNorm")]
    for norm, name in pairs:
        weights.add(norm.gamma, f"{prefix}.{name}.weight")
        weights.add(norm.beta, f"{prefix}.{name}.bias")
    for target, name in [(layer._feedforward_intermediate_dense, "intermediate.dense"),
                         (layer._feedforward_output_dense, "output.dense")]:
        weights.add(target.kernel, f"{prefix}.{name}.weight",
                    _shaped(tuple(target.kernel.shape), np.transpose))
        weights.add(target.bias, f"{prefix}.{name}.bias")


def _unprefixed(state, source):
    """Drops the ``roberta.`` prefix of ``RobertaFor*`` checkpoints."""
    if not any(key.startswith(PREFIX) for key in state):
        return state
    out = {}
    for key, value in state.items():
        short = key[len(PREFIX):] if key.startswith(PREFIX) else key
        if short in out:
            raise ValueError(f"{source}: holds {short!r} both with and without the "
                             f"{PREFIX!r} prefix")
        out[short] = value
    return out


def _tokenizer(path, vocabulary_size):
    tokenizer = RobertaTokenizer.from_directory(path)
    top = max(tokenizer.vocabulary.values())
    if top >= vocabulary_size:
        raise ValueError(f"{path}: tokenizer id {top} does not fit the model's "
                         f"vocab_size={vocabulary_size}")
    return tokenizer


def _load_hf(path):
    config_path = os.path.join(path, "config.json")
    settings, extra = _hf_settings(read_json(config_path), config_path)
    weights_path = find_weights_file(path)
    state = _unprefixed(read_state_dict(weights_path), weights_path)
    tokenizer = _tokenizer(path, settings["vocabulary_size"])
    model = RobertaEncoder(**settings)

    weights = WeightMap(state, weights_path, ignore=IGNORED_KEYS)
    _embedding_plan(weights, model, extra["position_offset"])
    for index, layer in enumerate(model.backbone.transformer_layers):
        _layer_plan(weights, layer, f"encoder.layer.{index}")
    pooler = any(key.startswith("pooler.") for key in state)
    if pooler:
        weights.add(model.pooler.kernel, "pooler.dense.weight",
                    _shaped(tuple(model.pooler.kernel.shape), np.transpose))
        weights.add(model.pooler.bias, "pooler.dense.bias")
    weights.apply()
    if not pooler:
        logger.warning("%s has no pooler weights (a masked-LM checkpoint such as "
                       "roberta-base): the RoBERTa pooler is freshly initialised",
                       weights_path)
    config = dict(settings, **extra, pooler_from_checkpoint=pooler)
    return LoadedBackbone(model=model, model_type=MODEL_TYPE, tokenizer=tokenizer,
                          config=config)


def load_roberta(path) -> LoadedBackbone:
    """Loads a RoBERTa encoder from a Hugging Face directory or a tfcaption model dir.

    Returns a :class:`LoadedBackbone` with ``model`` a :class:`RobertaEncoder`,
    ``model_type`` ``"roberta"``, ``tokenizer`` a :class:`RobertaTokenizer` and ``config``
    holding the encoder's constructor settings plus ``pad_token_id``, ``position_offset``,
    ``type_vocab_size``, ``architectures`` and ``pooler_from_checkpoint``.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"RoBERTa directory not found: {path}")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise FileNotFoundError(f"missing file: {os.path.join(path, 'config.json')}")
    if not is_model_dir(path):
        return _load_hf(path)
    model, model_type, _, config = load_model_dir(path, expected_types={MODEL_TYPE})
    if not isinstance(model, RobertaEncoder):
        raise ValueError(f"{path}: holds a {type(model).__name__}, not a RobertaEncoder")
    tokenizer = _tokenizer(path, model.vocabulary_size)
    return LoadedBackbone(model=model, model_type=model_type, tokenizer=tokenizer,
                          config=config)


def save_roberta(loaded: LoadedBackbone, out_dir) -> str:
    """Writes ``loaded`` as a tfcaption model dir (weights, config, tokenizer files)."""
    if loaded.model_type != MODEL_TYPE or not isinstance(loaded.model, RobertaEncoder):
        raise ValueError(f"save_roberta takes a loaded RoBERTa encoder, got model_type "
                         f"{loaded.model_type!r} with a {type(loaded.model).__name__}")
    if loaded.tokenizer is None:
        raise ValueError("save_roberta needs the tokenizer (LoadedBackbone.tokenizer)")
    return save_model_dir(out_dir, MODEL_TYPE, loaded.model, config=loaded.config,
                          write_extra=loaded.tokenizer.save_to_directory)
