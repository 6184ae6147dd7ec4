"""Load CLIP ViT from a Hugging Face ``CLIPModel`` directory or a tfcaption model dir.

A Hugging Face directory (``openai/clip-vit-base-patch32`` layout) holds:

- ``config.json``: ``model_type: "clip"``, ``text_config``, ``vision_config`` (values
  missing from them take ``CLIPTextConfig`` / ``CLIPVisionConfig`` defaults; legacy
  ``text_config_dict`` / ``vision_config_dict`` override them, as in transformers),
  ``projection_dim``, ``logit_scale_init_value``;
- ``model.safetensors`` or ``pytorch_model.bin`` (or sharded index) with keys
  ``text_model.*``, ``vision_model.*``, ``visual_projection.weight``,
  ``text_projection.weight``, ``logit_scale``; ``*.position_ids`` buffers (in older
  checkpoints) are not weights: they are checked to be ``arange`` and otherwise unused;
- ``vocab.json`` + ``merges.txt`` (tokenizer; required; every id must fit
  ``text_config.vocab_size``);
- optional ``preprocessor_config.json`` (``crop_size`` = input side; its mean/std must
  be CLIP's, which :class:`ImagePreprocessor` ("clip") applies).

Pooling id: ``text_config.eos_token_id``, except the legacy value 2 of OpenAI's
configs, for which transformers pools at ``argmax(ids)``, i.e. at ``<|endoftext|>``
(the largest id of OpenAI's vocabulary): that token's id is then read from
``vocab.json``. A non-legacy id must equal the vocabulary's ``<|endoftext|>`` id.
"""

import os

import numpy as np

from tfcaption.backbones.checkpoint_reader import find_weights_file, read_state_dict
from tfcaption.file_io import read_json
from tfcaption.backbones.clip_model import ClipModel
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.backbones.model_dir import (check_tokenizer_fits, is_model_dir, load_backbone_dir,
                                           save_model_dir)
from tfcaption.backbones.weight_map import WeightMap
from tfcaption.data import image_ops
from tfcaption.data.image_preprocessor import ImagePreprocessor
from tfcaption.hf_hub import local_checkpoint
from tfcaption.tokenizers.clip_tokenizer import END_OF_TEXT, ClipTokenizer

MODEL_TYPE = "clip"
LEGACY_EOS_ID = 2
PREPROCESSOR_FILE = "preprocessor_config.json"

# transformers' CLIPTextConfig / CLIPVisionConfig / CLIPConfig defaults (ViT-B/32).
TEXT_DEFAULTS = {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048,
                 "num_hidden_layers": 12, "num_attention_heads": 8,
                 "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                 "layer_norm_eps": 1e-5, "eos_token_id": 49407}
VISION_DEFAULTS = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "num_channels": 3, "image_size": 224,
                   "patch_size": 32, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}
CLIP_DEFAULTS = {"projection_dim": 512, "logit_scale_init_value": 2.6592}


def _sub_config(config, name, defaults):
    sub = dict(defaults)
    sub.update(config.get(name) or {})
    sub.update(config.get(name + "_dict") or {})
    return sub


def _square(value, what, source):
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or value[0] != value[1]:
            raise ValueError(f"{source}: {what} {value!r} is not square")
        value = value[0]
    if isinstance(value, dict):
        height, width = value.get("height"), value.get("width")
        if height is None or height != width:
            raise ValueError(f"{source}: {what} {value!r} is not square")
        value = height
    return int(value)


