"""Hugging Face model ids: ``hf:ORG/NAME`` (or ``hf:ORG/NAME@REVISION``) wherever a model
dir or checkpoint is taken.

Files come through ``huggingface_hub`` (its cache under ``HF_HOME``, ``HF_ENDPOINT`` for a
mirror, ``HF_HUB_OFFLINE=1`` for cached files only). A checkpoint that needs converting
(a VisionEncoderDecoder, to a ``vit_gpt2`` model dir) is converted once and kept in
tfcaption's own cache, ``$TFCAPTION_CACHE`` (default ``~/.cache/tfcaption``), under
``hf/ORG--NAME/COMMIT``: keyed by the repository and the commit the revision resolved to,
so a new upstream commit is converted again and an old one is never reused by mistake.
"""

import json
import os

HF_SCHEME = "hf:"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# What each kind of checkpoint needs besides its weights.
FILES = {
    "vision-encoder-decoder": ("config.json", "preprocessor_config.json", "vocab.json",
                               "merges.txt"),
    "pix2struct": ("config.json", "preprocessor_config.json", "spiece.model"),
    "gpt2": ("config.json", "vocab.json", "merges.txt"),
    "roberta": ("config.json", "vocab.json", "merges.txt"),
    "clip": ("config.json", "vocab.json", "merges.txt"),
}


def is_hf_id(spec) -> bool:
    return isinstance(spec, str) and spec.startswith(HF_SCHEME)


def parse_hf_id(spec):
    """``"hf:ORG/NAME[@REVISION]"`` -> ``(repo_id, revision or None)``."""
    body = spec[len(HF_SCHEME):]
    repo_id, _, revision = body.partition("@")
    parts = repo_id.split("/")
    if not 1 <= len(parts) <= 2 or not all(parts) or any(" " in p for p in parts):
        raise ValueError(f"{spec}: a Hugging Face id is hf:ORG/NAME or hf:ORG/NAME@REVISION")
    return repo_id, (revision or None)


def tfcaption_cache() -> str:
    return os.environ.get("TFCAPTION_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "tfcaption")


def _hub_error(spec, error):
    """A huggingface_hub exception -> our one-line error naming ``spec``."""
    from huggingface_hub import constants, errors

    if isinstance(error, errors.RepositoryNotFoundError):
        return ValueError(f"{spec}: no such model repository on {constants.ENDPOINT} (or it "
                          f"is private: log in with `hf auth login` or set HF_TOKEN)")
    if isinstance(error, errors.RevisionNotFoundError):
        return ValueError(f"{spec}: the repository has no such revision")
    if isinstance(error, errors.LocalEntryNotFoundError):
        mode = ("offline mode is on (HF_HUB_OFFLINE)" if constants.HF_HUB_OFFLINE
                else f"{constants.ENDPOINT} cannot be reached")
        return FileNotFoundError(f"{spec}: not in the Hugging Face cache "
                                 f"({constants.HF_HUB_CACHE}) and {mode}")
    return OSError(f"{spec}: download failed: {error}")


def _download(spec, filename, optional=False):
    """One file of ``spec`` -> its local path (None for a missing ``optional`` file)."""
    from huggingface_hub import errors, hf_hub_download

    repo_id, revision = parse_hf_id(spec)
    try:
        return hf_hub_download(repo_id, filename, revision=revision)
    except errors.LocalEntryNotFoundError as error:  # offline or unreachable, not cached
        if optional:
            return None
        raise _hub_error(spec, error) from None
    except errors.EntryNotFoundError:  # the hub answered: no such file
        if optional:
            return None
        raise FileNotFoundError(f"{spec}: the repository has no {filename}") from None
    except (errors.HfHubHTTPError, OSError) as error:
        raise _hub_error(spec, error) from None


def _snapshot_commit(path):
    """The commit of a file in huggingface_hub's cache (``.../snapshots/COMMIT/file``)."""
    return os.path.basename(os.path.dirname(os.path.abspath(path)))


def checkpoint_dir(spec, kind=None):
    """Downloads what a checkpoint of ``kind`` (its ``config.json`` ``model_type`` when
    None) needs -> ``(local snapshot dir, model_type, commit)``; the weights are the first
    of ``model.safetensors`` and ``pytorch_model.bin`` the repository has."""
    config = _download(spec, "config.json")
    with open(config, encoding="utf-8") as f:
        model_type = json.load(f).get("model_type")
    kind = kind or model_type
    if kind not in FILES:
        raise ValueError(f"{spec}: model_type {model_type!r} is not one tfcaption reads from "
                         f"the hub ({', '.join(sorted(FILES))})")
    for filename in FILES[kind][1:]:
        _download(spec, filename)
    if not any(_download(spec, name, optional=True) for name in WEIGHT_FILES):
        raise FileNotFoundError(f"{spec}: the repository has neither "
                                f"{' nor '.join(WEIGHT_FILES)}")
    return os.path.dirname(config), model_type, _snapshot_commit(config)


def local_checkpoint(path, kind):
    """``path`` as it is, or a Hugging Face id downloaded as a checkpoint of ``kind``
    (``"gpt2"``, ``"roberta"``, ``"clip"``) -> its local snapshot dir."""
    return checkpoint_dir(path, kind)[0] if is_hf_id(path) else os.fspath(path)


def captioner_dir(spec) -> str:
    """A captioner checkpoint on the hub -> a local tfcaption model dir, converted once
    per repository commit and kept in :func:`tfcaption_cache`."""
    repo_id, _ = parse_hf_id(spec)
    config = _download(spec, "config.json")  # resolves the revision (offline: the cache)
    out = os.path.join(tfcaption_cache(), "hf", repo_id.replace("/", "--"),
                       _snapshot_commit(config))
    if os.path.isfile(os.path.join(out, "config.json")):
        return out  # converted before (model dirs are written atomically)
    snapshot, model_type, _ = checkpoint_dir(spec)
    from tfcaption.models.families import family_of_checkpoint

    family = family_of_checkpoint(model_type, spec)
    captioner = family.convert(model_type, snapshot, jit_compile=False)
    return family.save(captioner, out, {"converted_from": spec})
