"""CLIP ViT-B/32 image encoding at the real size (batch 32, 224x224, float32 on CPU):
tfcaption's ``encode_image`` as the captioner runs it (one XLA-compiled ``tf.function``) vs
Hugging Face ``CLIPModel.get_image_features`` under ``torch.inference_mode()`` (SDPA
attention). With ``bench/run.py --device=gpu`` both run on the GPU in bfloat16 mixed
precision (the global Keras policy; ``torch.autocast`` for the reference).

    python bench/clip_encode.py [--runs=5] [--smoke]

Both sides hold the same random weights: a Hugging Face ``CLIPModel`` at ViT-B/32 size (with
a real-size 49,408-token vocabulary) is saved as a Hugging Face directory and loaded with
``load_clip``, as a downloaded checkpoint would be. Both encode the same images (NHWC for
tfcaption, NCHW for PyTorch); the check is the largest absolute embedding difference.
``--smoke`` builds a tiny CLIP instead (``sizes.py``; the same vocabulary).
"""

import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipcap_pair  # noqa: E402,F401  (puts unitest/ on sys.path)
import harness  # noqa: E402

BATCH = 32
TARGET = 0.8


def vit_flops(config, batch=BATCH, channels=3):
    """Forward FLOPs (2 x multiply-adds) of the CLIP ViT image tower + visual projection of
    ``config`` (a ``CLIPConfig``): :func:`vision_flops` and the projection of the class
    token, ``width * projection`` per image. ViT-B/32 at 224 px: 49 patches, 50 tokens,
    about 4.4 G multiply-adds per image."""
    vision = config.vision_config
    return (vision_flops(vision, batch, channels)
            + 2 * batch * vision.hidden_size * config.projection_dim)


def vision_flops(vision, batch, channels=3):
    """Forward FLOPs (2 x multiply-adds) of a ViT of ``vision`` (a CLIP vision or ViT
    config). Per image, with ``P = (image_size / patch)^2`` patches and ``N = P + 1`` tokens
    (the class token): the patch embedding ``P * (channels * patch^2) * width``; per layer
    the q/k/v/out projections ``4 N width^2``, the attention scores and weighted sum
    ``2 N^2 width``, the MLP ``2 N width mlp``. LayerNorms, softmax and activations are
    left out."""
    image_size, patch, width = vision.image_size, vision.patch_size, vision.hidden_size
    layers, mlp = vision.num_hidden_layers, vision.intermediate_size
    patches = (image_size // patch) ** 2
    tokens = patches + 1
    per_layer = 4 * tokens * width * width + 2 * tokens * tokens * width + 2 * tokens * width * mlp
    return 2 * batch * (patches * channels * patch * patch * width + layers * per_layer)


def images(size, batch=BATCH, seed=0):
    """CLIP-preprocessed-like float images ``[B, H, W, 3]`` (standard normal)."""
    return np.random.default_rng(seed).normal(size=(batch, size, size, 3)).astype(np.float32)


def hf_clip_dir(ctx, seed=0):
    """A random Hugging Face ``CLIPModel`` at ``ctx.sizes`` (ViT-B/32, or a smoke run's tiny
    one; CLIP's real 49,408-token vocabulary and 77 text positions either way; eval mode,
    SDPA attention) and the Hugging Face directory it was saved to."""
    import torch
    import transformers
    from test_clip_loader import perturb, write_hf_dir, write_real_size_vocab

    tok_dir = os.path.dirname(ctx.path("clip_tok", "vocab.json"))
    write_real_size_vocab(tok_dir)
    torch.manual_seed(seed)
    sizes = ctx.sizes
    # eos_token_id 2 as in openai/clip-vit-base-patch32
    config = transformers.CLIPConfig(
        text_config=dict(sizes.clip_text, bos_token_id=0, eos_token_id=2, pad_token_id=1),
        vision_config=sizes.clip_vision, projection_dim=sizes.prefix_dim)
    hf = transformers.CLIPModel(config)
    hf.set_attn_implementation("sdpa")
    hf.eval()
    perturb(hf, seed)
    vision = config.vision_config
    tokens = {"text": config.text_config.max_position_embeddings,
              "vision": (vision.image_size // vision.patch_size) ** 2 + 1}
    buffers = {f"{tower}_model.embeddings.position_ids": torch.arange(n)[None]
               for tower, n in tokens.items()}
    path = write_hf_dir(os.path.dirname(ctx.path("clip_hf", "config.json")), hf, tok_dir,
                        extra_state=buffers, image_size=vision.image_size)
    return hf, path


def run(ctx):
    import tensorflow as tf
    import torch

    from tfcaption.backbones.clip_loader import load_clip
    from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner

    hf, path = hf_clip_dir(ctx)
    hf.to(ctx.torch_device)
    loaded = load_clip(path)
    for directory in (path, os.path.dirname(ctx.path("clip_tok", "vocab.json"))):
        shutil.rmtree(directory, ignore_errors=True)  # real size: ~600 MB, now loaded
    # The package's image-encoding path: ClipCapCaptioner.encode_images, a
    # tf.function(encode_image, jit_compile=True) built once and reused (only the image
    # encoder is needed for it, so no ClipCap model or tokenizer here).
    captioner = ClipCapCaptioner(None, None, image_encoder=loaded, jit_compile=True)

    image_size = hf.config.vision_config.image_size
    x = images(image_size)
    ours_input = tf.constant(x)
    torch_input = torch.from_numpy(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))))
    torch_input = torch_input.to(ctx.torch_device)

    def ours_fn():
        return captioner.encode_images(ours_input)

    def reference_fn():
        with torch.inference_mode(), ctx.autocast():
            return hf.get_image_features(pixel_values=torch_input).pooler_output

    ours, ours_out = ctx.time(ours_fn, sync=lambda t: t.numpy())
    ref, ref_out = ctx.time(reference_fn, sync=lambda t: t.float().cpu().numpy())
    traces = captioner._encode.experimental_get_tracing_count()
    ours_out, ref_out = ours_out.numpy(), ref_out.float().cpu().numpy()
    diff = float(np.abs(ours_out - ref_out).max())
    scale = float(np.abs(ref_out).max())
    return [harness.row(
        "clip_encode_b32", f"{ctx.sizes.clip_label} image encoding, batch {BATCH}, "
        f"{image_size} px, {ctx.precision}, vs HF get_image_features (SDPA)", ours, ref,
        target=TARGET, items=BATCH, unit="images",
        checks={"max abs diff": f"{diff:.1e} (max |embedding| {scale:.2f})",
                "traces": traces},
        notes="Ours: ClipCapCaptioner.encode_images (tf.function(encode_image, "
              "jit_compile=True)) on a CLIP loaded with load_clip from the saved HF "
              "directory; reference: CLIPModel.get_image_features under inference_mode.",
        flops=vit_flops(hf.config))]


if __name__ == "__main__":
    harness.standalone(run)
