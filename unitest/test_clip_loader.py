"""CLIP ViT: tokenizer and model parity against transformers, loader errors, model dirs.

Every reference is a transformers ``CLIPModel`` / ``CLIPTokenizer`` with random weights
saved locally in the real Hugging Face format (no hub access). Parity: equal parameter
counts, identical token ids, embeddings and logits within max|diff| <= 1e-4 * max|ref|.
"""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError  # noqa: E402
from tfcaption.backbones.clip_loader import load_clip, save_clip  # noqa: E402
from tfcaption.backbones.clip_model import ClipModel  # noqa: E402
from tfcaption.backbones.clip_text_pooler import ClipTextPooler  # noqa: E402
from tfcaption.backbones.model_dir import is_model_dir, save_model_dir  # noqa: E402
from tfcaption.data import image_ops  # noqa: E402
from tfcaption.tokenizers.clip_tokenizer import ClipTokenizer  # noqa: E402
from tfcaption.tokenizers.gpt2_tokenizer import byte_symbols  # noqa: E402

RTOL = 1e-4
SEQ = 16  # tiny max_position_embeddings
WORDS = ("a", "the", "photo", "of", "cat", "dog", "dogs", "sat", "on", "mat", "red", "car",
         "two", "big", "playing", "it's", "don't", "hello", "world", "street")
CAPTIONS = ["A photo of a cat.", "Two  big DOGS playing!!", "it's 2023, don't   stop",
            "Hello,\tworld\u00a0x\u3000y", "  a red car on the street  ",
            "Ünïcödé CAFÉ", "a--b...c 10x3", "", "a<|endoftext|>b"]
EXTRA_IDS = 4  # model vocabulary = tokenizer vocabulary + 4 ids above <|endoftext|>


# --- fixtures: tiny tokenizer and Hugging Face checkpoints ---------------------------------

def write_clip_vocab(directory, words=WORDS, merges=None):
    """Real CLIP layout: 256 byte symbols, the same with '</w>', merges, then the two
    special tokens (so <|endoftext|> has the largest id, as in OpenAI's vocabulary)."""
    base = byte_symbols()
    vocab = {s: i for i, s in enumerate(base + [s + "</w>" for s in base])}
    rules = []
    for word in words:
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            rule, new = f"{symbols[0]} {symbols[1]}", symbols[0] + symbols[1]
            if rule not in rules:
                rules.append(rule)
            vocab.setdefault(new, len(vocab))
            symbols = [new] + symbols[2:]
    for left, right in merges or ():
        rules.append(f"{left} {right}")
        vocab.setdefault(left + right, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f)
    with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(rules) + "\n")
    return vocab


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("clip_tok"))
    write_clip_vocab(out)
    return out


