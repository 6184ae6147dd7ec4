"""Pretrained backbones (CLIP, GPT-2, RoBERTa, CNN encoders) and their checkpoint converters."""
