"""Official ClipCap checkpoints at their real sizes (random weights, released format):
GPT-2 124M with the MLP mapper (prefix 10 from ViT-B/32's 512-d embeddings, as
``coco_weights.pt``) and with the 8-layer Transformer mapper (prefix 40, clip_length 40
from RN50x4's 640-d embeddings, as ``transformer_weights.pt``), converted and compared
with the PyTorch reference: parameter counts, logits, greedy and beam decoding.

GPT-2's real tokenizer cannot be downloaded here, so the tokenizer is a synthetic one in
GPT-2's exact file format and size (256 byte symbols, 50000 merges, ``<|endoftext|>`` at
50256); the parity checks compare token ids, which do not depend on it.
"""

import itertools
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch_clipcap as tc  # noqa: E402

from tfcaption.decoding.decoding_config import DecodingConfig  # noqa: E402
from tfcaption.models.clipcap.official_checkpoint import (  # noqa: E402
    convert_official_checkpoint, describe)
from tfcaption.tokenizers.bpe_files import byte_symbols, write_bpe_files  # noqa: E402

pytestmark = pytest.mark.slow

GPT2_124M_PARAMS = 124_439_808
VOCAB = 50257
RTOL = 1e-4
GREEDY_STEPS = 20
BEAM_STEPS = 10
RELEASES = {  # mapping type -> (prefix_length, clip_length, CLIP size, mapper params)
    "mlp": (10, None, 512, (512 * 3840 + 3840) + (3840 * 7680 + 7680)),
    "transformer": (40, 40, 640, (640 * 40 * 768 + 40 * 768) + 40 * 768 + 8 * (
        4 * 768 + 768 * 768 + 2 * 768 * 768 + (768 * 768 + 768)
        + (768 * 1536 + 1536) + (1536 * 768 + 768))),
}


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    """A GPT-2-format tokenizer of GPT-2's size: byte symbols, then 50000 merges of two
    byte symbols, then ``<|endoftext|>`` (id 50256)."""
    symbols = byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    merges = []
    for a, b in itertools.product(symbols, symbols):
        if len(vocab) == VOCAB - 1:
            break
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
            merges.append(f"{a} {b}")
    vocab["<|endoftext|>"] = VOCAB - 1
    out = str(tmp_path_factory.mktemp("gpt2_sized_tokenizer"))
    write_bpe_files(out, vocab, merges)
    return out


@pytest.fixture(scope="module", params=["mlp", "transformer"])
def converted(request, tok_dir, tmp_path_factory):
    mapping_type = request.param
    prefix_length, clip_length, prefix_size, _ = RELEASES[mapping_type]
    torch.manual_seed(0)
    reference = tc.ClipCaptionModel(prefix_length, clip_length=clip_length,
                                    prefix_size=prefix_size, num_layers=8,
                                    mapping_type=mapping_type,
                                    gpt_config=transformers.GPT2Config())
    tc.randomize_(reference, seed=1)
    with torch.no_grad():  # GPT-2's init scale for the tied embedding: varied captions
        reference.gpt.transformer.wte.weight.mul_(0.1)
    reference.eval()
    path = str(tmp_path_factory.mktemp("released") / f"{mapping_type}_weights.pt")
    tc.save_official_checkpoint(reference, path)
    captioner = convert_official_checkpoint(path, tok_dir)
    os.remove(path)
    yield mapping_type, reference, captioner
    del reference, captioner


def _prefixes(batch, size, seed):
    return np.random.default_rng(seed).standard_normal((batch, size)).astype(np.float32)


def _torch_prefix(mapping_type, prefix):
    x = torch.from_numpy(prefix)
    return x / x.norm(dim=-1, keepdim=True) if mapping_type == "transformer" else x


def _embed(mapping_type, reference, prefix):
    return reference.prefix_embeddings(_torch_prefix(mapping_type, prefix[None]))


