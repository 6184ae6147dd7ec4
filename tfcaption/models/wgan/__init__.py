"""WGAN-GP GRU captioner: an image-gated GRU generator against a GRU critic (Wasserstein loss
with gradient penalty), with optional remedies against mode collapse."""

from tfcaption.models.captioner_family import CaptionerFamily

FAMILY = CaptionerFamily(
    name="wgan_gru",
    model_types=("wgan_gru",),
    trainers={"wgan": "tfcaption.models.wgan.wgan_training"},
    loader="tfcaption.models.wgan.gru_captioner_dir:load_gru_captioner",
    saver="tfcaption.models.wgan.gru_captioner_dir:save_gru_captioner",
    description="image-gated GRU generator trained against a GRU critic (WGAN-GP)",
)
