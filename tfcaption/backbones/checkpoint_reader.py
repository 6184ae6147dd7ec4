"""Read PyTorch / safetensors checkpoints into ``{key: numpy array}`` without torch models."""

import logging
import os
import zipfile

from tfcaption.file_io import read_json


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json",
                "pytorch_model.bin", "pytorch_model.bin.index.json")
WRAPPERS = ("state_dict", "model", "model_state_dict")

logger = logging.getLogger(__name__)


def find_weights_file(model_dir):
    """The weights file of a Hugging Face checkpoint directory."""
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"checkpoint directory not found: {model_dir}")
    for name in WEIGHT_FILES:
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"{model_dir} has no weights: expected one of {', '.join(WEIGHT_FILES)}")


def _to_numpy(tensor):
    import torch

    if tensor.dtype in (torch.bfloat16, torch.float16):
        tensor = tensor.float()
    return tensor.detach().cpu().numpy()


def _is_torchscript(path):
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/", 1)[-1].startswith("code/") for name in archive.namelist())


def _read_torch(path):
    import torch

    if _is_torchscript(path):
        # TorchScript archives (e.g. the OpenAI CLIP releases) hold a scripted module;
        # torch.jit.load restores tensors and code without running pickled Python.
        state = torch.jit.load(path, map_location="cpu").state_dict()
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises UnpicklingError / RuntimeError variants
            raise ValueError(f"{path}: cannot be read as a PyTorch checkpoint with "
                             f"weights_only=True ({type(e).__name__}: {e})") from e
    for wrapper in WRAPPERS:
        if isinstance(state, dict) and wrapper in state and isinstance(state[wrapper], dict):
            others = sorted(str(key) for key in state if key != wrapper)
            logger.info("%s: reading the state dict under %r; other top-level entries "
                        "dropped: %s", path, wrapper, others)
            state = state[wrapper]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict (dict of tensors), got "
                         f"{type(state).__name__}")
    dropped = sorted(str(key) for key, value in state.items() if not hasattr(value, "detach"))
    if dropped:
        logger.info("%s: non-tensor entries dropped: %s", path, dropped)
    return {key: _to_numpy(value) for key, value in state.items()
            if hasattr(value, "detach")}


def _read_safetensors(path):
    from safetensors.torch import load_file

    return {key: _to_numpy(value) for key, value in load_file(path).items()}


def _read_index(path):
    index = read_json(path)
    if "weight_map" not in index:
        raise ValueError(f"{path}: missing key 'weight_map'")
    folder = os.path.dirname(path)
    state, origin = {}, {}
    for shard in sorted(set(index["weight_map"].values())):
        for key, value in read_state_dict(os.path.join(folder, shard)).items():
            if key in state:
                raise ValueError(f"{path}: key {key!r} is in two shards: {origin[key]} "
                                 f"and {shard}")
            state[key], origin[key] = value, shard
    return state


def read_state_dict(path) -> dict:
    """Reads a checkpoint file (or HF directory) into ``{key: float32/int numpy array}``.

    Accepts ``*.safetensors``, PyTorch pickles (loaded with ``weights_only=True``),
    TorchScript archives and sharded ``*.index.json`` checkpoints.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = find_weights_file(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.endswith(".index.json"):
        return _read_index(path)
    if path.endswith(".safetensors"):
        return _read_safetensors(path)
    return _read_torch(path)


def strip_prefix(state, prefix, source="checkpoint"):
    """Drops ``prefix`` from keys that carry it; keys without it are kept as they are.

    Raises ``ValueError`` when a key is held both with and without ``prefix``.
    """
    out = {}
    for key, value in state.items():
        short = key[len(prefix):] if key.startswith(prefix) else key
        if short in out:
            raise ValueError(f"{source}: holds {short!r} both with and without the "
                             f"{prefix!r} prefix")
        out[short] = value
    return out