def test_architecture_and_parameter_counts(converted):
    mapping_type, reference, captioner = converted
    prefix_length, clip_length, prefix_size, mapper_params = RELEASES[mapping_type]
    d = describe(captioner)
    assert d["mapping_type"] == mapping_type and d["prefix_length"] == prefix_length
    assert d["prefix_dim"] == prefix_size and d["stop_token_ids"] == [13]  # "."
    assert d["gpt2"] == {"num_layers": 12, "hidden_dim": 768, "num_heads": 12,
                         "vocabulary_size": VOCAB}
    assert captioner.model.normalize_prefix == (mapping_type == "transformer")
    if mapping_type == "transformer":
        assert (d["clip_length"], d["num_layers"]) == (clip_length, 8)
        assert [b.num_heads for b in captioner.model.mapper.blocks] == [8] * 8
    torch_count = sum(p.numel() for p in reference.parameters())
    keras_count = sum(int(np.prod(w.shape)) for w in captioner.model.trainable_weights)
    assert keras_count == torch_count == GPT2_124M_PARAMS + mapper_params
    assert captioner.model.gpt2.count_params() == GPT2_124M_PARAMS


def test_logits(converted):
    mapping_type, reference, captioner = converted
    prefix_length, _, prefix_size, _ = RELEASES[mapping_type]
    prefix = _prefixes(2, prefix_size, seed=3)
    ids = np.random.default_rng(4).integers(0, VOCAB, (2, 8)).astype(np.int32)
    with torch.no_grad():
        ref = reference(torch.from_numpy(ids).long(),
                        _torch_prefix(mapping_type, prefix)).numpy()[:, prefix_length - 1:-1]
    got = captioner.model({"prefix": prefix, "token_ids": ids,
                           "padding_mask": np.ones(ids.shape, bool)}).numpy()
    assert got.shape == ref.shape == (2, 8, VOCAB)
    scale = float(np.max(np.abs(ref)))
    assert scale > 1.0 and float(np.std(ref)) > 0.1
    worst = float(np.max(np.abs(got - ref)))
    assert worst <= RTOL * scale, f"max|diff| {worst:.3g} > {RTOL} * max|ref| {scale:.3g}"


@pytest.fixture(scope="module")
def greedy_reference(converted):
    """One CLIP embedding and the official greedy tokens from it (no stop token)."""
    mapping_type, reference, _ = converted
    prefix = _prefixes(1, RELEASES[mapping_type][2], seed=5)
    ids = tc.official_generate_greedy(reference, _embed(mapping_type, reference, prefix[0]),
                                      -1, max_length=GREEDY_STEPS)
    assert len(set(ids)) >= 3, ids  # not a degenerate repetition
    return prefix, ids


def test_greedy(converted, greedy_reference):
    _, _, captioner = converted
    prefix, want = greedy_reference
    silent = min(set(range(VOCAB)) - set(want))
    config = DecodingConfig("greedy", max_length=GREEDY_STEPS, stop_token_ids=(silent,))
    result = captioner.model.generate_ids(tf.constant(prefix), config)  # eager
    assert result.lengths.numpy().tolist() == [[GREEDY_STEPS]]
    assert result.token_ids.numpy()[0, 0].tolist() == want


def test_beam(converted, greedy_reference):
    mapping_type, reference, captioner = converted
    prefix, greedy = greedy_reference
    # a stop token the likely paths emit: the first new greedy token after position 1
    stop = next(t for k, t in enumerate(greedy) if k >= 2 and t not in greedy[:k])
    want = tc.official_generate_beam(reference, _embed(mapping_type, reference, prefix[0]),
                                     stop, beam_size=5, max_length=BEAM_STEPS)
    out = captioner.generate(prefix, "beam", return_ids=True, return_scores=True,  # XLA
                             beam_size=5, num_return_sequences=5, max_length=BEAM_STEPS,
                             stop_token_ids=(stop,))
    assert out["token_ids"][0] == [ids for ids, _ in want]
    np.testing.assert_allclose(out["scores"][0], [score for _, score in want],
                               rtol=1e-5, atol=1e-5)
