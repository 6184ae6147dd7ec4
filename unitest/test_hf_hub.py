"""``--model=hf:ORG/NAME``: a random-weight ViT-GPT2 checkpoint in the released file layout,
served by a loopback stand-in for the hub (HF_ENDPOINT), is downloaded through
huggingface_hub's cache, converted once into tfcaption's cache keyed by repository and
commit, and captions; the second call downloads and converts nothing; a missing repository
and offline mode with an empty cache are one error line each."""

import glob
import os
import subprocess
import sys

import pytest
from fake_hub import FakeHub
from vit_gpt2_checkpoint import make_tiny_hf_vit_gpt2

from tfcaption.models.vit_gpt2.vit_gpt2_checkpoint import convert_vision_encoder_decoder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = "tfc-test/vit-gpt2-tiny"


@pytest.fixture(scope="module")
def checkpoint(shapes_dir, tmp_path_factory):
    hf_dir = make_tiny_hf_vit_gpt2(tmp_path_factory.mktemp("hub") / "ckpt", shapes_dir)
    files = {}
    for name in os.listdir(hf_dir):
        with open(os.path.join(hf_dir, name), "rb") as f:
            files[name] = f.read()
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "vocab.json",
            "merges.txt"} <= set(files)
    return hf_dir, files


@pytest.fixture
def image(shapes_dir):
    return sorted(glob.glob(os.path.join(shapes_dir, "images", "test", "*.jpg")))[0]


def caption(model, image, env):
    return subprocess.run([sys.executable, "-m", "tfcaption.caption", f"--model={model}",
                           image], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**{k: v for k, v in os.environ.items()  # a user's env
                                  if k != "TF_CPP_MIN_LOG_LEVEL"}, **env})


def hub_env(hub, tmp_path, offline=False):
    return {"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf_home"),
            "TFCAPTION_CACHE": str(tmp_path / "tfcaption_cache"),
            "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1" if offline else "0"}


def test_download_convert_caption_then_the_cache(checkpoint, image, tmp_path):
    hf_dir, files = checkpoint
    want = convert_vision_encoder_decoder(hf_dir).generate([image])[0]
    with FakeHub({REPO: files}) as hub:
        env = hub_env(hub, tmp_path)
        first = caption(f"hf:{REPO}", image, env)
        assert first.returncode == 0, first.stderr[-3000:]
        assert first.stdout.strip().endswith(want), (first.stdout, want)
        assert hub.downloads("model.safetensors") == 1
        converted, = glob.glob(str(tmp_path / "tfcaption_cache" / "hf" /
                                   "tfc-test--vit-gpt2-tiny" / hub.commit / "config.json"))
        weights = os.path.join(os.path.dirname(converted), "model.weights.h5")
        stamp = os.stat(weights).st_mtime_ns
        second = caption(f"hf:{REPO}@main", image, env)
        assert second.returncode == 0, second.stderr[-3000:]
        assert second.stdout.strip().endswith(want)
        assert hub.downloads("model.safetensors") == 1  # nothing downloaded again
        assert os.stat(weights).st_mtime_ns == stamp  # nor converted again
        offline = caption(f"hf:{REPO}", image, hub_env(hub, tmp_path, offline=True))
        requests = len(hub.requests)
    assert offline.returncode == 0, offline.stderr[-3000:]
    assert offline.stdout.strip().endswith(want) and requests == len(hub.requests)


def test_a_missing_repository_is_one_error_line(checkpoint, image, tmp_path):
    with FakeHub({REPO: checkpoint[1]}) as hub:
        done = caption("hf:tfc-test/nothing", image, hub_env(hub, tmp_path))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: hf:tfc-test/nothing: no such model repository on {hub.endpoint} (or it is "
        f"private: log in with `hf auth login` or set HF_TOKEN)"], done.stderr


def test_offline_with_an_empty_cache_is_one_error_line(checkpoint, image, tmp_path):
    with FakeHub({REPO: checkpoint[1]}) as hub:
        done = caption(f"hf:{REPO}", image, hub_env(hub, tmp_path, offline=True))
        assert hub.requests == []
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: hf:{REPO}: not in the Hugging Face cache (")
    assert lines[0].endswith("and offline mode is on (HF_HUB_OFFLINE)")


def test_backbone_loaders_take_hub_ids(shapes_dir, tmp_path):
    """The GPT-2 loader (as the RoBERTa and CLIP ones) reads hf:ORG/NAME the same way."""
    import json

    import numpy as np
    from tiny_captioner import shapes_train_captions
    from transformers import GPT2Config, GPT2LMHeadModel

    from tfcaption.backbones.gpt2_loader import load_gpt2
    from tfcaption.tokenizers.bpe_trainer import train_bpe

    local = str(tmp_path / "gpt2")
    train_bpe(shapes_train_captions(shapes_dir), local, vocab_size=300)
    vocab = json.load(open(os.path.join(local, "vocab.json"), encoding="utf-8"))
    GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=16, n_embd=64, n_layer=1,
                               n_head=1)).save_pretrained(local)
    files = {name: open(os.path.join(local, name), "rb").read() for name in os.listdir(local)}
    ids = np.array([[1, 2, 3]], "int32")
    want = load_gpt2(local).model({"token_ids": ids, "padding_mask": np.ones_like(ids)})
    script = ("import sys, numpy as np; from tfcaption.backbones.gpt2_loader import load_gpt2;"
              "m = load_gpt2(sys.argv[1]).model; ids = np.array([[1, 2, 3]], 'int32');"
              "print(float(np.asarray(m({'token_ids': ids, 'padding_mask': ids * 0 + 1}))"
              ".sum()))")
    with FakeHub({"tfc-test/gpt2-tiny": files}) as hub:
        done = subprocess.run([sys.executable, "-c", script, "hf:tfc-test/gpt2-tiny"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env={**os.environ, **hub_env(hub, tmp_path)})
        assert done.returncode == 0, done.stderr[-3000:]
        assert hub.downloads("model.safetensors") == 1
    assert float(done.stdout.split()[-1]) == pytest.approx(float(np.asarray(want).sum()),
                                                           rel=1e-5)
