"""Builds a :class:`ClipCapModel` from the ``model`` section of an hparams file."""

from tfcaption.backbones.gpt2_loader import build_gpt2_backbone, load_gpt2
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.models.clipcap.clipcap_model import ClipCapModel
from tfcaption.models.clipcap.mlp_mapper import MlpMapper
from tfcaption.models.clipcap.transformer_mapper import TransformerMapper

MAPPING_TYPES = ("mlp", "transformer")
MODEL_KEYS = ("type", "mapping_type", "prefix_length", "clip_length", "num_layers",
              "normalize_prefix", "only_prefix", "clip", "gpt2")


def build_mapper(mapping_type, prefix_dim, embed_dim, prefix_length, clip_length=None,
                 num_layers=8, hidden_dim=None, num_heads=8):
    """``"mlp"`` -> :class:`MlpMapper` (``hidden_dim``, default official);
    ``"transformer"`` -> :class:`TransformerMapper` (``clip_length`` default
    ``prefix_length``, ``num_layers``, ``num_heads``)."""
    if mapping_type == "mlp":
        return MlpMapper(prefix_dim, embed_dim, prefix_length, hidden_dim=hidden_dim,
                         name="clip_project")
    if mapping_type == "transformer":
        return TransformerMapper(prefix_dim, embed_dim, prefix_length,
                                 clip_length or prefix_length, num_layers=num_layers,
                                 num_heads=num_heads, name="clip_project")
    raise ValueError(f"model.mapping_type {mapping_type!r} is not one of {MAPPING_TYPES}")


def load_or_build_gpt2(settings, vocabulary_size=None):
    """``model.gpt2``: ``{"path": dir_or_file}`` loads a checkpoint (with its tokenizer);
    otherwise the other keys are a GPT-2 config, randomly initialised with
    ``vocabulary_size`` ids. Returns a ``LoadedBackbone``."""
    settings = dict(settings)
    path = settings.pop("path", None)
    if path:
        return load_gpt2(path)
    if vocabulary_size is None:
        raise ValueError("model.gpt2 has no path: a vocabulary size (tokenizer) is needed to "
                         "build a GPT-2 from its config")
    config = dict(settings, vocabulary_size=int(vocabulary_size))
    return LoadedBackbone(model=build_gpt2_backbone(config), model_type="gpt2", config=config)


def build_clipcap(model_hparams, prefix_dim, gpt2, source="hparams"):
    """The ``model`` section + CLIP embedding size + a GPT-2 backbone -> ClipCapModel."""
    unknown = sorted(set(model_hparams) - set(MODEL_KEYS))
    if unknown:
        raise ValueError(f"{source}: unknown model setting(s) {unknown}; known: "
                         f"{list(MODEL_KEYS)}")
    m = model_hparams
    mapper = build_mapper(m.get("mapping_type", "mlp"), prefix_dim, gpt2.hidden_dim,
                          m["prefix_length"], m.get("clip_length"), m.get("num_layers", 8))
    return ClipCapModel(mapper, gpt2, normalize_prefix=m.get("normalize_prefix", False),
                        only_prefix=m.get("only_prefix", False), name="clipcap")
