"""Random-weight Hugging Face VisionEncoderDecoder checkpoints (ViT + GPT-2 with
cross-attention) in the released layout, every parameter perturbed (test helper)."""

import torch
from transformers import (GPT2Config, ViTConfig, VisionEncoderDecoderConfig,
                          VisionEncoderDecoderModel)

TOKEN = 19  # bos = eos = pad = decoder_start, as 50256 in the released checkpoint


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
    model = VisionEncoderDecoderModel(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn_like(parameter))
    model.save_pretrained(out_dir)
    return model
