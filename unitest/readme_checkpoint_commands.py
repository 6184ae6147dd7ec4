"""Runs a README section's convert / caption / hub-id caption commands on a random-weight
checkpoint in the released layout (test helper shared by the families that convert one)."""

import os
import re
import shlex
import subprocess
import sys

from fake_hub import FakeHub

from tfcaption.models.load_captioner import load_captioner


def run_command(cmd, cwd, env=None, timeout=600):
    """Runs a README ``python -m ...`` line in ``cwd`` (``env`` added); returns its stdout."""
    argv = [sys.executable] + shlex.split(cmd)[1:]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**{k: v for k, v in os.environ.items()
                                  if k != "TF_CPP_MIN_LOG_LEVEL"}, **(env or {})})
    assert done.returncode == 0, f"{cmd}\n{done.stderr[-3000:]}"
    return done.stdout


def check_convert_caption_and_hub(commands, make_checkpoint, summary_start, tmp_path):
    """``commands`` = (convert, caption with beam 4, caption with an ``hf:`` id), run in
    ``tmp_path`` (which holds the images they name): ``make_checkpoint(dir)`` writes the
    checkpoint the convert command names; the convert summary starts with
    ``summary_start``; the model dir's caption is the API's beam-4 caption; the hub id,
    served by a loopback stand-in for the hub, gives the API's greedy caption."""
    convert, caption, hub_caption = commands
    checkpoint = re.search(r"--checkpoint=(\S+)", convert).group(1)
    make_checkpoint(str(tmp_path / checkpoint))
    printed = run_command(convert, tmp_path)
    out = re.search(r"--out=(\S+)", convert).group(1)
    assert printed.startswith(f"converted {checkpoint}: {summary_start}"), printed
    assert out in printed
    image = shlex.split(caption)[-1]
    path, text = run_command(caption, tmp_path).strip().split("\t")
    model = load_captioner(str(tmp_path / out))
    assert path == image
    assert text == model.generate([str(tmp_path / image)], "beam", beam_size=4)[0]
    repo = re.search(r"--model=hf:(\S+)", hub_caption).group(1)
    files = {name: (tmp_path / checkpoint / name).read_bytes()
             for name in os.listdir(tmp_path / checkpoint)}
    with FakeHub({repo: files}) as hub:
        line = run_command(hub_caption, tmp_path, {
            "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf_home"),
            "TFCAPTION_CACHE": str(tmp_path / "cache"), "HF_HUB_DISABLE_TELEMETRY": "1"})
    assert line.strip() == f"{image}\t{model.generate([str(tmp_path / image)])[0]}"