def perturb(model, seed):
    """Random LayerNorm scales/shifts, biases and logit scale (defaults are 1, 0, 2.6592)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "norm" in name and name.endswith(".weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.1 * noise)
            elif name == "logit_scale":
                p.fill_(3.3)


def hf_config(vocab_size, eos_id, text_eps=1e-5, vision_eps=1e-5, text_act="quick_gelu"):
    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=SEQ, hidden_act=text_act,
                layer_norm_eps=text_eps, bos_token_id=eos_id - 1, eos_token_id=eos_id,
                pad_token_id=eos_id)
    vision = dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  image_size=32, patch_size=8, hidden_act="quick_gelu", layer_norm_eps=vision_eps)
    return transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)


def write_hf_dir(directory, hf_model, tok_dir, fmt="safetensors", extra_state=None,
                 image_size=32):
    """``save_pretrained`` layout: config.json, weights, tokenizer and preprocessor files."""
    os.makedirs(directory, exist_ok=True)
    hf_model.config.save_pretrained(directory)
    state = {k: v.contiguous() for k, v in hf_model.state_dict().items()}
    state.update(extra_state or {})
    if fmt == "safetensors":
        safetensors_torch.save_file(state, os.path.join(directory, "model.safetensors"))
    else:
        torch.save(state, os.path.join(directory, "pytorch_model.bin"))
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tok_dir, name), directory)
    with open(os.path.join(directory, "preprocessor_config.json"), "w") as f:
        json.dump({"crop_size": {"height": image_size, "width": image_size},
                   "image_mean": list(image_ops.CLIP_MEAN), "image_std": list(image_ops.CLIP_STD),
                   "size": {"shortest_edge": image_size}}, f)
    return directory


def make_hf(tmp_path, tok_dir, seed, fmt="safetensors", extra_state=None, **config_kwargs):
    vocab = json.load(open(os.path.join(tok_dir, "vocab.json")))
    eos = vocab["<|endoftext|>"]
    torch.manual_seed(seed)
    hf = transformers.CLIPModel(hf_config(len(vocab) + EXTRA_IDS, eos, **config_kwargs)).eval()
    perturb(hf, seed)
    path = write_hf_dir(str(tmp_path / f"hf_{fmt}"), hf, tok_dir, fmt, extra_state)
    return path, hf, eos


def token_batches(tok_dir, eos):
    """Real captions padded after EOS (by the HF tokenizer, which ``ClipTokenizer.pack``
    matches), and rows where an id > eos precedes the first eos."""
    hf_tok = transformers.CLIPTokenizer.from_pretrained(tok_dir)
    captions = hf_tok(CAPTIONS[:5], padding="max_length", max_length=SEQ, truncation=True,
                      return_tensors="np")["input_ids"].astype(np.int32)
    big = eos + 1 + np.arange(EXTRA_IDS - 1)
    tricky = np.array([
        [eos - 1, 320, big[2], 321, eos, big[0], eos, eos] + [eos] * (SEQ - 8),
        [eos - 1, big[1], big[0], eos] + [big[2]] * (SEQ - 4),
        [eos - 1, 5, 6, 7, 8, big[0], 9, 10, 11, eos, 3, 4, big[2], 2, eos, eos],
    ], dtype=np.int32)
    first_eos = np.argmax(tricky == eos, axis=1)
    assert np.all(np.argmax(tricky, axis=1) != first_eos)  # argmax pooling would differ
    return [captions, tricky]


def hf_outputs(hf, images, ids):
    with torch.no_grad():
        pixels = torch.from_numpy(np.transpose(images, (0, 3, 1, 2)).copy())
        tokens = torch.from_numpy(ids.astype(np.int64))
        image = hf.get_image_features(pixel_values=pixels).pooler_output.numpy()
        text = hf.get_text_features(input_ids=tokens).pooler_output.numpy()
        logits = hf(input_ids=tokens, pixel_values=pixels).logits_per_image.numpy()
    return {"image_embeds": image, "text_embeds": text, "logits_per_image": logits}


def assert_close(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    scale = np.abs(want).max()
    assert scale > 0, what
    err = np.abs(got - want).max()
    assert err <= RTOL * scale, f"{what}: max|diff| {err:.3g} > {RTOL} * {scale:.3g}"


def check_parity(loaded, hf, eos, seed, tok_dir, image_size=32, n_images=3):
    images = np.random.default_rng(seed).normal(size=(n_images, image_size, image_size, 3))
    images = images.astype(np.float32)
    for ids in token_batches(tok_dir, eos):
        got = loaded.model({"images": images, "token_ids": ids})
        want = hf_outputs(hf, images, ids)
        for key in want:
            assert_close(got[key], want[key], key)
        assert_close(loaded.model.encode_text(ids), want["text_embeds"], "encode_text")
    assert_close(loaded.model.encode_image(images), want["image_embeds"], "encode_image")
    return images


def hf_param_count(hf):
    return sum(p.numel() for p in hf.parameters())


# --- tokenizer -----------------------------------------------------------------------------

def test_tokenizer_matches_hugging_face_eager_and_in_tf_data(tok_dir):
    import keras_hub

    ours = ClipTokenizer.from_directory(tok_dir)
    refs = [transformers.CLIPTokenizer.from_pretrained(tok_dir),
            transformers.CLIPTokenizerFast.from_pretrained(tok_dir)]
    want = [refs[0](c)["input_ids"][1:-1] for c in CAPTIONS]
    assert all(ref(c)["input_ids"][1:-1] == w for ref in refs for c, w in zip(CAPTIONS, want))
    assert [ours(c).numpy().tolist() for c in CAPTIONS] == want
    assert ours(CAPTIONS).to_list() == want
    assert (ours.start_token_id, ours.end_token_id) == (refs[0].bos_token_id, refs[0].eos_token_id)
    # Fixed-length model input: start, ids, end, end-padding (HF max_length padding),
    # inside tf.data (graph mode: the path keras-hub gets wrong).
    padded = refs[0](CAPTIONS, padding="max_length", max_length=12, truncation=True)["input_ids"]
    batches = tf.data.Dataset.from_tensor_slices(CAPTIONS).batch(4).map(lambda t: ours.pack(t, 12))
    packed = np.concatenate([b.numpy() for b in batches])
    assert packed.dtype == np.int32 and packed.tolist() == padded
    ids, mask = ours.pack(tf.constant(CAPTIONS[:2]), 12, return_padding_mask=True)
    assert mask.numpy().sum(axis=1).tolist() == [8, 8]
    # Why the subclass exists: keras-hub's own graph path disagrees (digits, case, spaces).
    stock = keras_hub.tokenizers.CLIPTokenizer(vocabulary=os.path.join(tok_dir, "vocab.json"),
                                               merges=os.path.join(tok_dir, "merges.txt"))
    stock_graph = tf.data.Dataset.from_tensor_slices(CAPTIONS[:4]).map(stock)
    assert [i.numpy().tolist() for i in stock_graph] != want[:4]


# --- model ---------------------------------------------------------------------------------

TINY = dict(vision_patch_size=8, vision_hidden_dim=48, vision_num_layers=2, vision_num_heads=4,
            vision_intermediate_dim=96, vision_image_size=32, text_vocabulary_size=40,
            text_embedding_dim=32, text_hidden_dim=32, text_num_layers=2, text_num_heads=4,
            text_intermediate_dim=64, text_max_sequence_length=SEQ, projection_dim=24,
            eos_token_id=30, vision_layer_norm_epsilon=1e-3, text_layer_norm_epsilon=1e-4,
            logit_scale_init=2.0)


def test_fresh_model_config_positions_eps_and_pooling():
    model = ClipModel(**TINY)
    config = model.get_config()
    assert {k: config[k] for k in TINY} == TINY
    clone = ClipModel.from_config(config)
    assert clone.get_config() == config and clone.count_params() == model.count_params()
    num_positions = (32 // 8) ** 2 + 1
    np.testing.assert_array_equal(model.vision_encoder.embedding.position_ids.numpy(),
                                  np.arange(num_positions)[None])
    assert {n.epsilon for n in model.vision_layer_norms()} == {1e-3}
    assert {n.epsilon for n in model.text_layer_norms()} == {1e-4}
    assert len(model.vision_layer_norms()) == 6 and len(model.text_layer_norms()) == 5
    assert float(model.logit_scale.numpy()) == pytest.approx(2.0)
    assert model.count_params() == model.count_parameters() + num_positions
    # Pooling: first eos (not argmax), last position when a row has no eos.
    seq = tf.reshape(tf.range(2 * 5 * 3, dtype=tf.float32), [2, 5, 3])
    pooled = ClipTextPooler(7)(seq, tf.constant([[1, 9, 7, 7, 9], [1, 2, 3, 4, 5]]))
    np.testing.assert_array_equal(pooled.numpy(), seq.numpy()[[0, 1], [2, 4]])
    out = model({"images": np.random.default_rng(0).normal(size=(2, 32, 32, 3)),
                 "token_ids": np.array([[29, 3, 30, 30], [29, 30, 30, 30], [29, 5, 6, 30]])})
    assert out["logits_per_image"].shape == (2, 3) and out["text_embeds"].shape == (3, 24)
    with pytest.raises(ValueError, match="text_embedding_dim"):
        ClipModel(**dict(TINY, text_embedding_dim=16))
    with pytest.raises(ValueError, match="intermediate_activation"):
        ClipModel(**dict(TINY, vision_intermediate_activation="relu"))


def test_parity_safetensors_and_model_dir_round_trip(tmp_path, tok_dir):
    path, hf, eos = make_hf(tmp_path, tok_dir, seed=1)
    loaded = load_clip(path)
    assert loaded.model_type == "clip" and loaded.model.eos_token_id == eos
    assert loaded.preprocessor.get_config()["size"] == 32
    assert loaded.preprocessor.get_config()["policy"] == "clip"
    # PyTorch counts parameters, not buffers: HF's position_ids buffers are not in
    # hf.parameters(); keras-hub's image-tower position_ids int variable is excluded too.
    assert loaded.model.count_parameters() == hf_param_count(hf)
    images = check_parity(loaded, hf, eos, 1, tok_dir)

    out = save_clip(loaded, str(tmp_path / "clip_dir"))
    assert is_model_dir(out)
    again = load_clip(out)
    assert again.config == loaded.config and isinstance(again.model, ClipModel)
    assert again.preprocessor.get_config() == loaded.preprocessor.get_config()
    assert isinstance(again.tokenizer, ClipTokenizer)
    assert again.tokenizer.vocabulary == loaded.tokenizer.vocabulary
    assert again.tokenizer.merges == loaded.tokenizer.merges
    ids = token_batches(tok_dir, eos)[1]
    a = loaded.model({"images": images, "token_ids": ids})
    b = again.model({"images": images, "token_ids": ids})
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())


def test_parity_bin_other_eps_gelu_and_position_id_buffers(tmp_path, tok_dir):
    buffers = {"text_model.embeddings.position_ids": torch.arange(SEQ)[None],
               "vision_model.embeddings.position_ids": torch.arange(17)[None]}
    path, hf, eos = make_hf(tmp_path, tok_dir, seed=2, fmt="bin", extra_state=buffers,
                            text_eps=1e-3, vision_eps=3e-3, text_act="gelu")
    loaded = load_clip(path)
    assert os.path.isfile(os.path.join(path, "pytorch_model.bin"))
    assert loaded.config["text_layer_norm_epsilon"] == 1e-3
    assert loaded.config["text_intermediate_activation"] == "gelu"
    assert loaded.model.count_parameters() == hf_param_count(hf)
    images = check_parity(loaded, hf, eos, 2, tok_dir)
    # The eps values matter here, and LayerNorm reads .epsilon at call time.
    ids = token_batches(tok_dir, eos)[0]
    want = hf_outputs(hf, images, ids)
    for norm in loaded.model.vision_layer_norms() + loaded.model.text_layer_norms():
        norm.epsilon = 1e-5
    got = loaded.model({"images": images, "token_ids": ids})
    for key in ("image_embeds", "text_embeds"):
        assert np.abs(got[key] - want[key]).max() > 1e-2 * np.abs(want[key]).max(), key


def test_legacy_eos_id_2_pools_at_vocab_end_token(tmp_path, tok_dir):
    path, hf, eos = make_hf(tmp_path, tok_dir, seed=3)
    config_path = os.path.join(path, "config.json")
    config = json.load(open(config_path))
    config["text_config"]["eos_token_id"] = 2  # as in openai/clip-vit-* configs
    json.dump(config, open(config_path, "w"))
    loaded = load_clip(path)
    assert loaded.model.eos_token_id == eos == loaded.tokenizer.end_token_id
    legacy = transformers.CLIPModel.from_pretrained(path).eval()  # pools at argmax(ids)
    images = np.random.default_rng(3).normal(size=(2, 32, 32, 3)).astype(np.float32)
    ids = token_batches(tok_dir, eos)[0]
    got, want = loaded.model({"images": images, "token_ids": ids}), hf_outputs(legacy, images, ids)
    for key in want:
        assert_close(got[key], want[key], key)
    config["text_config"]["eos_token_id"] = eos - 1
    json.dump(config, open(config_path, "w"))
    with pytest.raises(ValueError, match="eos_token_id"):
        load_clip(path)


# --- errors --------------------------------------------------------------------------------

def test_mismatched_keys_are_all_named(tmp_path, tok_dir):
    path, hf, _ = make_hf(tmp_path, tok_dir, seed=4)
    state = safetensors_torch.load_file(os.path.join(path, "model.safetensors"))
    del state["text_model.encoder.layers.1.mlp.fc2.bias"]
    state["vision_model.encoder.layers.0.self_attn.extra.weight"] = torch.zeros(3)
    state["visual_projection.weight"] = torch.zeros(24, 40)
    # Wrong shapes that no longer fit the reshape / transpose into the Keras layout:
    # reported with the checkpoint's own shape, not as a bare numpy error.
    state["text_model.encoder.layers.0.self_attn.q_proj.weight"] = torch.zeros(32, 24)
    state["vision_model.embeddings.patch_embedding.weight"] = torch.zeros(48, 3, 8)
    safetensors_torch.save_file(state, os.path.join(path, "model.safetensors"))
    with pytest.raises(CheckpointMismatchError) as info:
        load_clip(path)
    err = info.value
    assert err.missing == ["text_model.encoder.layers.1.mlp.fc2.bias"]
    assert err.unexpected == ["vision_model.encoder.layers.0.self_attn.extra.weight"]
    assert err.mis_shaped == [
        ("text_model.encoder.layers.0.self_attn.q_proj.weight", (32, 24), (32, 32)),
        ("vision_model.embeddings.patch_embedding.weight", (48, 3, 8), (48, 3, 8, 8)),
        ("visual_projection.weight", (24, 40), (24, 48))]
    for key in ("mlp.fc2.bias", "self_attn.extra.weight", "visual_projection.weight",
                "q_proj.weight: checkpoint (32, 24) vs expected (32, 32)",
                "patch_embedding.weight: checkpoint (48, 3, 8) vs expected (48, 3, 8, 8)"):
        assert key in str(err)

    bad = {k: v.contiguous() for k, v in hf.state_dict().items()}
    bad["vision_model.embeddings.position_ids"] = torch.zeros(1, 17, dtype=torch.int64)
    safetensors_torch.save_file(bad, os.path.join(path, "model.safetensors"))
    with pytest.raises(ValueError, match="vision_model.embeddings.position_ids.*arange"):
        load_clip(path)


def test_tokenizer_must_fit_the_text_vocabulary(tmp_path, tok_dir):
    path, _, eos = make_hf(tmp_path, tok_dir, seed=6)
    config_path = os.path.join(path, "config.json")
    config = json.load(open(config_path))
    config["text_config"]["vocab_size"] = eos  # the end token's id has no embedding row
    json.dump(config, open(config_path, "w"))
    with pytest.raises(ValueError, match=f"tokenizer id {eos} does not fit"):
        load_clip(path)


def test_model_dir_must_hold_a_clip_model(tmp_path, tok_dir):
    import keras

    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = save_model_dir(tmp_path / "not_clip", "clip", other)
    with pytest.raises(ValueError, match="holds a Sequential, not a ClipModel"):
        load_clip(path)


def test_missing_files_and_wrong_model_type(tmp_path, tok_dir):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_clip(str(tmp_path / "nowhere"))
    path, _, _ = make_hf(tmp_path, tok_dir, seed=5)
    os.remove(os.path.join(path, "merges.txt"))
    with pytest.raises(FileNotFoundError, match="merges.txt"):
        load_clip(path)
    os.remove(os.path.join(path, "model.safetensors"))
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_clip(path)
    config_path = os.path.join(path, "config.json")
    config = json.load(open(config_path))
    config["model_type"] = "clip_vision_model"
    json.dump(config, open(config_path, "w"))
    with pytest.raises(ValueError, match="clip_vision_model"):
        load_clip(path)
    os.remove(config_path)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_clip(path)


# --- real size -----------------------------------------------------------------------------

def write_real_size_vocab(directory):
    """49,408 tokens in OpenAI's layout: 512 byte symbols, 48,894 merges, then
    <|startoftext|> = 49406 and <|endoftext|> = 49407."""
    letters = [s for s in byte_symbols() if s.isalpha() and s.isascii()]
    pairs = [(a, b + end) for end in ("</w>", "") for a in letters for b in letters]
    pairs += [(a, b + end) for end in ("</w>", "") for a in byte_symbols() for b in byte_symbols()
              if not (a in letters and b in letters)]
    vocab = write_clip_vocab(directory, words=(), merges=pairs[:49408 - 512 - 2])
    assert len(vocab) == 49408 and vocab["<|endoftext|>"] == 49407
    return vocab


@pytest.mark.slow
def test_real_size_vit_b32_parity(tmp_path):
    tok_dir = str(tmp_path / "tok")
    write_real_size_vocab(tok_dir)
    torch.manual_seed(0)
    # CLIPConfig defaults are ViT-B/32; eos_token_id 2 as in openai/clip-vit-base-patch32.
    config = transformers.CLIPConfig(
        text_config={"bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1})
    hf = transformers.CLIPModel(config).eval()
    assert hf_param_count(hf) == 151_277_313
    perturb(hf, 0)
    buffers = {"text_model.embeddings.position_ids": torch.arange(77)[None],
               "vision_model.embeddings.position_ids": torch.arange(50)[None]}
    path = write_hf_dir(str(tmp_path / "hf"), hf, tok_dir, extra_state=buffers, image_size=224)
    loaded = load_clip(path)
    assert loaded.model.count_parameters() == 151_277_313
    assert loaded.model.eos_token_id == 49407 and loaded.preprocessor.size == 224
    captions = ["A photo of a cat sitting on 2 mats.", "TWO dogs,  playing in the snow!"]
    hf_tok = transformers.CLIPTokenizer.from_pretrained(tok_dir)
    want_ids = hf_tok(captions, padding="max_length", max_length=77, truncation=True,
                      return_tensors="np")["input_ids"]
    ids = loaded.tokenizer.pack(tf.constant(captions), 77).numpy()
    np.testing.assert_array_equal(ids, want_ids)
    images = np.random.default_rng(0).normal(size=(2, 224, 224, 3)).astype(np.float32)
    got, want = loaded.model({"images": images, "token_ids": ids}), hf_outputs(hf, images, ids)
    for key in want:
        assert_close(got[key], want[key], key)
