"""Checks of the PyTorch ClipCap reference used by the parity tests (tiny models, fast)."""

import os
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch_clipcap as tc  # noqa: E402

VOCAB, N_POS, D, GPT_LAYERS, GPT_HEADS = 50, 64, 32, 2, 4
PREFIX_SIZE, PREFIX_LEN, CLIP_LEN, MAPPER_LAYERS = 16, 4, 4, 2


def make_model(mapping_type, seed=0):
    torch.manual_seed(1234)
    model = tc.ClipCaptionModel(
        PREFIX_LEN, clip_length=CLIP_LEN, prefix_size=PREFIX_SIZE, num_layers=MAPPER_LAYERS,
        mapping_type=mapping_type,
        gpt_config=tc.tiny_gpt_config(vocab_size=VOCAB, n_positions=N_POS, n_embd=D,
                                      n_layer=GPT_LAYERS, n_head=GPT_HEADS))
    tc.randomize_(model, seed)
    return model.eval()


def clip_vector(seed=0, batch=1):
    return torch.randn(batch, PREFIX_SIZE, generator=torch.Generator().manual_seed(seed))


def expected_gpt_shapes():
    shapes = {
        "gpt.transformer.wte.weight": (VOCAB, D),
        "gpt.transformer.wpe.weight": (N_POS, D),
        "gpt.transformer.ln_f.weight": (D,),
        "gpt.transformer.ln_f.bias": (D,),
        "gpt.lm_head.weight": (VOCAB, D),
    }
    for i in range(GPT_LAYERS):
        p = f"gpt.transformer.h.{i}."
        shapes.update({
            p + "ln_1.weight": (D,), p + "ln_1.bias": (D,),
            p + "attn.c_attn.weight": (D, 3 * D), p + "attn.c_attn.bias": (3 * D,),
            p + "attn.c_proj.weight": (D, D), p + "attn.c_proj.bias": (D,),
            p + "ln_2.weight": (D,), p + "ln_2.bias": (D,),
            p + "mlp.c_fc.weight": (D, 4 * D), p + "mlp.c_fc.bias": (4 * D,),
            p + "mlp.c_proj.weight": (4 * D, D), p + "mlp.c_proj.bias": (D,),
            p + "attn.bias": (1, 1, N_POS, N_POS),
            p + "attn.masked_bias": (),
        })
    return shapes


def expected_mlp_shapes():
    hidden = D * PREFIX_LEN // 2
    return {
        "clip_project.model.0.weight": (hidden, PREFIX_SIZE),
        "clip_project.model.0.bias": (hidden,),
        "clip_project.model.2.weight": (D * PREFIX_LEN, hidden),
        "clip_project.model.2.bias": (D * PREFIX_LEN,),
    }


def expected_transformer_shapes():
    shapes = {
        "clip_project.linear.weight": (CLIP_LEN * D, PREFIX_SIZE),
        "clip_project.linear.bias": (CLIP_LEN * D,),
        "clip_project.prefix_const": (PREFIX_LEN, D),
    }
    for i in range(MAPPER_LAYERS):
        p = f"clip_project.transformer.layers.{i}."
        shapes.update({
            p + "norm1.weight": (D,), p + "norm1.bias": (D,),
            p + "attn.to_queries.weight": (D, D),
            p + "attn.to_keys_values.weight": (2 * D, D),
            p + "attn.project.weight": (D, D), p + "attn.project.bias": (D,),
            p + "norm2.weight": (D,), p + "norm2.bias": (D,),
            p + "mlp.fc1.weight": (2 * D, D), p + "mlp.fc1.bias": (2 * D,),
            p + "mlp.fc2.weight": (D, 2 * D), p + "mlp.fc2.bias": (D,),
        })
    return shapes