def clip_model_kwargs(config: dict, tokenizer: ClipTokenizer, source: str) -> dict:
    """HF ``CLIPConfig`` dict (+ tokenizer for the legacy eos id) -> ``ClipModel`` kwargs."""
    text = _sub_config(config, "text_config", TEXT_DEFAULTS)
    vision = _sub_config(config, "vision_config", VISION_DEFAULTS)
    top = dict(CLIP_DEFAULTS, **{k: config[k] for k in CLIP_DEFAULTS if k in config})
    if int(vision["num_channels"]) != 3:
        raise ValueError(f"{source}: vision_config.num_channels is {vision['num_channels']}; "
                         f"only RGB (3) is supported")
    vocab_eos = tokenizer.end_token_id
    eos = text["eos_token_id"]
    if isinstance(eos, (list, tuple)):
        raise ValueError(f"{source}: text_config.eos_token_id {eos!r}: one id expected")
    if eos == LEGACY_EOS_ID:
        eos = vocab_eos  # transformers pools at argmax(ids) = <|endoftext|> here
    elif int(eos) != vocab_eos:
        raise ValueError(f"{source}: text_config.eos_token_id is {eos} but {END_OF_TEXT!r} "
                         f"has id {vocab_eos} in vocab.json")
    return {
        "vision_patch_size": _square(vision["patch_size"], "vision_config.patch_size", source),
        "vision_hidden_dim": int(vision["hidden_size"]),
        "vision_num_layers": int(vision["num_hidden_layers"]),
        "vision_num_heads": int(vision["num_attention_heads"]),
        "vision_intermediate_dim": int(vision["intermediate_size"]),
        "vision_image_size": _square(vision["image_size"], "vision_config.image_size", source),
        "vision_intermediate_activation": vision["hidden_act"],
        "vision_layer_norm_epsilon": float(vision["layer_norm_eps"]),
        "text_vocabulary_size": int(text["vocab_size"]),
        "text_embedding_dim": int(text["hidden_size"]),
        "text_hidden_dim": int(text["hidden_size"]),
        "text_num_layers": int(text["num_hidden_layers"]),
        "text_num_heads": int(text["num_attention_heads"]),
        "text_intermediate_dim": int(text["intermediate_size"]),
        "text_max_sequence_length": int(text["max_position_embeddings"]),
        "text_intermediate_activation": text["hidden_act"],
        "text_layer_norm_epsilon": float(text["layer_norm_eps"]),
        "projection_dim": int(top["projection_dim"]),
        "eos_token_id": int(eos),
        "logit_scale_init": float(top["logit_scale_init_value"]),
    }


def _image_size(path, model_size):
    """Preprocessing side from ``preprocessor_config.json`` (checked against the model)."""
    config_path = os.path.join(path, PREPROCESSOR_FILE)
    if not os.path.isfile(config_path):
        return model_size
    config = read_json(config_path)
    for key, expected in (("image_mean", image_ops.CLIP_MEAN), ("image_std", image_ops.CLIP_STD)):
        if key in config and not np.allclose(config[key], expected, atol=1e-6):
            raise ValueError(f"{config_path}: {key} {config[key]} is not CLIP's {list(expected)}"
                             f"; the 'clip' image policy would preprocess wrongly")
    if "crop_size" not in config:
        return model_size
    size = _square(config["crop_size"], "crop_size", config_path)
    if size != model_size:
        raise ValueError(f"{config_path}: crop_size {size} differs from "
                         f"vision_config.image_size {model_size}; the ViT's position "
                         f"embeddings are for {model_size}-px inputs")
    return size


def _check_position_ids(state, key, length, source):
    if key not in state:
        return
    value = np.asarray(state[key])
    expected = np.arange(length)[None, :]
    if value.shape != expected.shape or not np.array_equal(value, expected):
        raise ValueError(f"{source}: buffer {key} (shape {value.shape}) is not "
                         f"arange({length}) of shape {expected.shape}; position ids other "
                         f"than 0..{length - 1} are not supported")


def _add_block(weights, block, prefix):
    """One HF ``CLIPEncoderLayer`` -> keras-hub ``CLIPEncoderLayer``."""
    p = prefix + ".self_attn."
    weights.add_attention(block.attention, p + "q_proj", p + "k_proj", p + "v_proj",
                          p + "out_proj")
    weights.add_layer_norm(block.layer_norm_1, prefix + ".layer_norm1")
    weights.add_layer_norm(block.layer_norm_2, prefix + ".layer_norm2")
    weights.add_dense(block.dense_1, prefix + ".mlp.fc1")
    weights.add_dense(block.dense_2, prefix + ".mlp.fc2")


