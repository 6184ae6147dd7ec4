"""ClipCap: a CLIP image embedding, mapped to a prefix of GPT-2 input embeddings, from
which GPT-2 writes the caption (Mokady et al., 2021). Trained by language modelling
(``clipcap``), text-only from CLIP text embeddings (``clipcap_text``) or adversarially
as CgT-GAN's generator (``cgtgan``, :mod:`tfcaption.models.clipcap.cgtgan`)."""

from tfcaption.models.captioner_family import CaptionerFamily

FAMILY = CaptionerFamily(
    name="clipcap",
    model_types=("clipcap",),
    trainers={"clipcap": "tfcaption.models.clipcap.clipcap_training",
              "clipcap_text": "tfcaption.models.clipcap.cgtgan.text_init_training",
              "cgtgan": "tfcaption.models.clipcap.cgtgan.cgtgan_training"},
    loader="tfcaption.models.clipcap.clipcap_model_dir:load_clipcap",
    saver="tfcaption.models.clipcap.clipcap_model_dir:save_clipcap",
    cli_flags="tfcaption.models.clipcap.clipcap_flags",
    description="CLIP prefix -> mapping network -> GPT-2 (ClipCap, CgT-GAN)",
)
