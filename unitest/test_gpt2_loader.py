"""GPT-2 loading: parity against Hugging Face ``GPT2LMHeadModel`` in every real layout."""

import json
import logging
import os
import shutil

import keras
import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.gpt2_backbone import lm_logits
from tfcaption.backbones.gpt2_loader import load_gpt2, save_gpt2
from tfcaption.backbones.gpt2_weights import state_from_backbone
from tfcaption.tokenizers.bpe_trainer import train_bpe
from tfcaption.tokenizers.gpt2_tokenizer import GPT2Tokenizer

SENTENCES = ["a red circle above a blue square", "two green triangles on the left",
             "a small yellow star next to a large red circle", "three blue squares",
             "the circle is to the right of the triangle"] * 3
TINY = dict(n_layer=2, n_embd=64, n_head=4, n_positions=64)
RTOL = 1e-4  # max|diff| <= RTOL * max|reference|
# ClipCap's MLP mapping network for a 16-d CLIP embedding and a 2-token prefix (2 * 64).
CLIP_PROJECT = {"clip_project.model.0.weight": torch.randn(64, 16),
                "clip_project.model.0.bias": torch.randn(64),
                "clip_project.model.2.weight": torch.randn(128, 64),
                "clip_project.model.2.bias": torch.randn(128)}


def _reference(vocab_size, seed=0, **overrides):
    """A tiny GPT2LMHeadModel with random, non-default weights (LayerNorms and biases too)."""
    cfg = GPT2Config(vocab_size=vocab_size, bos_token_id=vocab_size - 1,
                     eos_token_id=vocab_size - 1, **{**TINY, **overrides})
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_gain = ".ln_" in name and name.endswith("weight")
            p.copy_((1.0 if is_gain else 0.0) + 0.1 * torch.randn_like(p))
    return model.eval()


