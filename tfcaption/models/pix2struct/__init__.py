"""Pix2Struct: flattened variable-resolution image patches read by a ViT-like encoder and
a T5-style decoder (Hugging Face's Pix2StructForConditionalGeneration checkpoints such as
google/pix2struct-base and google/pix2struct-textcaps-base), converted with
``python -m tfcaption.convert --checkpoint=HF_DIR --out=DIR`` and fine-tuned (or trained
from scratch) with ``model.type: "pix2struct"``."""

from tfcaption.models.captioner_family import CaptionerFamily

FAMILY = CaptionerFamily(
    name="pix2struct",
    model_types=("pix2struct",),
    trainers={"pix2struct": "tfcaption.models.pix2struct.pix2struct_training"},
    loader="tfcaption.models.pix2struct.pix2struct_dir:load_pix2struct",
    saver="tfcaption.models.pix2struct.pix2struct_dir:save_pix2struct",
    checkpoints={"pix2struct": "tfcaption.models.pix2struct.pix2struct_convert:"
                               "convert_pix2struct"},
    description="variable-resolution image patches read by a T5-style decoder through "
                "cross-attention (Hugging Face Pix2Struct), for figures and screenshots",
)
