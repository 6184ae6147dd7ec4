"""A released Hugging Face Pix2Struct dir -> a :class:`Pix2StructCaptioner`: the weights
(:mod:`pix2struct_checkpoint`), the patch settings of its image processor and its
SentencePiece tokenizer (``spiece.model``)."""

import json
import os

from tfcaption.data.patch_preprocessor import PatchPreprocessor
from tfcaption.data.pix2struct_patches import DEFAULT_MAX_PATCHES, DEFAULT_PATCH_SIZE

# transformers < 5 and the hub's repos write the first; transformers 5's processors the second
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def _processor_settings(path):
    for name in PROCESSOR_FILES:
        file = os.path.join(path, name)
        if os.path.isfile(file):
            with open(file, encoding="utf-8") as f:
                try:
                    settings = json.load(f)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{file}: not JSON ({error})") from None
            return file, settings.get("image_processor", settings)
    return None, {}


def read_patch_processor(path) -> PatchPreprocessor:
    """The dir's image processor as a :class:`PatchPreprocessor` (Hugging Face's defaults,
    2048 patches of 16 px, when it has no processor file); settings it cannot reproduce
    are a ``ValueError`` naming the file and key."""
    file, settings = _processor_settings(os.fspath(path))
    if settings.get("is_vqa"):
        raise ValueError(f"{file}: is_vqa=true (the question is rendered onto the image); "
                         f"captioning checkpoints only")
    patch = settings.get("patch_size") or {}
    height = int(patch.get("height", DEFAULT_PATCH_SIZE))
    width = int(patch.get("width", DEFAULT_PATCH_SIZE))
    if height != width:
        raise ValueError(f"{file}: patch_size {patch} is not square (square patches only)")
    return PatchPreprocessor(max_patches=int(settings.get("max_patches", DEFAULT_MAX_PATCHES)),
                             patch_size=height,
                             normalize=bool(settings.get("do_normalize", True)))


def convert_pix2struct(path, jit_compile=True):
    """A Pix2Struct checkpoint dir (``config.json``, weights, a processor config and
    ``spiece.model``) -> a :class:`Pix2StructCaptioner`; errors name the file."""
    from tfcaption.models.pix2struct.pix2struct_captioner import Pix2StructCaptioner
    from tfcaption.models.pix2struct.pix2struct_checkpoint import load_pix2struct_checkpoint
    from tfcaption.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

    path = os.fspath(path)
    preprocessor = read_patch_processor(path)
    model, tokens = load_pix2struct_checkpoint(path)
    tokenizer = SentencePieceTokenizer.load(path)
    check_fits(model, tokenizer, preprocessor, path)
    return Pix2StructCaptioner(model, tokenizer, tokens, preprocessor, jit_compile=jit_compile)


def check_fits(model, tokenizer, preprocessor, source):
    """``ValueError`` naming ``source`` when the tokenizer's ids or the patches do not fit
    the model."""
    size = model.decoder.vocabulary_size
    if tokenizer.vocabulary_size > size:
        raise ValueError(f"{source}: the tokenizer's {tokenizer.vocabulary_size} ids do not "
                         f"fit the model's vocabulary of {size}")
    depth = preprocessor.output_shape[-1] - 2
    if depth != model.encoder.patch_dim:
        raise ValueError(f"{source}: patches of {preprocessor.patch_size} px have {depth} "
                         f"values but the encoder projects {model.encoder.patch_dim}")
    grid = model.encoder.max_positions
    if preprocessor.max_patches > grid * grid or preprocessor.max_patches < 1:
        raise ValueError(f"{source}: max_patches {preprocessor.max_patches} does not fit "
                         f"the encoder's {grid} row/column positions")
