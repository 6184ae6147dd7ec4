"""RoBERTa: our tokenizer gives Hugging Face's ids; load_roberta converts HF ``RobertaModel`` /
``RobertaForMaskedLM`` directories (safetensors and .bin) into a RobertaEncoder whose
sequence and pooled outputs match transformers; model dirs round-trip; errors name the
problem.

Parameter counts: ours counts the keras-hub backbone (word embeddings, position table of
``max_position_embeddings - 2`` rows, LayerNorms, transformer layers) plus the pooler. HF
additionally holds ``token_type_embeddings`` (folded into our position table) and the 2
reserved position rows, so ours == HF ``RobertaModel`` - type_vocab_size * hidden
- 2 * hidden.
"""

import json
import logging
import os
import random
import shutil

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import torch
import transformers
from safetensors.torch import save_file

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.backbones.roberta_encoder import RobertaEncoder
from tfcaption.backbones.roberta_loader import load_roberta, save_roberta
from tfcaption.tokenizers.bpe_trainer import train_bpe
from tfcaption.tokenizers.gpt2_tokenizer import END_OF_TEXT
from tfcaption.tokenizers.roberta_tokenizer import RobertaTokenizer, load_roberta_tokenizer

CORPUS = ["a red circle in the top left", "two blue squares and 2024 green triangles!",
          "it's a dog's life, isn't it?", "  multiple   spaces\tand\nnewlines  ",
          "naïve café — 東京 😀", "a\u00a0b\u3000c \u2002 x"]
_ALPHABET = list("ab c  \t\n12'sS.,!é東😀-") + [
    "'s", "\u00a0", "\r", "\u3000", "\u2009", "\u2028", "\x85", " the", "red", "<s>",
    "</s>", "<pad>", "<unk>", "<mask>"]
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            max_position_embeddings=66)


def _random_texts(n, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 14)))
            for _ in range(n)]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    """A tiny tokenizer in roberta-base's layout: <s> <pad> </s> <unk>, BPE, <mask> last."""
    gpt2 = str(tmp_path_factory.mktemp("gpt2_bpe"))
    train_bpe(CORPUS * 20, gpt2, vocab_size=400, min_frequency=2)
    with open(os.path.join(gpt2, "vocab.json"), encoding="utf-8") as f:
        gpt2_vocab = json.load(f)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for token in sorted(gpt2_vocab, key=gpt2_vocab.get):
        if token != END_OF_TEXT:
            vocab[token] = len(vocab)
    vocab["<mask>"] = len(vocab)
    out = str(tmp_path_factory.mktemp("roberta_tok"))
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    shutil.copy(os.path.join(gpt2, "merges.txt"), os.path.join(out, "merges.txt"))
    return out


@pytest.fixture(scope="module")
def vocab_size(tok_dir):
    with open(os.path.join(tok_dir, "vocab.json"), encoding="utf-8") as f:
        return len(json.load(f))


