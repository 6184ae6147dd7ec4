"""Official ClipCap checkpoint -> tfcaption: tiny random models in the released format,
converted and compared with the PyTorch reference (logits, greedy and beam decoding),
model-dir round trip, the ``convert`` command and the errors it names."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch_clipcap as tc  # noqa: E402
from torch_modified_resnet import ModifiedResNet, randomize  # noqa: E402

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError  # noqa: E402
from tfcaption.decoding.decoding_config import DecodingConfig  # noqa: E402
from tfcaption.models.clipcap.clipcap_model_dir import load_clipcap, save_clipcap  # noqa: E402
from tfcaption.models.clipcap.official_checkpoint import (  # noqa: E402
    convert_official_checkpoint, describe, infer_official_config)
from tfcaption.tokenizers.bpe_trainer import train_bpe  # noqa: E402

PREFIX_SIZE, PREFIX_LEN, CLIP_LEN, MAPPER_LAYERS = 16, 4, 3, 2
D, GPT_LAYERS, GPT_HEADS, N_POS = 32, 2, 4, 64
RTOL = 1e-4
GREEDY_STEPS = 30
BEAM_STEPS = 12
TEXTS = ["a red circle above a blue square.", "two green triangles next to a yellow star.",
         "a small cat sits on the mat.", "the dog runs in the park, then it sleeps."] * 4
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _quiet_env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _reference(mapping_type, vocab_size, seed=3):
    torch.manual_seed(0)
    model = tc.ClipCaptionModel(
        PREFIX_LEN, clip_length=CLIP_LEN, prefix_size=PREFIX_SIZE, num_layers=MAPPER_LAYERS,
        mapping_type=mapping_type,
        gpt_config=tc.tiny_gpt_config(vocab_size=vocab_size, n_positions=N_POS, n_embd=D,
                                      n_layer=GPT_LAYERS, n_head=GPT_HEADS))
    tc.randomize_(model, seed)
    with torch.no_grad():  # smaller (tied) embeddings: varied, non-repeating greedy output
        model.gpt.transformer.wte.weight.mul_(0.25)
    return model.eval()


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("gpt2_tokenizer"))
    train_bpe(TEXTS, out, vocab_size=300, min_frequency=1)
    return out


@pytest.fixture(scope="module")
def vocab_size(tok_dir):
    with open(os.path.join(tok_dir, "vocab.json"), encoding="utf-8") as f:
        return len(json.load(f))


@pytest.fixture(scope="module", params=["mlp", "transformer"])
def converted(request, tok_dir, vocab_size, tmp_path_factory):
    """(mapping type, torch reference, checkpoint path, converted captioner)."""
    mapping_type = request.param
    reference = _reference(mapping_type, vocab_size)
    path = str(tmp_path_factory.mktemp("official") / f"{mapping_type}_weights.pt")
    tc.save_official_checkpoint(reference, path)
    captioner = convert_official_checkpoint(path, tok_dir, num_heads=GPT_HEADS)
    return mapping_type, reference, path, captioner


def _prefixes(batch, seed):
    return np.random.default_rng(seed).standard_normal((batch, PREFIX_SIZE)).astype(np.float32)


def _torch_prefix(mapping_type, prefix):
    """What the reference mapper sees: the released transformer model was fed
    L2-normalised CLIP embeddings (the converter's default for that mapper)."""
    x = torch.from_numpy(prefix)
    return x / x.norm(dim=-1, keepdim=True) if mapping_type == "transformer" else x


def _torch_greedy(mapping_type, reference, prefix, stop, steps=GREEDY_STEPS):
    embed = reference.prefix_embeddings(_torch_prefix(mapping_type, prefix[None]))
    return tc.official_generate_greedy(reference, embed, stop, max_length=steps)


def _torch_beam(mapping_type, reference, prefix, stop):
    embed = reference.prefix_embeddings(_torch_prefix(mapping_type, prefix[None]))
    return tc.official_generate_beam(reference, embed, stop, beam_size=5,
                                     max_length=BEAM_STEPS)


def _write_checkpoint(state, path):
    torch.save(state, path)
    return path


# --------------------------------------------------------------------------- architecture

def test_inferred_config(converted, vocab_size):
    mapping_type, _, path, captioner = converted
    state = torch.load(path, weights_only=True)
    config = infer_official_config(state, path)
    common = {"mapping_type": mapping_type, "prefix_dim": PREFIX_SIZE, "embed_dim": D,
              "prefix_length": PREFIX_LEN}
    if mapping_type == "mlp":
        assert config == dict(common, hidden_dim=D * PREFIX_LEN // 2)
    else:
        assert config == dict(common, clip_length=CLIP_LEN, num_layers=MAPPER_LAYERS,
                              num_heads=8)
    assert captioner.model.normalize_prefix == (mapping_type == "transformer")
    assert describe(captioner)["gpt2"] == {"num_layers": GPT_LAYERS, "hidden_dim": D,
                                           "num_heads": GPT_HEADS,
                                           "vocabulary_size": vocab_size}


def test_parameter_counts_and_logits(converted, vocab_size):
    mapping_type, reference, _, captioner = converted
    model = captioner.model
    torch_count = sum(p.numel() for p in reference.parameters())
    keras_count = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert keras_count == torch_count == model.count_params()
    prefix = _prefixes(3, seed=5)
    ids = np.random.default_rng(6).integers(0, vocab_size, (3, 9)).astype(np.int32)
    with torch.no_grad():
        ref = reference(torch.from_numpy(ids).long(),
                        _torch_prefix(mapping_type, prefix)).numpy()[:, PREFIX_LEN - 1:-1]
    got = model({"prefix": prefix, "token_ids": ids,
                 "padding_mask": np.ones(ids.shape, bool)}).numpy()
    assert got.shape == ref.shape == (3, 9, vocab_size)
    scale = float(np.max(np.abs(ref)))
    assert scale > 0.5 and float(np.std(ref)) > 0.05  # real, non-trivial logits
    worst = float(np.max(np.abs(got - ref)))
    assert worst <= RTOL * scale, f"max|diff| {worst:.3g} > {RTOL} * max|ref| {scale:.3g}"


# --------------------------------------------------------------------------- decoding

def _greedy_case(mapping_type, reference, prefixes):
    """Reference greedy runs without a stop token, a stop token none of them emits and
    one that ends the first caption early (its first new token after position 1)."""
    free = [_torch_greedy(mapping_type, reference, p, stop=-1) for p in prefixes]
    assert all(len(set(ids)) >= 3 for ids in free), free  # not a degenerate repetition
    emitted = {t for ids in free for t in ids}
    silent = min(set(range(reference.gpt.config.vocab_size)) - emitted)
    first = free[0]
    early = next(t for k, t in enumerate(first) if k >= 2 and t not in first[:k])
    return silent, early


def test_greedy_matches_the_official_loop(converted):
    mapping_type, reference, _, captioner = converted
    prefixes = _prefixes(3, seed=7)
    silent, early = _greedy_case(mapping_type, reference, prefixes)

    # eager, with a stop token never emitted: all 30 steps
    want = [_torch_greedy(mapping_type, reference, p, silent) for p in prefixes]
    assert [len(ids) for ids in want] == [GREEDY_STEPS] * 3
    config = DecodingConfig("greedy", max_length=GREEDY_STEPS, stop_token_ids=(silent,))
    result = captioner.model.generate_ids(tf.constant(prefixes), config)
    assert result.lengths.numpy().tolist() == [[GREEDY_STEPS]] * 3
    assert result.token_ids.numpy()[:, 0].tolist() == want

    # XLA-compiled, with a stop token that ends the first caption early
    want = [_torch_greedy(mapping_type, reference, p, early) for p in prefixes]
    assert want[0][-1] == early and len(want[0]) < GREEDY_STEPS
    got = captioner.generate(prefixes, "greedy", return_ids=True, max_length=GREEDY_STEPS,
                             stop_token_ids=(early,))
    assert [row[0] for row in got["token_ids"]] == want


def _beam_stop(mapping_type, reference, prefix):
    """The token the 5 free-running beams emit most often (after their first token), so
    that stopping at it ends some beams early."""
    free = _torch_beam(mapping_type, reference, prefix, stop=-1)
    counts = {}
    for ids, _ in free:
        for t in ids[1:]:
            counts[t] = counts.get(t, 0) + 1
    return max(counts, key=counts.get)


@pytest.mark.parametrize("path", ["eager", "jit"])
def test_beam_matches_the_official_search(converted, path):
    mapping_type, reference, _, captioner = converted
    prefixes = _prefixes(3, seed=8)
    stop = _beam_stop(mapping_type, reference, prefixes[0])
    want = [_torch_beam(mapping_type, reference, p, stop) for p in prefixes]
    lengths = {len(ids) for beams in want for ids, _ in beams}
    assert len(lengths) > 1 and min(lengths) < BEAM_STEPS  # some beams stopped early
    settings = dict(beam_size=5, num_return_sequences=5, max_length=BEAM_STEPS,
                    stop_token_ids=(stop,))
    if path == "eager":
        result = captioner.model.generate_ids(tf.constant(prefixes),
                                              DecodingConfig("beam", **settings))
        got_ids = [[row[r, :n].tolist() for r, n in enumerate(row_lengths)]
                   for row, row_lengths in zip(result.token_ids.numpy(),
                                               result.lengths.numpy())]
        got_scores = result.scores.numpy()
    else:
        out = captioner.generate(prefixes, "beam", return_ids=True, return_scores=True,
                                 **settings)
        got_ids, got_scores = out["token_ids"], out["scores"]
    for b, beams in enumerate(want):
        assert got_ids[b] == [ids for ids, _ in beams], b
        np.testing.assert_allclose(got_scores[b], [score for _, score in beams],
                                   rtol=1e-5, atol=1e-5)


def test_stops_at_the_period_and_keeps_it(converted, tok_dir):
    _, _, _, captioner = converted
    period = captioner.tokenizer.token_to_id(".")
    assert captioner.stop_token_ids == (period,)
    assert captioner.decoding_config("beam").stop_token_ids == (period,)
    ids = captioner.tokenizer.tokenize("a cat.").numpy().tolist()
    assert ids[-1] == period
    assert captioner.detokenize(ids) == "a cat."


# --------------------------------------------------------------------------- model dir

def test_model_dir_round_trip(converted, tmp_path):
    _, _, _, captioner = converted
    out = save_clipcap(captioner, str(tmp_path / "model"))
    loaded = load_clipcap(out)
    assert loaded.stop_token_ids == captioner.stop_token_ids
    assert loaded.strip_token_ids == captioner.strip_token_ids
    assert loaded.model.normalize_prefix == captioner.model.normalize_prefix
    assert describe(loaded) == describe(captioner)
    prefixes = _prefixes(2, seed=9)
    before = captioner.generate(prefixes, "greedy", return_ids=True, max_length=15)
    after = loaded.generate(prefixes, "greedy", return_ids=True, max_length=15)
    assert after == before
    assert all(len(ids[0]) >= 1 for ids in after["token_ids"])
    for a, b in zip(loaded.model.weights, captioner.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# --------------------------------------------------------------------------- image encoder

@pytest.fixture(scope="module")
def clip_resnet(tmp_path_factory):
    """A tiny OpenAI-format CLIP ResNet with 16-d embeddings (the prefix size), and one
    with 8-d embeddings."""
    out = tmp_path_factory.mktemp("clip_rn")
    paths = {}
    for dim in (PREFIX_SIZE, 8):
        torch.manual_seed(0)
        visual = randomize(ModifiedResNet(layers=(1, 1, 1, 1), output_dim=dim, heads=2,
                                          input_resolution=64, width=8), seed=2).eval()
        paths[dim] = str(out / f"rn_{dim}.pt")
        torch.save(visual.state_dict(), paths[dim])
        if dim == PREFIX_SIZE:
            tower = visual
    return tower, paths


def test_captions_an_image_file_like_the_reference(tok_dir, vocab_size, clip_resnet,
                                                   tmp_path):
    from PIL import Image

    tower, paths = clip_resnet
    reference = _reference("transformer", vocab_size, seed=5)
    checkpoint = str(tmp_path / "transformer_weights.pt")
    tc.save_official_checkpoint(reference, checkpoint)
    captioner = convert_official_checkpoint(checkpoint, tok_dir, clip=paths[PREFIX_SIZE],
                                            num_heads=GPT_HEADS)
    image = str(tmp_path / "image.png")
    pixels = np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(image)
    stop = captioner.stop_token_ids[0]
    got = captioner.generate([image], "greedy", return_ids=True, max_length=20)
    with torch.no_grad():
        seen = captioner.load_images([image]).numpy().transpose(0, 3, 1, 2)
        embedding = tower(torch.from_numpy(seen.copy())).numpy()
    assert float(np.std(embedding)) > 0
    want = _torch_greedy("transformer", reference, embedding[0], stop, steps=20)
    assert got["token_ids"] == [[want]]

    loaded = load_clipcap(save_clipcap(captioner, str(tmp_path / "with_clip")))
    assert loaded.image_encoder.model_type == "clip_resnet"
    assert loaded.generate([image], "greedy", return_ids=True, max_length=20) == got

    with pytest.raises(ValueError, match=r"rn_8\.pt: CLIP image embeddings have 8 values "
                                         r"but the ClipCap checkpoint expects 16"):
        convert_official_checkpoint(checkpoint, tok_dir, clip=paths[8], num_heads=GPT_HEADS)


# --------------------------------------------------------------------------- errors

@pytest.fixture(scope="module")
def states(vocab_size):
    return {t: tc.official_state_dict(_reference(t, vocab_size)) for t in ("mlp", "transformer")}


@pytest.mark.parametrize("mapping_type,key", [
    ("mlp", "clip_project.foo"),
    ("transformer", "clip_project.transformer.layers.0.attn.to_queries.bias"),
    ("mlp", "gpt.transformer.h.0.attn.extra"),
])
def test_leftover_key_is_named(states, tok_dir, tmp_path, mapping_type, key):
    state = dict(states[mapping_type], **{key: torch.ones(3)})
    path = _write_checkpoint(state, str(tmp_path / "extra.pt"))
    with pytest.raises(CheckpointMismatchError, match="unexpected keys") as error:
        convert_official_checkpoint(path, tok_dir, num_heads=GPT_HEADS)
    assert error.value.unexpected == [key]


@pytest.mark.parametrize("mapping_type,key", [
    ("mlp", "clip_project.model.2.bias"),
    ("transformer", "clip_project.transformer.layers.1.mlp.fc2.weight"),
    ("transformer", "gpt.transformer.h.1.ln_2.bias"),
])
def test_missing_key_is_named(states, tok_dir, tmp_path, mapping_type, key):
    state = {k: v for k, v in states[mapping_type].items() if k != key}
    path = _write_checkpoint(state, str(tmp_path / "missing.pt"))
    with pytest.raises(CheckpointMismatchError, match="missing keys") as error:
        convert_official_checkpoint(path, tok_dir, num_heads=GPT_HEADS)
    assert error.value.missing == [key]


def test_mis_shaped_and_ambiguous_mappers(states, tok_dir, tmp_path):
    state = dict(states["transformer"])
    state["clip_project.transformer.layers.0.mlp.fc1.weight"] = torch.ones(3 * D, D)
    path = _write_checkpoint(state, str(tmp_path / "shaped.pt"))
    with pytest.raises(CheckpointMismatchError) as error:
        convert_official_checkpoint(path, tok_dir, num_heads=GPT_HEADS)
    assert error.value.mis_shaped == [("clip_project.transformer.layers.0.mlp.fc1.weight",
                                       (3 * D, D), (2 * D, D))]
    both = dict(states["mlp"], **{"clip_project.linear.weight": torch.ones(D, PREFIX_SIZE)})
    with pytest.raises(ValueError, match="holds both an MLP"):
        infer_official_config(both, "both.pt")
    bad_rows = dict(states["mlp"], **{"clip_project.model.2.weight": torch.ones(D + 1, 64)})
    with pytest.raises(ValueError, match=r"model\.2\.weight has 33 output rows, not a "
                                         r"multiple of the GPT-2 width 32"):
        infer_official_config(bad_rows, "rows.pt")
    no_mapper = {k: v for k, v in states["mlp"].items() if k.startswith("gpt.")}
    with pytest.raises(CheckpointMismatchError, match="clip_project.model.0.weight"):
        infer_official_config(no_mapper, "gpt_only.pt")


def test_uint8_attention_buffers_are_accepted(converted, tok_dir, tmp_path):
    mapping_type, reference, _, captioner = converted
    path = str(tmp_path / "uint8.pt")
    saved = tc.save_official_checkpoint(reference, path, bias_dtype=torch.uint8)
    assert saved["gpt.transformer.h.0.attn.bias"].dtype == torch.uint8
    again = convert_official_checkpoint(path, tok_dir, num_heads=GPT_HEADS)
    for a, b in zip(again.model.weights, captioner.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_tokenizer_is_required_and_must_fit(tok_dir, vocab_size, tmp_path):
    path = str(tmp_path / "small_vocabulary.pt")
    tc.save_official_checkpoint(_reference("mlp", vocab_size - 10), path)
    with pytest.raises(ValueError, match="GPT-2 tokenizer directory"):
        convert_official_checkpoint(path, None, num_heads=GPT_HEADS)
    with pytest.raises(ValueError, match=rf"tokenizer id {vocab_size - 1} does not fit the "
                                         rf"model's vocabulary of {vocab_size - 10} ids"):
        convert_official_checkpoint(path, tok_dir, num_heads=GPT_HEADS)


# --------------------------------------------------------------------------- command line

def test_convert_command(tok_dir, vocab_size, tmp_path):
    path = str(tmp_path / "mlp_weights.pt")
    tc.save_official_checkpoint(_reference("mlp", vocab_size), path)
    captioner = convert_official_checkpoint(path, tok_dir, num_heads=GPT_HEADS)
    out = str(tmp_path / "converted")
    done = subprocess.run(
        [sys.executable, "-m", "tfcaption.convert", f"--checkpoint={path}",
         f"--gpt2={tok_dir}", f"--out={out}", f"--num_heads={GPT_HEADS}"],
        cwd=REPO, env=_quiet_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith(f"converted mlp_weights.pt: mlp mapper, prefix_length "
                               f"{PREFIX_LEN} from {PREFIX_SIZE}-d CLIP embeddings "
                               f"(normalize_prefix=False), GPT-2 {GPT_LAYERS} layers x {D}")
    assert lines[0].endswith(f"-> {out}")
    assert {"config.json", "model.weights.h5", "vocab.json", "merges.txt"} <= set(
        os.listdir(out))
    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        config = json.load(f)["config"]
    assert config["converted_from"] == "mlp_weights.pt" and config["mapping_type"] == "mlp"
    prefixes = _prefixes(2, seed=11)
    loaded = load_clipcap(out)
    assert (loaded.generate(prefixes, return_ids=True, max_length=10)
            == captioner.generate(prefixes, return_ids=True, max_length=10))

    forced = str(tmp_path / "forced")
    done = subprocess.run(
        [sys.executable, "-m", "tfcaption.convert", f"--checkpoint={path}",
         f"--gpt2={tok_dir}", f"--out={forced}", f"--num_heads={GPT_HEADS}",
         "--normalize_prefix=true"],
        cwd=REPO, env=_quiet_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "(normalize_prefix=True)" in done.stdout
    assert load_clipcap(forced).model.normalize_prefix

    # bad inputs: one error line, no traceback, nothing written
    failed = subprocess.run(
        [sys.executable, "-m", "tfcaption.convert", f"--checkpoint={path}",
         f"--gpt2={tok_dir}", f"--out={tmp_path / 'x'}"],
        cwd=REPO, env=_quiet_env(), capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1] == (
        f"error: {path}: GPT-2 width {D} is not a multiple of 64, so its attention heads "
        f"cannot be inferred; pass num_heads")
    assert "Traceback" not in failed.stderr
    assert not os.path.exists(tmp_path / "x")


def test_convert_command_requires_its_flags(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tfcaption.convert",
                           f"--out={tmp_path / 'x'}"], cwd=REPO, env=_quiet_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "--checkpoint" in done.stderr
    assert not os.path.exists(tmp_path / "x")
    done = subprocess.run([sys.executable, "-m", "tfcaption.convert",
                           f"--checkpoint={tmp_path / 'coco_weights.pt'}",
                           f"--out={tmp_path / 'x'}"], cwd=REPO, env=_quiet_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--gpt2" in done.stderr, done.stderr
    assert not os.path.exists(tmp_path / "x")
