"""WGAN-GP GRU captioner: an image-gated GRU generator against a GRU critic (Wasserstein loss
with gradient penalty), with optional remedies against mode collapse."""
