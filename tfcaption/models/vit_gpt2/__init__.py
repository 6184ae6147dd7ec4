"""ViT-GPT2: a ViT image encoder and a GPT-2 decoder with cross-attention (Hugging Face's
VisionEncoderDecoder checkpoints such as nlpconnect/vit-gpt2-image-captioning), converted
with ``python -m tfcaption.convert --checkpoint=HF_DIR --out=DIR`` and fine-tuned (or trained
from scratch) with ``model.type: "vit_gpt2"``."""

from tfcaption.models.captioner_family import CaptionerFamily

FAMILY = CaptionerFamily(
    name="vit_gpt2",
    model_types=("vit_gpt2",),
    trainers={"vit_gpt2": "tfcaption.models.vit_gpt2.vit_gpt2_training"},
    loader="tfcaption.models.vit_gpt2.vit_gpt2_dir:load_vit_gpt2",
    saver="tfcaption.models.vit_gpt2.vit_gpt2_dir:save_vit_gpt2",
    checkpoints={"vision-encoder-decoder":
                 "tfcaption.models.vit_gpt2.vit_gpt2_checkpoint:convert_vision_encoder_decoder"},
    description="ViT encoder states read by GPT-2 through cross-attention "
                "(Hugging Face VisionEncoderDecoder)",
)
