"""The README's ViT-GPT2 commands as written, on a random-weight checkpoint in the released
layout: convert the dir, caption with the model dir (beam 4), and caption with the hub id
served by a loopback stand-in for the hub (HF_ENDPOINT): the same weights, the same caption.
Its training command runs in test_readme.py, on the main job's dataset."""

import os
import re
import shlex
import subprocess
import sys

from fake_hub import FakeHub
from readme_sections import section_commands
from vit_gpt2_checkpoint import make_tiny_hf_vit_gpt2

from tfcaption.models.load_captioner import load_captioner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, cwd, env=None):
    argv = [sys.executable] + shlex.split(cmd)[1:]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**{k: v for k, v in os.environ.items()
                                  if k != "TF_CPP_MIN_LOG_LEVEL"}, **(env or {})})
    assert done.returncode == 0, f"{cmd}\n{done.stderr[-3000:]}"
    return done.stdout


def test_convert_caption_and_hub_id_commands(shapes_dir, tmp_path):
    convert, caption, hub_caption = [c for c in section_commands("ViT-GPT2")
                                     if "tfcaption.train" not in c]  # test_readme.py trains
    checkpoint = re.search(r"--checkpoint=(\S+)", convert).group(1)
    make_tiny_hf_vit_gpt2(tmp_path / checkpoint, shapes_dir)
    os.makedirs(tmp_path / "data")
    os.symlink(shapes_dir, tmp_path / "data" / "shapes")
    printed = run(convert, tmp_path)
    out = re.search(r"--out=(\S+)", convert).group(1)
    assert printed.startswith(f"converted {checkpoint}: ViT 2 layers x 16") and out in printed
    image = shlex.split(caption)[-1]
    path, text = run(caption, tmp_path).strip().split("\t")
    assert path == image and text
    model = load_captioner(str(tmp_path / out))
    assert text == model.generate([str(tmp_path / image)], "beam", beam_size=4)[0]
    repo = re.search(r"--model=hf:(\S+)", hub_caption).group(1)
    files = {name: (tmp_path / checkpoint / name).read_bytes()
             for name in os.listdir(tmp_path / checkpoint)}
    with FakeHub({repo: files}) as hub:
        line = run(hub_caption, tmp_path, {
            "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf_home"),
            "TFCAPTION_CACHE": str(tmp_path / "cache"), "HF_HUB_DISABLE_TELEMETRY": "1"})
    assert line.strip() == f"{image}\t{model.generate([str(tmp_path / image)])[0]}"
