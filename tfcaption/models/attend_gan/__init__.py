"""ATTEND-GAN: an attention LSTM over a grid of image regions (Show-Attend-Tell), trained
against a bidirectional-GRU caption discriminator with Monte-Carlo rollout rewards."""

from tfcaption.models.captioner_family import CaptionerFamily

FAMILY = CaptionerFamily(
    name="attend_gan",
    model_types=("attend_gan",),
    trainers={"attend_gan": "tfcaption.models.attend_gan.attend_gan_training"},
    loader="tfcaption.models.attend_gan.attend_gan_dir:load_attend_gan",
    saver="tfcaption.models.attend_gan.attend_gan_dir:save_attend_gan",
    cli_flags="tfcaption.models.attend_gan.attend_gan_flags",
    description="attention LSTM over image regions trained against a GRU discriminator "
                "with Monte-Carlo rollout rewards (ATTEND-GAN)",
)
