"""Random-weight Hugging Face VisionEncoderDecoder checkpoints (ViT + GPT-2 with
cross-attention) in the released layout, every parameter perturbed (test helper)."""

import torch
from transformers import (GPT2Config, ViTConfig, VisionEncoderDecoderConfig,
                          VisionEncoderDecoderModel)

TOKEN = 19  # bos = eos = pad = decoder_start, as 50256 in the released checkpoint


def perturb_all(model, scale=0.2):
    """Adds ``scale`` x N(0, 1) noise to every parameter (after ``torch.manual_seed``), so
    no zero bias or unit LayerNorm can hide a swapped or dropped weight; returns ``model``
    in eval mode."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    return model.eval()


def tiny_configs(decoder_width=24, image_size=32):
    encoder = ViTConfig(image_size=image_size, patch_size=8, hidden_size=16,
                        num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                        layer_norm_eps=1e-12)
    decoder = GPT2Config(vocab_size=20, n_positions=32, n_embd=decoder_width, n_layer=2,
                         n_head=2, add_cross_attention=True, is_decoder=True,
                         bos_token_id=TOKEN, eos_token_id=TOKEN, pad_token_id=TOKEN,
                         decoder_start_token_id=TOKEN)
    return encoder, decoder


def make_checkpoint(out_dir, seed=0, decoder_width=24, scale=0.2):
    """Saves the checkpoint to ``out_dir`` (``save_pretrained``); returns the eval-mode
    transformers model."""
    torch.manual_seed(seed)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        *tiny_configs(decoder_width))
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = TOKEN
    model = perturb_all(VisionEncoderDecoderModel(config), scale)
    model.save_pretrained(out_dir)
    return model


def make_tiny_hf_vit_gpt2(hf_dir, shapes_dir, seed=1):
    """A random-weight ViT-GPT2 checkpoint dir in the released layout: a GPT-2 BPE trained
    on the ``shapes`` captions, ``<|endoftext|>`` as bos = eos = pad = decoder start, a
    32 px ViT with the 0.5 mean/std image processor. Returns ``hf_dir``."""
    import json
    import os

    from tiny_captioner import shapes_train_captions

    from tfcaption.tokenizers.bpe_trainer import train_bpe

    hf_dir = str(hf_dir)
    train_bpe(shapes_train_captions(shapes_dir), hf_dir, vocab_size=300)
    vocab = json.load(open(os.path.join(hf_dir, "vocab.json"), encoding="utf-8"))
    end = vocab["<|endoftext|>"]
    torch.manual_seed(seed)
    encoder, decoder = tiny_configs()
    decoder.vocab_size = len(vocab)
    decoder.bos_token_id = decoder.eos_token_id = decoder.pad_token_id = end
    decoder.decoder_start_token_id = end
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = end
    VisionEncoderDecoderModel(config).eval().save_pretrained(hf_dir)
    with open(os.path.join(hf_dir, "preprocessor_config.json"), "w") as f:
        json.dump({"do_normalize": True, "do_resize": True, "image_mean": [0.5] * 3,
                   "image_std": [0.5] * 3, "resample": 2, "size": 32,
                   "feature_extractor_type": "ViTFeatureExtractor"}, f)
    return hf_dir


def make_tiny_vit_gpt2_dir(out_dir, shapes_dir, seed=1):
    """:func:`make_tiny_hf_vit_gpt2` converted by ``python -m tfcaption.convert``;
    returns the model dir."""
    import subprocess
    import sys

    from tiny_captioner import ROOT

    hf_dir = make_tiny_hf_vit_gpt2(out_dir + "_hf", shapes_dir, seed)
    done = subprocess.run([sys.executable, "-m", "tfcaption.convert", f"--checkpoint={hf_dir}",
                           f"--out={out_dir}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(f"converted {hf_dir}: ViT 2 layers x 16"), done.stdout
    return out_dir