@pytest.mark.parametrize("mapping_type", ["mlp", "transformer"])
def test_checkpoint_keys_shapes_and_dtypes(tmp_path, mapping_type):
    model = make_model(mapping_type)
    path = str(tmp_path / "weights.pt")
    tc.save_official_checkpoint(model, path)
    sd = torch.load(path, weights_only=True)

    expected = expected_gpt_shapes()
    expected.update(expected_mlp_shapes() if mapping_type == "mlp"
                    else expected_transformer_shapes())
    assert set(sd) == set(expected)
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
        assert sd[key].device.type == "cpu" and sd[key].is_contiguous(), key

    tril = torch.tril(torch.ones(N_POS, N_POS, dtype=torch.bool))
    for i in range(GPT_LAYERS):
        bias = sd[f"gpt.transformer.h.{i}.attn.bias"]
        assert bias.dtype == torch.bool
        assert torch.equal(bias[0, 0], tril)
        masked = sd[f"gpt.transformer.h.{i}.attn.masked_bias"]
        assert masked.dtype == torch.float32 and float(masked) == -1e4
    for key, value in sd.items():
        if value.is_floating_point() and not key.endswith("masked_bias"):
            assert value.dtype == torch.float32, key
            assert bool((value != 0).all()), f"{key} has zeros after randomize_"
    assert torch.equal(sd["gpt.lm_head.weight"], sd["gpt.transformer.wte.weight"])


def test_checkpoint_uint8_attention_bias(tmp_path):
    path = str(tmp_path / "old.pt")
    tc.save_official_checkpoint(make_model("mlp"), path, bias_dtype=torch.uint8)
    sd = torch.load(path, weights_only=True)
    bias = sd["gpt.transformer.h.0.attn.bias"]
    assert bias.dtype == torch.uint8
    assert torch.equal(bias[0, 0], torch.tril(torch.ones(N_POS, N_POS, dtype=torch.uint8)))


@pytest.mark.parametrize("mapping_type", ["mlp", "transformer"])
def test_checkpoint_round_trip(tmp_path, mapping_type):
    model = make_model(mapping_type, seed=3)
    path = str(tmp_path / "weights.pt")
    tc.save_official_checkpoint(model, path)

    fresh = make_model(mapping_type, seed=99)
    tokens = torch.tensor([[5, 17, 3, 42, 8, 1]])
    prefix = clip_vector(7)
    with torch.no_grad():
        before = fresh(tokens, prefix)
        ref = model(tokens, prefix)
    assert not torch.allclose(before, ref)

    result = fresh.load_state_dict(torch.load(path, weights_only=True), strict=False)
    assert result.missing_keys == []
    assert sorted(result.unexpected_keys) == sorted(tc.attention_buffer_keys(GPT_LAYERS))
    assert fresh.gpt.lm_head.weight is fresh.gpt.transformer.wte.weight
    with torch.no_grad():
        after = fresh(tokens, prefix)
    assert after.shape == (1, PREFIX_LEN + tokens.shape[1], VOCAB)
    assert torch.equal(after, ref)


def test_gpt_runs_eager_attention():
    model = make_model("mlp")
    assert model.gpt.config._attn_implementation == "eager"


def test_mapper_attention_matches_per_head_loop():
    """Independent per-head computation of the fused key/value attention layout."""
    torch.manual_seed(0)
    heads = 8
    attn = tc.MultiHeadAttention(D, D, heads, bias=False)
    tc.randomize_(attn, 5)
    x = torch.randn(2, 6, D)
    with torch.no_grad():
        out, _ = attn(x)
        q = x @ attn.to_queries.weight.T
        kv = x @ attn.to_keys_values.weight.T  # [b, n, 2D]: keys are the first D columns
        hd = D // heads
        k, v = kv[..., :D], kv[..., D:]
        parts = []
        for h in range(heads):
            sl = slice(h * hd, (h + 1) * hd)
            w = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) * hd ** -0.5, dim=-1)
            parts.append(w @ v[..., sl])
        manual = torch.cat(parts, dim=-1) @ attn.project.weight.T + attn.project.bias
    torch.testing.assert_close(out, manual, rtol=1e-5, atol=1e-5)


def test_transformer_mapper_output_positions():
    model = make_model("transformer")
    mapper = model.clip_project
    prefix = clip_vector(1, batch=2)
    with torch.no_grad():
        out = mapper(prefix)
        seq = torch.cat((mapper.linear(prefix).view(2, CLIP_LEN, D),
                         mapper.prefix_const.expand(2, -1, -1)), dim=1)
        full = mapper.transformer(seq)
    assert out.shape == (2, PREFIX_LEN, D)
    torch.testing.assert_close(out, full[:, CLIP_LEN:])
    assert model.prefix_embeddings(prefix).shape == (2, PREFIX_LEN, D)


