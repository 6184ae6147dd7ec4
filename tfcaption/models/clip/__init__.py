"""Contrastive CLIP training (image-text alignment) and retrieval evaluation."""
