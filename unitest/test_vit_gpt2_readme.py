"""The README's ViT-GPT2 commands as written, on a random-weight checkpoint in the released
layout: convert the dir, caption with the model dir (beam 4), and caption with the hub id
served by a loopback stand-in for the hub (HF_ENDPOINT): the same weights, the same caption.
Its training command runs in test_readme.py, on the main job's dataset."""

import os

from readme_checkpoint_commands import check_convert_caption_and_hub
from readme_sections import section_commands
from vit_gpt2_checkpoint import make_tiny_hf_vit_gpt2


def test_convert_caption_and_hub_id_commands(shapes_dir, tmp_path):
    commands = [c for c in section_commands("ViT-GPT2")
                if "tfcaption.train" not in c]  # test_readme.py trains
    os.makedirs(tmp_path / "data")
    os.symlink(shapes_dir, tmp_path / "data" / "shapes")
    check_convert_caption_and_hub(commands, lambda d: make_tiny_hf_vit_gpt2(d, shapes_dir),
                                  "ViT 2 layers x 16", tmp_path)
