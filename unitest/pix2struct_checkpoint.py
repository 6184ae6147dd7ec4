"""Random-weight Hugging Face Pix2Struct checkpoints in the released layout, every
parameter perturbed, and images through Hugging Face's processor (test helper)."""

import numpy as np
import torch
from PIL import Image
from transformers import Pix2StructConfig, Pix2StructForConditionalGeneration
from vit_gpt2_checkpoint import perturb_all

EOS = 1  # decoder_start = pad = 0, as in every released checkpoint


def tiny_config(vocab_size=40, hidden=32, layers=2, max_positions=64):
    text = dict(vocab_size=vocab_size, hidden_size=hidden, d_kv=hidden // 4, d_ff=48,
                num_layers=layers, num_heads=4, dropout_rate=0.0)
    vision = dict(hidden_size=hidden, patch_embed_hidden_size=768, d_ff=40,
                  d_kv=hidden // 4, num_hidden_layers=layers, num_attention_heads=4,
                  seq_len=max_positions, dropout_rate=0.0)
    return Pix2StructConfig(text_config=text, vision_config=vision)


def make_checkpoint(out_dir, seed=0, scale=0.2, **sizes):
    """Saves the checkpoint to ``out_dir`` (``save_pretrained``); returns the eval-mode
    transformers model."""
    torch.manual_seed(seed)
    model = perturb_all(Pix2StructForConditionalGeneration(tiny_config(**sizes)), scale)
    model.save_pretrained(out_dir)
    return model


def photo_like(height, width, seed):
    """A smooth random image with noise and edges, uint8 ``[H, W, 3]``."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([128 + 100 * np.sin(xs / (3 + 10 * rng.random()) + c) *
                     np.cos(ys / (3 + 10 * rng.random())) for c in range(3)], -1)
    base[ys > height // 2] *= 0.5
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def hf_patches(images, max_patches):
    """Images (uint8 arrays) -> Hugging Face's ``(flattened_patches, attention_mask)``."""
    from transformers.models.pix2struct.image_processing_pil_pix2struct import (
        Pix2StructImageProcessorPil)
    out = Pix2StructImageProcessorPil()(images=[Image.fromarray(x) for x in images],
                                        max_patches=max_patches, return_tensors="np")
    return out["flattened_patches"], out["attention_mask"]


def make_tiny_hf_pix2struct(out_dir, shapes_dir, seed=1, max_patches=24):
    """A tiny random-weight Pix2Struct dir in the released layout (config, weights,
    preprocessor_config.json, spiece.model trained on the shapes captions); returns it."""
    import json
    import os

    from tfcaption.data.captions_file import read_captions_jsonl
    from tfcaption.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer
    from tfcaption.tokenizers.sentencepiece_trainer import train_sentencepiece

    records = read_captions_jsonl(os.path.join(shapes_dir, "captions.jsonl"), "train")
    train_sentencepiece([c for r in records for c in r["captions"]], out_dir, vocab_size=80)
    vocab = SentencePieceTokenizer.load(out_dir).vocabulary_size
    make_checkpoint(out_dir, seed=seed, vocab_size=vocab)
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "Pix2StructImageProcessor", "do_normalize": True,
                   "do_convert_rgb": True, "max_patches": max_patches,
                   "patch_size": {"height": 16, "width": 16}, "is_vqa": False}, f)
    return out_dir


def make_tiny_pix2struct_dir(out_dir, shapes_dir, seed=1):
    """:func:`make_tiny_hf_pix2struct` converted by ``python -m tfcaption.convert``;
    returns the model dir."""
    import subprocess
    import sys

    from tiny_captioner import ROOT

    hf_dir = make_tiny_hf_pix2struct(out_dir + "_hf", shapes_dir, seed)
    done = subprocess.run([sys.executable, "-m", "tfcaption.convert", f"--checkpoint={hf_dir}",
                           f"--out={out_dir}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(f"converted {hf_dir}: Pix2Struct encoder 2 layers x 32"), \
        done.stdout
    return out_dir
