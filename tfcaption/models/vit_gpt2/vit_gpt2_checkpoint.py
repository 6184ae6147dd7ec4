"""Hugging Face VisionEncoderDecoder (ViT encoder, GPT-2 decoder) checkpoint dirs ->
:class:`VitGpt2Model` with its special tokens.

A dir holds ``config.json`` (``model_type: "vision-encoder-decoder"`` with ``encoder`` and
``decoder`` sub-configs), ``model.safetensors`` or ``pytorch_model.bin`` (or their sharded
index), and usually ``preprocessor_config.json`` and the GPT-2 tokenizer files. Keys:
``encoder.*`` (ViT, :mod:`tfcaption.backbones.vit_weights`), ``decoder.transformer.*`` and
``decoder.lm_head.weight`` (GPT-2 with cross-attention, :mod:`tfcaption.backbones.
gpt2_weights`), ``enc_to_dec_proj.{weight,bias}`` when the widths differ. Every key is placed
or named in the error.
"""

import dataclasses
import json
import os

from keras_hub.models import ViTBackbone

from tfcaption.backbones import gpt2_weights, vit_weights
from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.checkpoint_reader import find_weights_file, read_state_dict
from tfcaption.backbones.gpt2_cross_backbone import GPT2CrossBackbone
from tfcaption.backbones.weight_map import WeightMap
from tfcaption.models.vit_gpt2.vit_gpt2_model import VitGpt2Model

MODEL_TYPE = "vision-encoder-decoder"
PROJECTION = "enc_to_dec_proj"


@dataclasses.dataclass(frozen=True)
class SpecialTokens:
    """The decoder's token ids: generation starts from ``decoder_start``, stops at
    ``eos``; ``pad`` fills labels (all 50256 for ``nlpconnect/vit-gpt2-image-captioning``)."""
    decoder_start: int
    eos: int
    pad: int


def read_config(path):
    """``(config dict, encoder kwargs, decoder kwargs, SpecialTokens)`` of a checkpoint dir;
    ``ValueError`` naming the file and key for anything else than ViT + GPT-2."""
    config_file = os.path.join(os.fspath(path), "config.json")
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"not a Hugging Face checkpoint dir: missing {config_file}")
    with open(config_file, encoding="utf-8") as f:
        try:
            hf = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{config_file}: not JSON ({error})") from None
    if hf.get("model_type") != MODEL_TYPE:
        raise ValueError(f"{config_file}: model_type is {hf.get('model_type')!r}, expected "
                         f"{MODEL_TYPE!r}")
    for part in ("encoder", "decoder"):
        if not isinstance(hf.get(part), dict):
            raise ValueError(f"{config_file}: missing the {part!r} sub-config")
    encoder = vit_weights.config_from_hf(hf["encoder"], f"{config_file} (encoder)")
    decoder = gpt2_weights.config_from_hf(hf["decoder"], f"{config_file} (decoder)",
                                          cross_attention=True)
    dec = hf["decoder"]

    def token(name, *fallbacks):
        for source in (hf, dec):
            for key in (name,) + fallbacks:
                if source.get(key) is not None:
                    return int(source[key])
        raise ValueError(f"{config_file}: no {name} in the config or its decoder sub-config")

    eos = token("eos_token_id")
    pad = hf.get("pad_token_id", dec.get("pad_token_id"))
    tokens = SpecialTokens(decoder_start=token("decoder_start_token_id", "bos_token_id"),
                           eos=eos, pad=eos if pad is None else int(pad))
    return hf, encoder, decoder, tokens


def build_model(encoder_config, decoder_config, decoder_start_token_id):
    """A :class:`VitGpt2Model` of these sizes (random weights; dropout off)."""
    decoder_config = {**decoder_config, "dropout": 0.0}
    return VitGpt2Model(ViTBackbone(**{**encoder_config, "dropout_rate": 0.0,
                                       "attention_dropout": 0.0}),
                        GPT2CrossBackbone(**decoder_config), decoder_start_token_id)


