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

from tfcaption.backbones.checkpoint_reader import find_weights_file, read_state_dict, strip_prefix
from tfcaption.file_io import read_json
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.backbones.model_dir import (check_tokenizer_fits, is_model_dir,
                                           load_backbone_dir, save_model_dir)
from tfcaption.backbones.roberta_encoder import RobertaEncoder
from tfcaption.backbones.weight_map import WeightMap
from tfcaption.hf_hub import local_checkpoint
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


def _embedding_plan(weights, model, offset):
    emb = model.backbone.embeddings
    weights.add(emb.token_embedding.embeddings, "embeddings.word_embeddings.weight")
    table = emb.position_embedding.position_embeddings
    rows, hidden = tuple(table.shape)

    def positions(position_table, token_types):
        return position_table[offset:] + token_types[0]  # every token has type 0

    weights.add(table, ["embeddings.position_embeddings.weight",
                        "embeddings.token_type_embeddings.weight"], positions,
                shape=[(rows + offset, hidden), (None, hidden)])
    weights.add_layer_norm(model.backbone.embeddings_layer_norm, "embeddings.LayerNorm")


def _layer_plan(weights, layer, prefix):
    p = f"{prefix}.attention."
    weights.add_attention(layer._self_attention_layer, p + "self.query", p + "self.key",
                          p + "self.value", p + "output.dense")
    weights.add_layer_norm(layer._self_attention_layer_norm, p + "output.LayerNorm")
    weights.add_dense(layer._feedforward_intermediate_dense, f"{prefix}.intermediate.dense")
    weights.add_dense(layer._feedforward_output_dense, f"{prefix}.output.dense")
    weights.add_layer_norm(layer._feedforward_layer_norm, f"{prefix}.output.LayerNorm")


def _tokenizer(path, vocabulary_size):
    return check_tokenizer_fits(RobertaTokenizer.from_directory(path), vocabulary_size, path)


def _model_dir_tokenizer(path, model):
    return _tokenizer(path, model.vocabulary_size)


def _load_hf(path):
    config_path = os.path.join(path, "config.json")
    settings, extra = _hf_settings(read_json(config_path), config_path)
    weights_path = find_weights_file(path)
    raw = read_state_dict(weights_path)
    source = weights_path
    if any(key.startswith(PREFIX) for key in raw):
        source += f" (keys named without their {PREFIX!r} prefix)"
    state = strip_prefix(raw, PREFIX, weights_path)
    tokenizer = _tokenizer(path, settings["vocabulary_size"])
    model = RobertaEncoder(**settings)

    weights = WeightMap(state, source, ignore=IGNORED_KEYS)
    _embedding_plan(weights, model, extra["position_offset"])
    for index, layer in enumerate(model.backbone.transformer_layers):
        _layer_plan(weights, layer, f"encoder.layer.{index}")
    pooler = any(key.startswith("pooler.") for key in state)
    if pooler:
        weights.add_dense(model.pooler, "pooler.dense")
    weights.apply(model=model, unassigned=[] if pooler else model.pooler.weights)
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
    path = local_checkpoint(path, "roberta")  # a local path or hf:ORG/NAME
    if not os.path.isdir(path):
        raise FileNotFoundError(f"RoBERTa directory not found: {path}")
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise FileNotFoundError(f"missing file: {os.path.join(path, 'config.json')}")
    if not is_model_dir(path):
        return _load_hf(path)
    return load_backbone_dir(path, MODEL_TYPE, RobertaEncoder, _model_dir_tokenizer)


def save_roberta(loaded: LoadedBackbone, out_dir) -> str:
    """Writes ``loaded`` as a tfcaption model dir (weights, config, tokenizer files)."""
    if loaded.model_type != MODEL_TYPE or not isinstance(loaded.model, RobertaEncoder):
        raise ValueError(f"save_roberta takes a loaded RoBERTa encoder, got model_type "
                         f"{loaded.model_type!r} with a {type(loaded.model).__name__}")
    if loaded.tokenizer is None:
        raise ValueError("save_roberta needs the tokenizer (LoadedBackbone.tokenizer)")
    return save_model_dir(out_dir, MODEL_TYPE, loaded.model, config=loaded.config,
                          write_extra=loaded.tokenizer.save_to_directory)