def _batch(vocab_size, seed=1):
    """Random ids [3, 10], right-padded to lengths 10 / 6 / 2 (pad ids are random too)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab_size, size=(3, 10)).astype("int32")
    mask = (np.arange(10)[None] < np.array([10, 6, 2])[:, None]).astype("int32")
    return ids, mask


def _assert_parity(loaded, reference, ids, mask):
    n_ref = sum(p.numel() for p in reference.parameters())
    assert loaded.model.count_params() == n_ref
    with torch.no_grad():
        ref = reference(input_ids=torch.from_numpy(ids).long(),
                        attention_mask=torch.from_numpy(mask).long()).logits.numpy()
    hidden = loaded.model({"token_ids": ids, "padding_mask": mask})
    got = keras.ops.convert_to_numpy(lm_logits(loaded.model, hidden))
    assert got.shape == ref.shape
    keep = mask.astype(bool)
    diff = np.max(np.abs(got[keep] - ref[keep]))
    scale = np.max(np.abs(ref[keep]))
    assert scale > 1.0  # real, non-trivial logits
    assert diff <= RTOL * scale, f"max|diff| {diff} > {RTOL} * {scale}"
    return got


def _write_bin_dir(out, reference, state, tok_dir):
    os.makedirs(out)
    torch.save(state, os.path.join(out, "pytorch_model.bin"))
    reference.config.to_json_file(os.path.join(out, "config.json"))
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tok_dir, name), out)
    return out


def _with_buffers(state, prefix, n_layer, n_positions):
    """Adds the causal-mask buffers old transformers versions saved in every block."""
    state = dict(state)
    causal = torch.tril(torch.ones(n_positions, n_positions, dtype=torch.uint8))
    for i in range(n_layer):
        state[f"{prefix}h.{i}.attn.bias"] = causal.view(1, 1, n_positions, n_positions)
        state[f"{prefix}h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    return state


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """One tiny reference model saved in every supported layout."""
    root = tmp_path_factory.mktemp("gpt2")
    tok_dir = str(root / "tok")
    train_bpe(SENTENCES, tok_dir, vocab_size=300, min_frequency=1)
    with open(os.path.join(tok_dir, "vocab.json"), encoding="utf-8") as f:
        vocab_size = len(json.load(f))
    reference = _reference(vocab_size)
    state = reference.state_dict()
    assert "lm_head.weight" in state and "transformer.wte.weight" in state

    hf_safe = str(root / "hf_safetensors")
    reference.save_pretrained(hf_safe)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tok_dir, name), hf_safe)
    hf_bin = _write_bin_dir(str(root / "hf_bin"), reference, state, tok_dir)
    # Layout of the official "gpt2" repo: GPT2Model keys (no prefix) + attn buffers.
    base = {k[len("transformer."):]: v for k, v in state.items() if k.startswith("transformer.")}
    hf_official = _write_bin_dir(str(root / "hf_official"), reference,
                                 _with_buffers(base, "", TINY["n_layer"], TINY["n_positions"]),
                                 tok_dir)
    # Official ClipCap .pt: the GPT2LMHeadModel under "gpt." with the old buffers, next to
    # the MLP mapping network (Linear, Tanh, Linear) under "clip_project.".
    clipcap = {"gpt." + k: v for k, v in state.items()}
    clipcap = _with_buffers(clipcap, "gpt.transformer.", TINY["n_layer"], TINY["n_positions"])
    clipcap.update(CLIP_PROJECT)
    bare = str(root / "clipcap_gpt.pt")
    torch.save(clipcap, bare)
    ids, mask = _batch(vocab_size)
    return dict(root=root, tok_dir=tok_dir, vocab_size=vocab_size, reference=reference,
                state=state, hf_safe=hf_safe, hf_bin=hf_bin, hf_official=hf_official,
                bare=bare, ids=ids, mask=mask)


def _expected_config(vocab_size, eps=1e-5):
    return {"vocabulary_size": vocab_size, "num_layers": 2, "num_heads": 4, "hidden_dim": 64,
            "intermediate_dim": 256, "max_sequence_length": 64, "layer_norm_epsilon": eps,
            "dropout": 0.1}


def test_hf_safetensors_dir(ckpt):
    loaded = load_gpt2(ckpt["hf_safe"])
    assert loaded.model_type == "gpt2"
    assert loaded.config == _expected_config(ckpt["vocab_size"])
    assert isinstance(loaded.tokenizer, GPT2Tokenizer)
    assert loaded.tokenizer.vocabulary_size() == ckpt["vocab_size"]
    _assert_parity(loaded, ckpt["reference"], ckpt["ids"], ckpt["mask"])
    # The map is exact and invertible: every HF tensor comes back bit for bit.
    back = state_from_backbone(loaded.model)
    expected = {k: v.numpy() for k, v in ckpt["state"].items() if k != "lm_head.weight"}
    assert sorted(back) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(back[key], value, err_msg=key)


@pytest.mark.parametrize("layout", ["hf_bin", "hf_official", "bare"])
def test_other_layouts(ckpt, layout):
    # A bare state_dict has no config: num_heads defaults to hidden / 64 (1 here).
    bare = layout == "bare"
    loaded = load_gpt2(ckpt[layout], config={"num_heads": 4} if bare else None,
                       prefix="gpt." if bare else None)
    assert loaded.config == _expected_config(ckpt["vocab_size"])
    assert (loaded.tokenizer is None) == (layout == "bare")
    _assert_parity(loaded, ckpt["reference"], ckpt["ids"], ckpt["mask"])


def test_layer_norm_epsilon_and_model_dir_round_trip(ckpt, tmp_path):
    eps = 1e-2  # GPT-2 activations are small: 1e-2 vs 1e-5 changes the logits a lot
    reference = _reference(ckpt["vocab_size"], seed=5, layer_norm_epsilon=eps)
    hf_dir = str(tmp_path / "hf_eps")
    reference.save_pretrained(hf_dir)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(ckpt["tok_dir"], name), hf_dir)
    ids, mask = ckpt["ids"], ckpt["mask"]
    loaded = load_gpt2(hf_dir)
    assert loaded.config["layer_norm_epsilon"] == eps
    assert [n.epsilon for n in loaded.model.layer_norms()] == [eps] * 5
    got = _assert_parity(loaded, reference, ids, mask)

    wrong = load_gpt2(hf_dir, config={"layer_norm_epsilon": 1e-5})
    hidden = wrong.model({"token_ids": ids, "padding_mask": mask})
    off = keras.ops.convert_to_numpy(lm_logits(wrong.model, hidden))
    keep = mask.astype(bool)
    assert np.max(np.abs(off[keep] - got[keep])) > 100 * RTOL * np.max(np.abs(got[keep]))

    out = save_gpt2(loaded, str(tmp_path / "model_dir"))
    assert sorted(os.listdir(out)) == ["config.json", "merges.txt", "model.weights.h5",
                                       "vocab.json"]
    again = load_gpt2(out)
    assert again.config == loaded.config
    assert again.model.get_config()["layer_norm_epsilon"] == eps
    assert [n.epsilon for n in again.model.layer_norms()] == [eps] * 5
    assert again.tokenizer.vocabulary == loaded.tokenizer.vocabulary
    text = "a red circle above two green triangles"
    np.testing.assert_array_equal(again.tokenizer.tokenize(text), loaded.tokenizer.tokenize(text))
    _assert_parity(again, reference, ids, mask)


def test_mismatch_names_every_key(ckpt, tmp_path):
    state = dict(ckpt["state"])
    del state["transformer.h.1.mlp.c_proj.bias"]
    state["transformer.h.0.attn.extra.weight"] = torch.ones(3)
    state["transformer.h.0.attn.c_attn.weight"] = torch.ones(64, 191)
    path = str(tmp_path / "broken.pt")
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_gpt2(path)
    e = err.value
    assert e.missing == ["transformer.h.1.mlp.c_proj.bias"]
    assert e.unexpected == ["transformer.h.0.attn.extra.weight"]
    assert e.mis_shaped == [("transformer.h.0.attn.c_attn.weight", (64, 191), (64, 192))]
    for key in ("transformer.h.1.mlp.c_proj.bias", "transformer.h.0.attn.extra.weight",
                "transformer.h.0.attn.c_attn.weight", path):
        assert key in str(e)


def test_untied_head_is_rejected(ckpt, tmp_path):
    state = dict(ckpt["state"])
    state["lm_head.weight"] = state["lm_head.weight"] + 1.0
    path = str(tmp_path / "untied.bin")
    torch.save(state, path)
    with pytest.raises(ValueError, match="lm_head.weight differs .* untied LM heads are unsupp"):
        load_gpt2(path)


def test_bad_paths_and_configs(ckpt, tmp_path):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_gpt2(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty[/\\]config\.json"):
        load_gpt2(str(empty))
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    shutil.copy(os.path.join(ckpt["hf_safe"], "config.json"), no_weights)
    with pytest.raises(FileNotFoundError, match="no_weights has no weights"):
        load_gpt2(str(no_weights))
    bert = tmp_path / "bert"
    shutil.copytree(ckpt["hf_safe"], bert)
    with open(bert / "config.json", "w") as f:
        json.dump({"model_type": "bert", "vocab_size": 10}, f)
    with pytest.raises(ValueError, match=r"bert[/\\]config\.json: model_type is 'bert'"):
        load_gpt2(str(bert))
    assert load_gpt2(ckpt["bare"], prefix="gpt.").config["num_heads"] == 1  # 64 / 64
    with pytest.raises(ValueError, match="not divisible into num_heads=5"):
        load_gpt2(ckpt["bare"], config={"num_heads": 5}, prefix="gpt.")
    with pytest.raises(ValueError, match=r"unknown GPT-2 config key\(s\) \['n_head'\]"):
        load_gpt2(ckpt["bare"], config={"n_head": 4}, prefix="gpt.")


def test_clipcap_checkpoint_needs_the_gpt_prefix(ckpt):
    with pytest.raises(CheckpointMismatchError) as err:
        load_gpt2(ckpt["bare"], config={"num_heads": 4})
    assert err.value.unexpected == sorted(CLIP_PROJECT)
    assert err.value.missing == [] and err.value.mis_shaped == []
    with pytest.raises(CheckpointMismatchError, match=r"missing keys.*\n.*gpt2\.\*"):
        load_gpt2(ckpt["bare"], prefix="gpt2.")
    loaded = load_gpt2(ckpt["bare"], config={"num_heads": 4}, prefix="gpt.")
    _assert_parity(loaded, ckpt["reference"], ckpt["ids"], ckpt["mask"])


@pytest.mark.parametrize("present,absent", [("vocab.json", "merges.txt"),
                                            ("merges.txt", "vocab.json")])
def test_half_a_tokenizer_names_the_missing_file(ckpt, tmp_path, present, absent):
    hf_dir = tmp_path / "hf"
    shutil.copytree(ckpt["hf_safe"], hf_dir)
    os.remove(hf_dir / absent)
    with pytest.raises(FileNotFoundError, match=rf"missing file: .*hf[/\\]{absent}"):
        load_gpt2(str(hf_dir))
    os.remove(hf_dir / present)
    assert load_gpt2(str(hf_dir)).tokenizer is None


def test_tokenizer_must_fit_the_vocabulary(ckpt, tmp_path):
    hf_dir = tmp_path / "hf"
    shutil.copytree(ckpt["hf_safe"], hf_dir)
    vocab = json.loads((hf_dir / "vocab.json").read_text())
    vocab["extra-token"] = ckpt["vocab_size"]  # one id past the embedding
    (hf_dir / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ValueError, match=f"tokenizer id {ckpt['vocab_size']} does not fit"):
        load_gpt2(str(hf_dir))


# --- checkpoint reading ------------------------------------------------------------------

def test_wrapped_checkpoint_logs_what_it_drops(ckpt, tmp_path, caplog):
    path = str(tmp_path / "wrapped.pt")
    torch.save({"state_dict": dict(ckpt["state"], step=7, note="x"), "epoch": 3,
                "optimizer": {"lr": 0.1}}, path)
    with caplog.at_level(logging.INFO, logger="tfcaption.backbones.checkpoint_reader"):
        loaded = load_gpt2(path, config={"num_heads": 4})
    assert "under 'state_dict'" in caplog.text and "['epoch', 'optimizer']" in caplog.text
    assert "non-tensor entries dropped: ['note', 'step']" in caplog.text
    _assert_parity(loaded, ckpt["reference"], ckpt["ids"], ckpt["mask"])


def test_sharded_checkpoint_rejects_a_key_in_two_shards(ckpt, tmp_path):
    from safetensors.torch import save_file

    hf_dir = tmp_path / "sharded"
    shutil.copytree(ckpt["hf_safe"], hf_dir)
    os.remove(hf_dir / "model.safetensors")
    state = {k: v.contiguous() for k, v in ckpt["state"].items() if k != "lm_head.weight"}
    keys = sorted(state)
    halves = {"model-00001-of-00002.safetensors": keys[:len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    for shard, names in halves.items():
        save_file({k: state[k] for k in names}, str(hf_dir / shard))
    index = {"metadata": {}, "weight_map": {k: shard for shard, names in halves.items()
                                            for k in names}}
    (hf_dir / "model.safetensors.index.json").write_text(json.dumps(index))
    _assert_parity(load_gpt2(str(hf_dir)), ckpt["reference"], ckpt["ids"], ckpt["mask"])

    repeated = keys[0]
    save_file({k: state[k] for k in halves["model-00002-of-00002.safetensors"] + [repeated]},
              str(hf_dir / "model-00002-of-00002.safetensors"))
    with pytest.raises(ValueError, match=rf"key '{repeated}' is in two shards: "
                                         r"model-00001-of-00002\.safetensors and "
                                         r"model-00002-of-00002\.safetensors"):
        load_gpt2(str(hf_dir))


@pytest.mark.slow
def test_gpt2_124m_parity(tmp_path):
    cfg = GPT2Config()
    torch.manual_seed(0)
    reference = GPT2LMHeadModel(cfg)
    with torch.no_grad():
        for name, p in reference.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.05 * torch.randn_like(p))
    reference.eval()
    reference.save_pretrained(str(tmp_path / "gpt2"))
    loaded = load_gpt2(str(tmp_path / "gpt2"))
    assert loaded.model.count_params() == 124_439_808
    assert loaded.config["num_heads"] == 12 and loaded.config["num_layers"] == 12
    ids, mask = _batch(cfg.vocab_size, seed=7)
    _assert_parity(loaded, reference, ids, mask)