def load_vision_encoder_decoder(path):
    """A checkpoint dir -> ``(VitGpt2Model, SpecialTokens)``. Raises
    :class:`CheckpointMismatchError` naming every missing, unexpected or mis-shaped key."""
    path = os.fspath(path)
    _, encoder_config, decoder_config, tokens = read_config(path)
    weights_file = find_weights_file(path)
    state = read_state_dict(weights_file)
    model = build_model(encoder_config, decoder_config, tokens.decoder_start)
    parts = {"encoder.": {}, "decoder.": {}, PROJECTION + ".": {}}
    unexpected = []
    for key, value in state.items():
        prefix = next((p for p in parts if key.startswith(p)), None)
        (parts[prefix].__setitem__(key, value) if prefix else unexpected.append(key))
    if unexpected:
        raise CheckpointMismatchError(weights_file, unexpected=sorted(unexpected))
    vit_weights.assign_weights(model.encoder, parts["encoder."], "encoder.", weights_file)
    gpt2_weights.assign_weights(model.decoder, parts["decoder."], "decoder.transformer.",
                                weights_file)
    projection = parts[PROJECTION + "."]
    if model.projection is not None or projection:
        if model.projection is None:
            raise CheckpointMismatchError(weights_file, unexpected=sorted(projection))
        wmap = WeightMap(projection, weights_file)
        wmap.add_dense(model.projection, PROJECTION)
        wmap.apply(model=model.projection)
    return model, tokens


# preprocessor_config.json mean/std -> the ``imagenet`` policy mode computing the same
_NORMALISATIONS = {((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)): "tf",
                   ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)): "torch"}
_BILINEAR = 2  # PIL.Image.BILINEAR


def read_image_processor(path, image_size):
    """``preprocessor_config.json`` of a checkpoint dir -> an ``ImagePreprocessor`` that
    computes the same (bilinear resize, rescale 1/255, mean/std); anything it cannot
    reproduce is a ``ValueError`` naming the file and key."""
    from tfcaption.data.image_preprocessor import ImagePreprocessor

    config_file = os.path.join(os.fspath(path), "preprocessor_config.json")
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"{path}: missing preprocessor_config.json (the image "
                                f"processor's settings)")
    with open(config_file, encoding="utf-8") as f:
        hf = json.load(f)
    size = hf.get("size", image_size)
    if isinstance(size, dict):  # {"height", "width"}: a square resize only
        size = size.get("height") if size.get("height") == size.get("width") else None
    problems = []
    if size != image_size:
        problems.append(f"size={hf.get('size')!r} (the encoder takes {image_size} px squares)")
    if hf.get("resample", _BILINEAR) != _BILINEAR:
        problems.append(f"resample={hf['resample']!r} (bilinear, 2, only)")
    if not hf.get("do_resize", True) or not hf.get("do_rescale", True) or \
            abs(float(hf.get("rescale_factor", 1 / 255)) - 1 / 255) > 1e-9:
        problems.append("do_resize/do_rescale/rescale_factor other than resize and 1/255")
    normalise = (tuple(round(float(x), 3) for x in hf.get("image_mean", (0.5,) * 3)),
                 tuple(round(float(x), 3) for x in hf.get("image_std", (0.5,) * 3)))
    mode = _NORMALISATIONS.get(normalise) if hf.get("do_normalize", True) else None
    if mode is None:
        problems.append(f"do_normalize={hf.get('do_normalize', True)}, image_mean / image_std "
                        f"{normalise} (0.5 or the ImageNet mean/std only)")
    if problems:
        raise ValueError(f"{config_file}: unsupported image processing: {'; '.join(problems)}")
    return ImagePreprocessor("imagenet", image_size, imagenet_mode=mode)


def convert_vision_encoder_decoder(path, jit_compile=True):
    """A Hugging Face VisionEncoderDecoder dir (weights, config, image processor, GPT-2
    tokenizer files) -> a :class:`~tfcaption.models.vit_gpt2.vit_gpt2_captioner.
    VitGpt2Captioner`."""
    from tfcaption.backbones.model_dir import check_tokenizer_fits
    from tfcaption.models.vit_gpt2.vit_gpt2_captioner import VitGpt2Captioner
    from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer

    model, tokens = load_vision_encoder_decoder(path)
    preprocessor = read_image_processor(path, model.image_shape[0])
    tokenizer = check_tokenizer_fits(load_gpt2_tokenizer(path),
                                     model.decoder.vocabulary_size, path)
    return VitGpt2Captioner(model, tokenizer, tokens, preprocessor, jit_compile=jit_compile)


def is_vision_encoder_decoder_dir(path) -> bool:
    """Whether ``path`` is a dir whose ``config.json`` says ``vision-encoder-decoder``."""
    config_file = os.path.join(os.fspath(path), "config.json")
    if not os.path.isfile(config_file):
        return False
    try:
        with open(config_file, encoding="utf-8") as f:
            return json.load(f).get("model_type") == MODEL_TYPE
    except (OSError, ValueError, AttributeError):
        return False
