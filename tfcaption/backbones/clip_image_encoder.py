"""Loads any CLIP image tower a captioner can be prefixed with, from a path of any kind."""

import os

from tfcaption.file_io import read_json
from tfcaption.backbones.clip_loader import load_clip, save_clip
from tfcaption.backbones.clip_resnet_loader import load_clip_resnet, save_clip_resnet
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.backbones.model_dir import CONFIG_FILE, TYPE_KEY, is_model_dir

LOADERS = {"clip": (load_clip, save_clip), "clip_resnet": (load_clip_resnet, save_clip_resnet)}


def load_clip_image_encoder(path) -> LoadedBackbone:
    """A CLIP whose model has ``encode_image``: a Hugging Face CLIP dir or a ``clip``
    model dir (:func:`load_clip`), an OpenAI CLIP ResNet ``.pt`` or a ``clip_resnet``
    model dir (:func:`load_clip_resnet`)."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return load_clip_resnet(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"CLIP checkpoint not found: {path} (expected a Hugging Face "
                                f"CLIP dir, an OpenAI CLIP ResNet .pt or a tfcaption model dir)")
    if is_model_dir(path):
        model_type = read_json(os.path.join(path, CONFIG_FILE))[TYPE_KEY]
        if model_type not in LOADERS:
            raise ValueError(f"{path}: model type {model_type!r} is not a CLIP image encoder "
                             f"(one of {sorted(LOADERS)})")
        return LOADERS[model_type][0](path)
    return load_clip(path)


def save_clip_image_encoder(loaded: LoadedBackbone, out_dir) -> str:
    """Writes a CLIP image encoder from :func:`load_clip_image_encoder` as a model dir."""
    if loaded.model_type not in LOADERS:
        raise ValueError(f"cannot save an image encoder of type {loaded.model_type!r}; "
                         f"known: {sorted(LOADERS)}")
    return LOADERS[loaded.model_type][1](loaded, out_dir)
