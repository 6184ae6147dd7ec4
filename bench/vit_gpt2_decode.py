"""ViT-GPT2 captioning at the real size of ``nlpconnect/vit-gpt2-image-captioning`` (ViT-B/16
at 224 px, GPT-2 124M with cross-attention): tfcaption's image -> caption ids (the ViT and
the cached decoding, each XLA-compiled, as the captioner runs them) vs Hugging Face
``VisionEncoderDecoderModel.generate`` on the same images.

    python bench/vit_gpt2_decode.py [--runs=5] [--smoke] [--only=vit_gpt2_greedy_b1,...]

Both sides hold the same random weights: a transformers ``VisionEncoderDecoderModel`` of the
released structure is saved in the released layout and converted by
``load_vision_encoder_decoder``, as a downloaded checkpoint would be. Every caption runs the
model card's full length (16 positions: the start token and 15 generated; eos is an ordinary
token that does not stop a caption) on both sides, so both do the same work; the tokens are
compared. ``--smoke`` builds a tiny
ViT and GPT-2 instead (``sizes.py``; their widths differ, so ``enc_to_dec_proj`` is used).
"""

import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipcap_pair  # noqa: E402  (puts unitest/ on sys.path)
import harness  # noqa: E402

MAX_LENGTH = 15  # generated tokens: the card's max_length 16 less the start token
END = 50256
ROWS = (("greedy", 1, 1), ("greedy", 16, 1), ("beam", 16, 4))  # method, batch, beams
TARGET = 0.6


def reference_model(ctx, seed=0):
    """A random ``VisionEncoderDecoderModel`` at ``ctx.sizes`` (eval mode, SDPA attention)
    and the directory it was saved to."""
    import torch
    from transformers import (GPT2Config, ViTConfig, VisionEncoderDecoderConfig,
                              VisionEncoderDecoderModel)

    torch.manual_seed(seed)
    decoder = GPT2Config(**ctx.sizes.gpt2, add_cross_attention=True, is_decoder=True,
                         bos_token_id=END, eos_token_id=END, pad_token_id=END,
                         decoder_start_token_id=END)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        ViTConfig(**ctx.sizes.vit, layer_norm_eps=1e-12, qkv_bias=True), decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = END
    model = VisionEncoderDecoderModel(config)
    model.set_attn_implementation("sdpa")
    path = os.path.dirname(ctx.path("vit_gpt2_hf", "config.json"))
    model.save_pretrained(path)
    return model.eval(), path


def images(size, batch, seed=0):
    """ViT-preprocessed-like images ``[B, H, W, 3]`` in [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1, 1, (batch, size, size, 3)).astype("float32")


def flops(config, batch, beams):
    """Forward FLOPs (2 x multiply-adds) of captioning ``batch`` images: the ViT once per
    image (``clip_encode.vision_flops``), each block's cross-attention keys and values once
    per image (``4 S h^2`` for ``S`` encoder states), then per generated token and beam
    GPT-2 (``clipcap_pair.gpt2_flops_per_token``) plus the cross-attention query and output
    projections and its scores and weighted sum (``4 h^2 + 2 h S`` per block)."""
    from clip_encode import vision_flops

    vision, gpt2 = config.encoder, config.decoder
    states = (vision.image_size // vision.patch_size) ** 2 + 1
    hidden, layers = gpt2.n_embd, gpt2.n_layer
    encoder = vision_flops(vision, batch) + 2 * batch * layers * 2 * states * hidden * hidden
    token = (clipcap_pair.gpt2_flops_per_token(gpt2, 1 + MAX_LENGTH // 2)
             + 2 * layers * (2 * hidden * hidden + hidden * states))
    return encoder + batch * beams * MAX_LENGTH * token


def agreement(ours, reference):
    ours, reference = np.asarray(ours), np.asarray(reference)
    return round(float(np.mean(ours == reference)), 3)


def run(ctx, only=None):
    import tensorflow as tf
    import torch

    from tfcaption.models.vit_gpt2.vit_gpt2_checkpoint import load_vision_encoder_decoder

    reference, path = reference_model(ctx)
    reference.to(ctx.torch_device)
    model, tokens = load_vision_encoder_decoder(path)
    shutil.rmtree(path, ignore_errors=True)  # real size: ~1 GB, now loaded
    size = reference.config.encoder.image_size
    # The captioner's two compiled functions: image -> encoder states, states -> ids.
    encode = tf.function(lambda x: model.encode(x), jit_compile=True)
    rows = []
    for method, batch, beams in ROWS:
        name = f"vit_gpt2_{method}{beams if method == 'beam' else ''}_b{batch}"
        if only is not None and name not in only:
            continue
        x = images(size, batch)
        config = {"method": method, "max_length": MAX_LENGTH, "stop_token_ids": []}
        if method == "beam":
            config["beam_size"] = beams
        decode = tf.function(
            lambda states, seed, config=config: model.generate_ids(
                states, tokens.decoder_start, config, seed=seed), jit_compile=True)
        ours_input, seed = tf.constant(x), tf.constant([0, 0], tf.int32)
        pixels = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        pixels = pixels.to(ctx.torch_device)

        def ours_fn():
            return decode(encode(ours_input), seed).token_ids.numpy()[:, 0]

        def reference_fn():
            with torch.inference_mode(), ctx.autocast():
                out = reference.generate(  # eos None: an ordinary token, no stop
                    pixel_values=pixels, max_length=1 + MAX_LENGTH, eos_token_id=None,
                    num_beams=beams, do_sample=False, length_penalty=1.0, use_cache=True)
            return out[:, 1:].cpu().numpy()

        ours, ours_ids = ctx.time(ours_fn)
        ref, ref_ids = ctx.time(reference_fn)
        work = "greedy" if method == "greedy" else f"beam {beams}"
        rows.append(harness.row(
            name, f"ViT-GPT2 ({ctx.sizes.vit_gpt2_label}) image -> {MAX_LENGTH} tokens, "
            f"{work}, batch {batch}, vs HF VisionEncoderDecoder generate (cache)", ours, ref,
            target=TARGET, items=batch,
            checks={"token agreement": agreement(ours_ids, ref_ids)},
            flops=flops(reference.config, batch, beams)))
    return rows


def only_option(parser):
    parser.add_argument("--only", default=None, help="comma-separated row names")
    return lambda args: {"only": None if args.only is None else args.only.split(",")}


if __name__ == "__main__":
    harness.standalone(run, only_option)