@pytest.mark.parametrize("mapping_type", ["mlp", "transformer"])
def test_greedy_stops_at_stop_token(mapping_type):
    model = make_model(mapping_type, seed=1)
    with torch.no_grad():
        embed = model.prefix_embeddings(clip_vector(2))
    max_length = 12
    free = tc.official_generate_greedy(model, embed, stop_token_id=-1, max_length=max_length)
    assert len(free) == max_length

    # each step is the argmax of a full recomputation
    with torch.no_grad():
        logits = model(torch.tensor([free]), clip_vector(2))
    assert logits[0, PREFIX_LEN - 1:-1].argmax(-1).tolist() == free

    stop_at = 2
    stop = free[stop_at]
    first = free.index(stop)
    stopped = tc.official_generate_greedy(model, embed, stop_token_id=stop, max_length=max_length)
    assert stopped == free[:first + 1]
    assert stopped[-1] == stop and len(stopped) <= stop_at + 1


def recomputed_average_log_prob(model, prefix, tokens):
    with torch.no_grad():
        logits = model(torch.tensor([tokens]), prefix)[0, PREFIX_LEN - 1:-1]
    logp = torch.log_softmax(logits.double(), dim=-1)
    picked = logp[torch.arange(len(tokens)), torch.tensor(tokens)]
    return float(picked.sum() / len(tokens))


@pytest.mark.parametrize("mapping_type", ["mlp", "transformer"])
def test_beam_scores_are_length_averaged_log_probs(mapping_type):
    model = make_model(mapping_type, seed=2)
    prefix = clip_vector(4)
    with torch.no_grad():
        embed = model.prefix_embeddings(prefix)
    beam_size, max_length = 4, 12

    # find a stop token for which some beams stop early and others run to max_length
    free = tc.official_generate_beam(model, embed, -1, beam_size=beam_size,
                                     max_length=max_length)
    assert all(len(t) == max_length for t, _ in free)
    candidates = sorted({tok for t, _ in free for tok in t})
    found = None
    for stop in candidates:
        beams = tc.official_generate_beam(model, embed, stop, beam_size=beam_size,
                                          max_length=max_length)
        lengths = [len(t) for t, _ in beams]
        if any(n < max_length for n in lengths) and any(n == max_length for n in lengths):
            found = stop, beams
            break
    assert found is not None
    stop, beams = found

    assert len(beams) == beam_size
    scores = [s for _, s in beams]
    assert scores == sorted(scores, reverse=True)
    for tokens, score in beams:
        assert 1 <= len(tokens) <= max_length
        if len(tokens) < max_length:
            assert tokens[-1] == stop and stop not in tokens[:-1]
        assert score == pytest.approx(recomputed_average_log_prob(model, prefix, tokens),
                                      abs=2e-5)

    best_tokens, best_score = beams[0]
    assert best_score == pytest.approx(
        recomputed_average_log_prob(model, prefix, best_tokens), abs=2e-5)


def test_beam_of_one_is_greedy():
    model = make_model("transformer", seed=5)
    with torch.no_grad():
        embed = model.prefix_embeddings(clip_vector(6))
    for stop in (-1, 7):
        greedy = tc.official_generate_greedy(model, embed, stop, max_length=10)
        (tokens, _), = tc.official_generate_beam(model, embed, stop, beam_size=1, max_length=10)
        assert tokens == greedy


def test_beam_temperature_changes_scores():
    model = make_model("mlp", seed=6)
    with torch.no_grad():
        embed = model.prefix_embeddings(clip_vector(8))
    a = tc.official_generate_beam(model, embed, -1, beam_size=3, max_length=6)
    b = tc.official_generate_beam(model, embed, -1, beam_size=3, max_length=6, temperature=0.5)
    assert len(a) == len(b) == 3
    assert a[0][1] != pytest.approx(b[0][1])


def test_train_loss_matches_manual_cross_entropy():
    model = make_model("mlp", seed=7)
    prefix = clip_vector(9, batch=2)
    tokens = torch.tensor([[4, 9, 13, 2, 0, 0], [7, 7, 21, 30, 11, 5]])
    mask = torch.cat((torch.ones(2, PREFIX_LEN), (tokens > 0).float()), dim=1)
    with torch.no_grad():
        loss = tc.official_train_loss(model, tokens, prefix, mask)
        logits = model(tokens, prefix, mask)
    terms = []
    for b in range(2):
        for t in range(tokens.shape[1]):
            if tokens[b, t] != 0:
                row = torch.log_softmax(logits[b, PREFIX_LEN - 1 + t], dim=-1)
                terms.append(-row[tokens[b, t]])
    torch.testing.assert_close(loss, torch.stack(terms).mean())
