"""Serving export: a tiny random-weight ClipCap model dir (with the CLIP trained on shapes
as its image encoder) exported by ``python -m tfcaption.export`` and by
``export_captioner``, reloaded in a fresh process where keras, keras-hub,
tensorflow-text and tfcaption cannot be imported, and compared with the eager captioner."""

import io
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tfcaption.backbones.clip_image_encoder import load_clip_image_encoder
from tfcaption.backbones.gpt2_backbone import GPT2Backbone
from tfcaption.models.clipcap.clipcap_builder import build_mapper
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.models.clipcap.clipcap_model import ClipCapModel
from tfcaption.models.clipcap.clipcap_model_dir import load_clipcap, save_clipcap
from tfcaption.serving.captioner_serving_module import CaptionerServingModule
from tfcaption.serving.saved_model_export import export_captioner, read_export_info
from tfcaption.tokenizers.bpe_trainer import train_bpe
from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP_DIR = os.path.join(ROOT, "pretrained_models", "clip_shapes")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
TEXTS = ["a red circle", "a blue square and a green star", "two small yellow crosses",
         "a large purple triangle above an orange circle", "un café crème, naïve"] * 4
MAX_LENGTH = 10
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 20), (150, 40, 200)]

# Runs in a fresh interpreter: only TensorFlow may be imported.
RELOAD = textwrap.dedent("""
    import json, sys, time
    BLOCKED = ("keras", "keras_hub", "keras_nlp", "tensorflow_text", "tfcaption")
    for name in BLOCKED:
        sys.modules[name] = None  # any import of these fails
    import tensorflow as tf
    request = json.load(open(sys.argv[1]))
    batch = tf.constant([open(p, "rb").read() if p else b"" for p in request["files"]]
                        + [bytes.fromhex(h) for h in request["raw_hex"]])
    results = {}
    for name, path in request["exports"].items():
        start = time.perf_counter()
        exported = tf.saved_model.load(path)
        serve = exported.signatures["serving_default"]
        loaded = time.perf_counter()
        out = serve(image_bytes=batch)
        results[name] = {
            "captions": [c.decode("utf-8") for c in out["captions"].numpy()],
            "scores": [float(s) for s in out["scores"].numpy()],
            "inputs": sorted(serve.structured_input_signature[1]),
            "outputs": {k: v.dtype.name for k, v in serve.structured_outputs.items()},
            "variables": sum(v.shape.num_elements() for v in exported.serving_variables),
            "load_s": loaded - start, "first_call_s": time.perf_counter() - loaded}
    results["imported"] = sorted(k for k in sys.modules
                                 if k.split(".")[0] in BLOCKED and sys.modules[k] is not None)
    print(json.dumps(results))
""")