def assign_clip_weights(model: ClipModel, state: dict, source: str) -> int:
    """Copies an HF ``CLIPModel`` state dict into ``model``; returns variables assigned.

    Raises :class:`CheckpointMismatchError` naming every missing, unexpected and
    mis-shaped key (nothing is assigned then), ``ValueError`` for non-arange
    ``position_ids`` buffers.
    """
    vision, text = model.vision_encoder, model.text_encoder
    emb = vision.embedding
    _check_position_ids(state, "vision_model.embeddings.position_ids", emb.num_positions, source)
    _check_position_ids(state, "text_model.embeddings.position_ids",
                        model.text_max_sequence_length, source)
    weights = WeightMap(state, source,
                        ignore=[r"(vision|text)_model\.embeddings\.position_ids"])
    weights.add(emb.class_embedding, "vision_model.embeddings.class_embedding")
    weights.add_conv(emb.patch_embedding, "vision_model.embeddings.patch_embedding")
    weights.add(emb.position_embedding.embeddings,
                "vision_model.embeddings.position_embedding.weight")
    weights.add_layer_norm(vision.pre_layer_norm, "vision_model.pre_layrnorm")
    for i, block in enumerate(vision.encoder_layers):
        _add_block(weights, block, f"vision_model.encoder.layers.{i}")
    weights.add_layer_norm(vision.layer_norm, "vision_model.post_layernorm")

    weights.add(text.embedding.token_embedding.embeddings,
                "text_model.embeddings.token_embedding.weight")
    weights.add(text.embedding.position_embedding.position_embeddings,
                "text_model.embeddings.position_embedding.weight")
    for i, block in enumerate(text.encoder_layers):
        _add_block(weights, block, f"text_model.encoder.layers.{i}")
    weights.add_layer_norm(text.layer_norm, "text_model.final_layer_norm")

    weights.add_dense(model.visual_projection, "visual_projection")
    weights.add_dense(model.text_projection, "text_projection")
    weights.add(model.logit_scale, "logit_scale")
    # keras-hub's int position_ids variable is a buffer ClipModel sets to arange itself.
    return weights.apply(model=model, unassigned=[emb.position_ids])


def _model_dir_tokenizer(path, model):
    return check_tokenizer_fits(ClipTokenizer.from_directory(path), model.text_vocabulary_size,
                                path)


def _load_hf_dir(path) -> LoadedBackbone:
    config_path = os.path.join(path, "config.json")
    config = read_json(config_path)
    model_type = config.get("model_type")
    if model_type != MODEL_TYPE:
        raise ValueError(f"{config_path}: model_type {model_type!r} is not {MODEL_TYPE!r} "
                         f"(a Hugging Face CLIPModel directory: text + vision towers)")
    weights_path = find_weights_file(path)
    tokenizer = ClipTokenizer.from_directory(path)
    kwargs = clip_model_kwargs(config, tokenizer, config_path)
    check_tokenizer_fits(tokenizer, kwargs["text_vocabulary_size"], path)
    preprocessor = ImagePreprocessor("clip", _image_size(path, kwargs["vision_image_size"]))
    model = ClipModel(**kwargs)
    assign_clip_weights(model, read_state_dict(weights_path), weights_path)
    return LoadedBackbone(model=model, model_type=MODEL_TYPE, preprocessor=preprocessor,
                          tokenizer=tokenizer, config=kwargs)


def load_clip(path) -> LoadedBackbone:
    """Loads CLIP from a Hugging Face ``CLIPModel`` directory or a tfcaption model dir.

    Returns a :class:`LoadedBackbone` with ``model`` a :class:`ClipModel`,
    ``model_type`` "clip", ``preprocessor`` ``ImagePreprocessor("clip", size)``,
    ``tokenizer`` a :class:`ClipTokenizer` (use ``tokenizer.pack(texts,
    config["text_max_sequence_length"])`` for model input) and ``config`` the
    ``ClipModel`` arguments.
    """
    path = local_checkpoint(path, "clip")  # a local path or hf:ORG/NAME
    if not os.path.isdir(path):
        raise FileNotFoundError(f"CLIP checkpoint directory not found: {path}")
    if is_model_dir(path):
        return load_backbone_dir(path, MODEL_TYPE, ClipModel, _model_dir_tokenizer)
    return _load_hf_dir(path)


def save_clip(loaded: LoadedBackbone, out_dir) -> str:
    """Writes ``loaded`` (from :func:`load_clip`) as a tfcaption model dir; returns its path."""
    if loaded.model_type != MODEL_TYPE or not isinstance(loaded.model, ClipModel):
        raise ValueError(f"save_clip() takes a loaded CLIP model, got model_type "
                         f"{loaded.model_type!r} ({type(loaded.model).__name__})")
    if loaded.tokenizer is None:
        raise ValueError("save_clip(): the loaded CLIP model has no tokenizer to save")
    return save_model_dir(out_dir, MODEL_TYPE, loaded.model, preprocessor=loaded.preprocessor,
                          config=loaded.config, write_extra=loaded.tokenizer.save_to_directory)
