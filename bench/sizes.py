"""The model sizes a benchmark run builds: the real ones, or tiny ones for a smoke run.

A smoke run (``bench/run.py --smoke``) builds the same kinds of models through the same
converters and runs the same timed work and correctness checks on both sides, only with
tiny widths and depths (and fewer images), so that every benchmark finishes in seconds.
Vocabularies, tokenizer files, batch sizes, prefix and caption lengths are the real ones
in both. Its timings say nothing about the real sizes.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Keyword arguments of the Hugging Face configs both sides are built from, and the
    words that name them in the table's "work" column. MLPs are 4x as wide as their
    blocks at every size (the FLOP estimates assume it)."""

    smoke: bool
    gpt2: dict  # GPT2Config (ClipCap's language model)
    gpt2_label: str
    prefix_dim: int  # CLIP embedding width: ClipCap's prefix input, CLIP's projection
    clip_text: dict  # CLIPTextConfig
    clip_vision: dict  # CLIPVisionConfig
    clip_label: str
    roberta: dict  # RobertaConfig (the CgT-GAN discriminator's encoder)
    roberta_label: str
    discriminator_mlp_dim: int  # CgT-GAN's discriminator head: hidden -> this -> 1
    pipeline_images: int  # JPEGs through the data pipeline per call
    vit: dict  # ViTConfig (ViT-GPT2's encoder; its decoder is ``gpt2`` with cross-attention)
    vit_gpt2_label: str
    pix2struct_vision: dict  # Pix2StructVisionConfig
    pix2struct_text: dict  # Pix2StructTextConfig
    pix2struct_max_patches: int  # patches per image (the processor's max_patches)
    pix2struct_images: int  # figures (PNG, varied sizes) through the patch preprocessing
    pix2struct_label: str
    attend_gan: dict  # AttentionLstmGenerator / GruCaptionDiscriminator widths (d_*: the latter)
    attend_gan_label: str
    prefix_length: int = 10

    def asdict(self):
        return dataclasses.asdict(self)


REAL = Sizes(
    smoke=False,
    gpt2=dict(n_embd=768, n_layer=12, n_head=12),
    gpt2_label="GPT-2 124M",
    prefix_dim=512,
    clip_text=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                   num_attention_heads=8),
    clip_vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                     num_attention_heads=12, image_size=224, patch_size=32),
    clip_label="CLIP ViT-B/32",
    roberta=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                 num_attention_heads=12),
    roberta_label="roberta-base size",
    discriminator_mlp_dim=384,
    pipeline_images=256,
    vit=dict(image_size=224, patch_size=16, hidden_size=768, num_hidden_layers=12,
             num_attention_heads=12, intermediate_size=3072),
    vit_gpt2_label="ViT-B/16 224 px + GPT-2 124M",
    pix2struct_vision=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                           d_ff=2048, d_kv=64, patch_embed_hidden_size=768, seq_len=4096),
    pix2struct_text=dict(vocab_size=50244, hidden_size=768, num_layers=12, num_heads=12,
                         d_ff=2048, d_kv=64),
    pix2struct_max_patches=2048,
    pix2struct_images=32,
    pix2struct_label="pix2struct-base, 2048 patches",
    attend_gan=dict(feature_dim=2048, grid_shape=(7, 7), embedding_dim=768, hidden_dim=1024,
                    attention_dim=512, d_embedding_dim=768, d_hidden_dim=1024, d_num_layers=2),
    attend_gan_label="7×7×2048 regions, LSTM 1024, attention 512, embedding 768; "
                     "D 2-layer BiGRU 1024, embedding 768")

SMOKE = Sizes(
    smoke=True,
    gpt2=dict(n_embd=64, n_layer=2, n_head=1),  # heads of 64, as GPT-2's (the loader's rule)
    gpt2_label="tiny GPT-2 (2 layers, 64 wide)",
    prefix_dim=32,
    clip_text=dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4),
    clip_vision=dict(hidden_size=48, intermediate_size=192, num_hidden_layers=2,
                     num_attention_heads=4, image_size=32, patch_size=8),
    clip_label="tiny CLIP ViT (2 layers, 48 wide, patch 8)",
    roberta=dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4),
    roberta_label="tiny RoBERTa (2 layers, 32 wide)",
    discriminator_mlp_dim=16,
    pipeline_images=64,
    vit=dict(image_size=32, patch_size=8, hidden_size=48, num_hidden_layers=2,
             num_attention_heads=4, intermediate_size=192),
    vit_gpt2_label="tiny ViT (2 layers, 48 wide, patch 8) + tiny GPT-2",
    pix2struct_vision=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                           d_ff=128, d_kv=16, patch_embed_hidden_size=768, seq_len=4096),
    pix2struct_text=dict(vocab_size=50244, hidden_size=64, num_layers=2, num_heads=4,
                         d_ff=128, d_kv=16),
    pix2struct_max_patches=64,
    pix2struct_images=6,
    pix2struct_label="tiny Pix2Struct (2 layers, 64 wide), 64 patches",
    attend_gan=dict(feature_dim=32, grid_shape=(3, 3), embedding_dim=16, hidden_dim=24,
                    attention_dim=8, d_embedding_dim=16, d_hidden_dim=16, d_num_layers=2),
    attend_gan_label="tiny ATTEND-GAN (3×3×32 regions, LSTM 24; D 2-layer BiGRU 16)")


def sizes_of(smoke):
    return SMOKE if smoke else REAL