def draw_image(seed, size=(96, 80)):
    """A few filled shapes on a plain background (RGB uint8 PIL image)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 80, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):
        x, y = rng.integers(0, size[0] - 30), rng.integers(0, size[1] - 30)
        box = [int(x), int(y), int(x + rng.integers(15, 30)), int(y + rng.integers(15, 30))]
        colour = COLOURS[int(rng.integers(len(COLOURS)))]
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return image


def encode(image, fmt):
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A ClipCap model dir: random MLP mapper + 2-block GPT-2, a BPE with non-ASCII
    text, and the shapes CLIP as image encoder (so different images get different
    prefixes)."""
    root = tmp_path_factory.mktemp("export_model")
    train_bpe(TEXTS, str(root / "bpe"), vocab_size=300, min_frequency=1)
    tokenizer = load_gpt2_tokenizer(str(root / "bpe"))
    keras.utils.set_random_seed(1)
    gpt2 = GPT2Backbone(vocabulary_size=len(tokenizer.vocabulary), num_layers=2,
                        num_heads=4, hidden_dim=32, intermediate_dim=64,
                        max_sequence_length=32, dropout=0.0)
    encoder = load_clip_image_encoder(CLIP_DIR)
    mapper = build_mapper("mlp", encoder.model.projection_dim, 32, prefix_length=4)
    captioner = ClipCapCaptioner(ClipCapModel(mapper, gpt2), tokenizer,
                                 image_encoder=encoder)
    return save_clipcap(captioner, str(root / "model"))


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    """Three JPEGs and two PNGs of drawn shapes."""
    root = tmp_path_factory.mktemp("export_images")
    paths = []
    for seed in range(5):
        fmt, ext = ("PNG", "png") if seed % 2 else ("JPEG", "jpg")
        path = str(root / f"image_{seed}.{ext}")
        with open(path, "wb") as f:
            f.write(encode(draw_image(seed), fmt))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def exports(model_dir, tmp_path_factory):
    """Greedy without XLA (``export_captioner``) and beam with XLA (the command line)."""
    root = tmp_path_factory.mktemp("exports")
    greedy = str(root / "greedy" / "1")
    export_captioner(load_clipcap(model_dir, jit_compile=False), greedy, "greedy",
                   jit_compile=False, max_length=MAX_LENGTH, source=model_dir)
    beam = str(root / "beam" / "1")
    cli = subprocess.run(
        [sys.executable, "-m", "tfcaption.export", f"--model={model_dir}",
         f"--export_dir={beam}", "--decoding=beam", "--beam_size=3",
         f"--max_length={MAX_LENGTH}", "--jit_compile"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=ENV)
    assert cli.returncode == 0, cli.stderr[-3000:]
    return {"greedy": (greedy, False, {}), "beam": (beam, True, {"beam_size": 3}),
            "cli_stdout": cli.stdout}


def test_command_line_prints_and_records_the_export(exports, model_dir):
    beam_dir = exports["beam"][0]
    assert f"-> {beam_dir}" in exports["cli_stdout"]
    assert "decoding beam, beam_size=3" in exports["cli_stdout"]
    info = read_export_info(beam_dir)
    assert info["decoding"]["method"] == "beam" and info["decoding"]["beam_size"] == 3
    assert info["decoding"]["max_length"] == MAX_LENGTH and info["jit_compile"] is True
    assert info["decoding"]["stop_token_ids"] == list(load_clipcap(
        model_dir, jit_compile=False).stop_token_ids)
    assert info["source_model"] == model_dir
    assert info["image_preprocessing"] == {"policy": "clip", "size": 96,
                                           "imagenet_mode": "caffe"}
    assert read_export_info(exports["greedy"][0])["jit_compile"] is False


def test_fresh_tensorflow_only_process_captions_like_the_eager_model(
        exports, model_dir, image_files, tmp_path):
    good = image_files
    truncated_jpeg = open(good[0], "rb").read()[:400]
    files = [good[0], good[1], None, good[2], good[3], good[4]]  # None: empty bytes
    raw = [b"not an image at all", truncated_jpeg]
    request = {"files": [p or "" for p in files], "raw_hex": [r.hex() for r in raw],
               "exports": {name: exports[name][0] for name in ("greedy", "beam")}}
    request_path = tmp_path / "request.json"
    request_path.write_text(json.dumps(request))
    script = tmp_path / "reload.py"
    script.write_text(RELOAD)
    done = subprocess.run([sys.executable, str(script), str(request_path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["imported"] == []
    corrupt = [2, 6, 7]  # empty, non-image bytes, truncated JPEG
    for name in ("greedy", "beam"):
        _, jit, overrides = exports[name]
        got = results[name]
        assert got["inputs"] == ["image_bytes"]
        assert got["outputs"] == {"captions": "string", "scores": "float32"}
        captioner = load_clipcap(model_dir, jit_compile=jit)
        clip = captioner.image_encoder.model
        tower = list(clip.vision_encoder.weights)
        if hasattr(clip, "visual_projection"):  # a ViT tower; a ResNet's pool projects
            tower += clip.visual_projection.weights
        vision = sum(w.shape.num_elements() for w in tower)
        assert got["variables"] == captioner.model.count_params() + vision  # no text tower
        want = captioner.generate(good, name, max_length=MAX_LENGTH, return_scores=True,
                                  **overrides)
        served = [got["captions"][i] for i in range(8) if i not in corrupt]
        assert served == want["captions"], name
        np.testing.assert_allclose([got["scores"][i] for i in range(8) if i not in corrupt],
                                   want["scores"][:, 0], rtol=1e-5)
        assert [got["captions"][i] for i in corrupt] == ["", "", ""]
        assert all(got["scores"][i] == -np.inf for i in corrupt)
        # random weights, yet captions are non-empty and differ between images
        assert all(served) and len(set(served)) >= 3, served
        print(f"{name}: load {got['load_s']:.1f} s, first call {got['first_call_s']:.1f} s")


def test_export_refuses_what_it_cannot_serve(model_dir, tmp_path):
    captioner = load_clipcap(model_dir, jit_compile=False)
    # GPT-2 has 32 positions and the prefix takes 4: at most 29 tokens
    assert CaptionerServingModule(captioner, "greedy").decoding.max_length == 29
    assert CaptionerServingModule(captioner, "beam", max_length=29).decoding.max_length == 29
    with pytest.raises(ValueError, match=r"at most 29 tokens \(pass max_length=29"):
        export_captioner(captioner, str(tmp_path / "a"), "greedy", max_length=30)
    # captioning from Python (and so caption / evaluate) fits max_length the same way
    assert captioner.decoding_config("beam").max_length == 29
    assert captioner.decoding_config({"method": "greedy", "max_length": 12}).max_length == 12
    with pytest.raises(ValueError, match="at most 29 tokens"):
        captioner.generate(np.zeros([1, captioner.model.prefix_dim]), max_length=30)
    with pytest.raises(ValueError, match="num_return_sequences must be 1"):
        export_captioner(captioner, str(tmp_path / "a"), "beam", num_return_sequences=2)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_captioner(captioner, str(tmp_path / "taken"), "greedy")
    assert os.listdir(tmp_path / "taken") == ["file"]
    no_encoder = ClipCapCaptioner(captioner.model, captioner.tokenizer)
    with pytest.raises(ValueError, match="no image encoder"):
        export_captioner(no_encoder, str(tmp_path / "b"), "greedy")
    assert sorted(os.listdir(tmp_path)) == ["taken"]  # nothing half-written
    with pytest.raises(FileNotFoundError, match="not a tfcaption serving export"):
        read_export_info(str(tmp_path / "taken"))


def test_command_line_errors_name_the_problem(model_dir, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tfcaption.export", f"--model={tmp_path / 'missing'}",
         f"--export_dir={tmp_path / 'out'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode != 0 and "model dir not found" in done.stderr
    assert not (tmp_path / "out").exists()