# ------------------------------------------------------------------ tokenizer
def test_tokenizer_parity_with_hugging_face(tok_dir):
    hf = transformers.RobertaTokenizerFast.from_pretrained(tok_dir)
    tok = load_roberta_tokenizer(tok_dir)
    assert (tok.start_token_id, tok.pad_token_id, tok.end_token_id, tok.unk_token_id,
            tok.mask_token_id) == (0, 1, 2, 3, hf.mask_token_id)
    texts = CORPUS + ["a  b", "trailing  ", "", "   ", "<unk> a", "x  <mask>", "a<s>b",
                      "a\u3000\u3000b  c"] + _random_texts(400, seed=1)
    expected = [hf(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert tok.tokenize(tf.constant(texts)).to_list() == expected
    assert tok.tokenize(texts[1]).numpy().tolist() == expected[1]
    mapped = tf.data.Dataset.from_tensor_slices(texts[:40]).map(tok.tokenize)
    assert [ids.tolist() for ids in mapped.as_numpy_iterator()] == expected[:40]
    back = [t.decode("utf-8") for t in tok.detokenize(tok.tokenize(texts)).numpy()]
    assert back == texts == [hf.decode(ids) for ids in expected]
    # keras-hub's own RobertaTokenizer splits runs of spaces and "<unk>" differently.
    stock = keras_hub.tokenizers.RobertaTokenizer(vocabulary=tok.vocabulary, merges=tok.merges)
    for text in ("a  b", "<unk> a"):
        assert [int(i) for i in stock(text)] != hf(text, add_special_tokens=False)["input_ids"]
    assert RobertaTokenizer.from_config(tok.get_config()).get_config() == tok.get_config()


# ------------------------------------------------------------------ HF models
def _perturbed(model, seed):
    """Random LayerNorm scales/shifts, biases and token-type rows (not HF's init)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if "LayerNorm" in name or "layer_norm" in name:
                param.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * noise)
            elif name.endswith("bias") or "token_type" in name:
                param.copy_(0.05 * noise)
    return model.eval()


def _hf_dir(root, cls, tok_dir, safetensors, seed, **config):
    torch.manual_seed(seed)
    model = _perturbed(cls(transformers.RobertaConfig(**config)), seed)
    out = os.path.join(root, f"{cls.__name__}_{'st' if safetensors else 'bin'}")
    model.save_pretrained(out)
    if not safetensors:  # the pickle layout of older hub checkpoints (tied lm_head.decoder kept)
        os.remove(os.path.join(out, "model.safetensors"))
        torch.save(model.state_dict(), os.path.join(out, "pytorch_model.bin"))
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tok_dir, name), os.path.join(out, name))
    return model, out


def _batch(vocab_size, seq_len, lengths, seed):
    """Right-padded ``<s> ... </s> <pad>...`` ids (no <pad> inside) and their mask."""
    rng = np.random.default_rng(seed)
    ids = np.full((len(lengths), seq_len), 1, np.int32)
    mask = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(3, vocab_size, n)
        ids[row, 0], ids[row, n - 1] = 0, 2
        mask[row, :n] = 1
    return ids, mask


def _assert_close(ours, ref, mask=None, rtol=1e-4):
    ours, ref = np.asarray(ours), np.asarray(ref)
    if mask is not None:
        ours, ref = ours[mask.astype(bool)], ref[mask.astype(bool)]
    assert np.abs(ref).max() > 0.1
    diff = np.abs(ours - ref).max()
    assert diff <= rtol * np.abs(ref).max(), f"max|diff| {diff} vs max|ref| {np.abs(ref).max()}"
    return diff


def _ours(model, ids, mask):
    out = model({"token_ids": tf.constant(ids), "padding_mask": tf.constant(mask)})
    return out["sequence_output"].numpy(), out["pooled_output"].numpy()


def _hf_count(config, pooler):
    with torch.device("meta"):  # shapes only
        base = transformers.RobertaModel(config, add_pooling_layer=pooler)
    return sum(p.numel() for p in base.parameters())


def _expected_count(config):
    return (_hf_count(config, pooler=True) - config.type_vocab_size * config.hidden_size
            - 2 * config.hidden_size)


@pytest.fixture(scope="module")
def masked_lm(tmp_path_factory, tok_dir, vocab_size):
    """A RobertaForMaskedLM (.bin, no pooler, eps 1e-7, one token type) and its load."""
    root = str(tmp_path_factory.mktemp("hf_mlm"))
    hf, path = _hf_dir(root, transformers.RobertaForMaskedLM, tok_dir, safetensors=False,
                       seed=1, vocab_size=vocab_size, layer_norm_eps=1e-7, type_vocab_size=1,
                       **TINY)
    return hf, path


def test_roberta_model_parity_safetensors(tmp_path, tok_dir, vocab_size):
    hf, path = _hf_dir(str(tmp_path), transformers.RobertaModel, tok_dir, safetensors=True,
                       seed=0, vocab_size=vocab_size, type_vocab_size=2, layer_norm_eps=1e-5,
                       **TINY)
    loaded = load_roberta(path)
    model = loaded.model
    assert loaded.model_type == "roberta" and isinstance(model, RobertaEncoder)
    assert loaded.config["pooler_from_checkpoint"] is True
    assert loaded.config["max_sequence_length"] == 64 == TINY["max_position_embeddings"] - 2
    assert loaded.config["type_vocab_size"] == 2
    assert model.count_params() == _expected_count(hf.config)
    assert isinstance(loaded.tokenizer, RobertaTokenizer)

    ids, mask = _batch(vocab_size, 64, [64, 20, 5], seed=0)
    with torch.no_grad():
        ref = hf(input_ids=torch.tensor(ids, dtype=torch.long),
                 attention_mask=torch.tensor(mask, dtype=torch.long))
    seq, pooled = _ours(model, ids, mask)
    _assert_close(seq, ref.last_hidden_state.numpy(), mask)
    _assert_close(pooled, ref.pooler_output.numpy())


def test_masked_lm_parity_bin_and_fresh_pooler(masked_lm, caplog):
    hf, path = masked_lm
    with caplog.at_level(logging.WARNING, logger="tfcaption.backbones.roberta_loader"):
        loaded = load_roberta(path)
    assert "no pooler weights" in caplog.text and "freshly initialised" in caplog.text
    model = loaded.model
    assert loaded.config["pooler_from_checkpoint"] is False
    assert loaded.config["architectures"] == ["RobertaForMaskedLM"]
    assert loaded.config["layer_norm_epsilon"] == 1e-7
    assert len(model.layer_norms) == 1 + 2 * 2
    assert all(norm.epsilon == 1e-7 for norm in model.layer_norms)
    assert model.count_params() == _expected_count(hf.config)

    ids, mask = _batch(hf.config.vocab_size, 40, [40, 13, 2], seed=1)
    with torch.no_grad():
        ref = hf.roberta(input_ids=torch.tensor(ids, dtype=torch.long),
                         attention_mask=torch.tensor(mask, dtype=torch.long)).last_hidden_state
    seq, pooled = _ours(model, ids, mask)
    _assert_close(seq, ref.numpy(), mask)
    kernel, bias = (w.numpy() for w in model.pooler.weights)
    _assert_close(pooled, np.tanh(ref.numpy()[:, 0] @ kernel + bias))
    # The epsilon matters at this tolerance: keras-hub's 1e-5 fails parity
    for norm in model.layer_norms:
        norm.epsilon = 1e-5
    try:
        wrong, _ = _ours(model, ids, mask)
    finally:
        for norm in model.layer_norms:
            norm.epsilon = 1e-7
    # (max|diff| is ~5x the tolerance here.)
    assert np.abs(wrong - ref.numpy())[mask.astype(bool)].max() > 2e-4 * np.abs(
        ref.numpy()).max()


def test_model_dir_round_trip(masked_lm, tmp_path):
    loaded = load_roberta(masked_lm[1])
    out = save_roberta(loaded, tmp_path / "roberta")
    again = load_roberta(out)
    assert again.model_type == "roberta" and again.config == loaded.config
    assert again.model.get_config() == loaded.model.get_config()
    assert all(norm.epsilon == 1e-7 for norm in again.model.layer_norms)
    ids, mask = _batch(loaded.model.vocabulary_size, 10, [10, 4], seed=2)
    for a, b in zip(_ours(loaded.model, ids, mask), _ours(again.model, ids, mask)):
        np.testing.assert_array_equal(a, b)
    texts = CORPUS + ["a  b <unk>"]
    assert again.tokenizer.tokenize(texts).to_list() == loaded.tokenizer.tokenize(texts).to_list()
    assert sorted(os.listdir(out)) == ["config.json", "merges.txt", "model.weights.h5",
                                       "vocab.json"]


# ---------------------------------------------------------------------- errors
def test_missing_files_and_wrong_model_type(masked_lm, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_roberta(tmp_path / "nowhere")
    src = masked_lm[1]
    for name, message in [("config.json", "config.json"), ("pytorch_model.bin", "no weights"),
                          ("vocab.json", "vocab.json"), ("merges.txt", "merges.txt")]:
        d = tmp_path / name.replace(".", "_")
        shutil.copytree(src, d)
        os.remove(d / name)
        with pytest.raises(FileNotFoundError, match=message):
            load_roberta(d)
    d = tmp_path / "bert"
    shutil.copytree(src, d)
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps(dict(config, model_type="bert")))
    with pytest.raises(ValueError, match="model_type is 'bert', expected 'roberta'"):
        load_roberta(d)


def test_checkpoint_mismatch_names_every_key(masked_lm, tmp_path):
    hf, src = masked_lm
    state = {k: v.clone() for k, v in hf.state_dict().items() if k != "lm_head.decoder.weight"}
    del state["roberta.encoder.layer.1.output.dense.bias"]
    state["roberta.encoder.layer.0.extra.weight"] = torch.ones(3)
    state["roberta.encoder.layer.0.intermediate.dense.weight"] = torch.ones(100, 64)
    # Same element count, transposed layout: must not load scrambled.
    transposed = "roberta.encoder.layer.1.intermediate.dense.weight"
    assert tuple(state[transposed].shape) == (128, 64)
    state[transposed] = state[transposed].T.contiguous()
    d = tmp_path / "broken"
    shutil.copytree(src, d)
    os.remove(d / "pytorch_model.bin")
    save_file(state, str(d / "model.safetensors"))
    with pytest.raises(CheckpointMismatchError) as info:
        load_roberta(d)
    error = info.value
    assert error.missing == ["encoder.layer.1.output.dense.bias"]
    assert error.unexpected == ["encoder.layer.0.extra.weight"]
    assert error.mis_shaped == [
        ("encoder.layer.0.intermediate.dense.weight", (100, 64), (128, 64)),
        ("encoder.layer.1.intermediate.dense.weight", (64, 128), (128, 64))]
    for key in ("encoder.layer.1.output.dense.bias", "encoder.layer.0.extra.weight",
                "encoder.layer.0.intermediate.dense.weight: checkpoint (100, 64) vs "
                "expected (128, 64)", "encoder.layer.1.intermediate.dense.weight: "
                "checkpoint (64, 128) vs expected (128, 64)", "without their 'roberta.'"):
        assert key in str(error)


def test_tokenizer_must_fit_the_vocabulary(masked_lm, tmp_path):
    d = tmp_path / "small_vocab"
    shutil.copytree(masked_lm[1], d)
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps(dict(config, vocab_size=config["vocab_size"] - 1)))
    with pytest.raises(ValueError, match=f"tokenizer id {config['vocab_size'] - 1} does not"):
        load_roberta(d)


def test_prefixed_and_plain_copies_of_a_key_are_rejected(masked_lm, tmp_path):
    hf, src = masked_lm
    state = {k: v.clone() for k, v in hf.state_dict().items() if k != "lm_head.decoder.weight"}
    state["embeddings.LayerNorm.weight"] = state["roberta.embeddings.LayerNorm.weight"].clone()
    d = tmp_path / "both"
    shutil.copytree(src, d)
    os.remove(d / "pytorch_model.bin")
    save_file(state, str(d / "model.safetensors"))
    with pytest.raises(ValueError, match="'embeddings.LayerNorm.weight' both with and without"):
        load_roberta(d)


# ------------------------------------------------------------------ real size
@pytest.mark.slow
def test_roberta_base_size_parity(tmp_path, tok_dir):
    """roberta-base's real config.json values, random weights, saved as the hub's
    RobertaForMaskedLM safetensors (no pooler)."""
    config = dict(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                  layer_norm_eps=1e-5)
    hf, path = _hf_dir(str(tmp_path), transformers.RobertaForMaskedLM, tok_dir,
                       safetensors=True, seed=3, **config)
    loaded = load_roberta(path)
    model = loaded.model
    assert loaded.config["max_sequence_length"] == 512
    # HF RobertaModel(roberta-base) has 124,645,632 parameters (pooler included).
    assert _hf_count(hf.config, pooler=True) == 124_645_632
    assert model.count_params() == _expected_count(hf.config) == 124_645_632 - 3 * 768
    ids, mask = _batch(50265, 48, [48, 30], seed=3)
    with torch.no_grad():
        ref = hf.roberta(input_ids=torch.tensor(ids, dtype=torch.long),
                         attention_mask=torch.tensor(mask, dtype=torch.long)).last_hidden_state
    seq, pooled = _ours(model, ids, mask)
    _assert_close(seq, ref.numpy(), mask)
    kernel, bias = (w.numpy() for w in model.pooler.weights)
    _assert_close(pooled, np.tanh(ref.numpy()[:, 0] @ kernel + bias))
