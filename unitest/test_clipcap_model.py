"""ClipCap model pieces: mappers, forward vs cached decoding, loss, freezing, model dir."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfcaption.backbones.gpt2_backbone import GPT2Backbone
from tfcaption.training.caption_lm_trainer import CaptionLmTrainer
from tfcaption.training.caption_loss import caption_loss
from tfcaption.models.clipcap.clipcap_builder import build_mapper
from tfcaption.models.clipcap.clipcap_captioner import ClipCapCaptioner
from tfcaption.models.clipcap.clipcap_model import ClipCapModel
from tfcaption.models.clipcap.clipcap_model_dir import load_clipcap, save_clipcap
from tfcaption.models.clipcap.mlp_mapper import MlpMapper
from tfcaption.models.clipcap.transformer_mapper import TransformerMapper
from tfcaption.tokenizers.bpe_trainer import train_bpe
from tfcaption.tokenizers.gpt2_tokenizer import load_gpt2_tokenizer
from tfcaption.training.linear_warmup_schedule import LinearWarmupSchedule

TEXTS = ["a red circle", "a blue square and a green star", "two small yellow crosses",
         "a large purple triangle above an orange circle"] * 5


def _gpt2(vocab=300, dropout=0.0):
    return GPT2Backbone(vocabulary_size=vocab, num_layers=2, num_heads=4, hidden_dim=32,
                        intermediate_dim=64, max_sequence_length=96, dropout=dropout)


def _model(mapping="mlp", **kwargs):
    keras.utils.set_random_seed(1)
    mapper = build_mapper(mapping, 16, 32, prefix_length=4, clip_length=3, num_layers=2)
    return ClipCapModel(mapper, _gpt2(), **kwargs)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bpe"))
    train_bpe(TEXTS, out, vocab_size=300)
    return load_gpt2_tokenizer(out)


def test_mapper_shapes_and_official_widths():
    mlp = MlpMapper(512, 768, 10)
    assert mlp.hidden_dim == 3840  # 768 * 10 / 2
    assert tuple(mlp(tf.random.normal([2, 512])).shape) == (2, 10, 768)
    assert [tuple(w.shape) for w in mlp.weights] == [(512, 3840), (3840,), (3840, 7680), (7680,)]
    mapper = TransformerMapper(20, 32, prefix_length=5, clip_length=3, num_layers=2)
    assert tuple(mapper(tf.random.normal([2, 20])).shape) == (2, 5, 32)
    attn = mapper.blocks[0].attn
    assert attn.to_queries.bias is None and attn.to_keys_values.bias is None
    assert attn.project.bias is not None and mapper.blocks[0].fc1.units == 64  # ratio 2


def test_transformer_mapper_output_depends_on_the_input_not_only_the_constant():
    mapper = TransformerMapper(8, 16, prefix_length=2, clip_length=2, num_layers=1)
    a, b = mapper(tf.random.normal([1, 8])), mapper(tf.random.normal([1, 8]))
    assert np.abs(a.numpy() - b.numpy()).max() > 1e-3


@pytest.mark.parametrize("mapping", ["mlp", "transformer"])
def test_cached_decoding_steps_equal_the_full_forward(mapping):
    model = _model(mapping)
    prefix = tf.random.normal([2, 16])
    ids = np.random.default_rng(0).integers(0, 300, (2, 7)).astype("int32")
    logits = model({"prefix": prefix, "token_ids": ids, "padding_mask": np.ones((2, 7), bool)})
    first, cache, start = model.prefill(prefix, 10)
    steps = [first]
    for t in range(6):
        step_logits, cache = model.step(tf.constant(ids[:, t]), cache, start + t)
        steps.append(step_logits)
    np.testing.assert_allclose(np.stack(steps, 1), logits.numpy(), atol=1e-5, rtol=1e-5)


def test_padding_does_not_change_real_positions():
    model = _model()
    prefix = tf.random.normal([1, 16])
    ids = np.array([[5, 9, 12, 40, 41]], "int32")
    mask = np.array([[True, True, True, False, False]])
    other = ids.copy()
    other[0, 3:] = [7, 250]
    a = model({"prefix": prefix, "token_ids": ids, "padding_mask": mask}).numpy()
    b = model({"prefix": prefix, "token_ids": other, "padding_mask": mask}).numpy()
    np.testing.assert_allclose(a[0, :3], b[0, :3], atol=1e-6)


def test_caption_loss_is_the_masked_mean_cross_entropy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 6)).astype("float32")
    ids = rng.integers(0, 6, (2, 4)).astype("int32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], bool)
    loss, accuracy, count = caption_loss(logits, ids, mask)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(logp, ids[..., None], -1)[..., 0]
    assert float(count) == 5
    np.testing.assert_allclose(float(loss), -picked[mask].mean(), rtol=1e-5)
    hits = (logits.argmax(-1) == ids)[mask].mean()
    np.testing.assert_allclose(float(accuracy), hits, rtol=1e-6)
    ids2 = ids.copy()
    ids2[~mask] = 0  # id 0 is a real token; what sits under the mask is irrelevant
    assert float(caption_loss(logits, ids2, mask)[0]) == float(loss)


def test_normalize_prefix_makes_the_prefix_scale_invariant():
    model = _model(normalize_prefix=True)
    x = tf.random.normal([2, 16])
    np.testing.assert_allclose(model.prefix_embeddings(x).numpy(),
                               model.prefix_embeddings(3.0 * x).numpy(), atol=1e-5)


def _batch(n=4, length=6):
    rng = np.random.default_rng(3)
    return {"prefix": rng.normal(size=(n, 16)).astype("float32"),
            "token_ids": rng.integers(0, 300, (n, length)).astype("int32"),
            "padding_mask": np.ones((n, length), bool)}


@pytest.mark.parametrize("only_prefix", [False, True])
def test_train_step_updates_only_what_it_should(only_prefix):
    model = _model(only_prefix=only_prefix)
    trainer = CaptionLmTrainer(model)
    trainer.compile(optimizer=keras.optimizers.AdamW(1e-2))
    gpt_before = [w.numpy().copy() for w in model.gpt2.weights]
    mapper_before = [w.numpy().copy() for w in model.mapper.weights]
    logs = trainer.train_on_batch(_batch(), return_dict=True)
    assert np.isfinite(logs["loss"]) and 0 <= logs["token_accuracy"] <= 1
    mapper_changed = [not np.array_equal(a, w.numpy()) for a, w in
                      zip(mapper_before, model.mapper.weights)]
    gpt_changed = [not np.array_equal(a, w.numpy()) for a, w in
                   zip(gpt_before, model.gpt2.weights)]
    assert all(mapper_changed)
    assert any(gpt_changed) != only_prefix
    expected = len(model.mapper.trainable_weights) + (0 if only_prefix else
                                                      len(model.gpt2.trainable_weights))
    assert len(model.trainable_weights) == expected


def test_only_prefix_runs_gpt2_without_dropout():
    keras.utils.set_random_seed(2)
    model = ClipCapModel(MlpMapper(16, 32, 4), _gpt2(dropout=0.5), only_prefix=True)
    batch = _batch()
    a = model(batch, training=True).numpy()
    b = model(batch, training=True).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    free = ClipCapModel(MlpMapper(16, 32, 4), _gpt2(dropout=0.5))
    assert not np.allclose(free(batch, training=True), free(batch, training=True))


def test_linear_warmup_schedule():
    schedule = LinearWarmupSchedule(1e-3, warmup_steps=10, total_steps=110)
    values = [float(schedule(s)) for s in (0, 5, 10, 60, 110, 200)]
    np.testing.assert_allclose(values, [0, 5e-4, 1e-3, 5e-4, 0, 0], atol=1e-9)
    flat = LinearWarmupSchedule(1e-3, warmup_steps=0)
    assert float(flat(1000)) == pytest.approx(1e-3)
    assert LinearWarmupSchedule(**schedule.get_config()).get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="smaller than warmup_steps"):
        LinearWarmupSchedule(1e-3, 10, 5)


def test_captioner_generates_text_ids_and_scores(tokenizer):
    model = _model()
    captioner = ClipCapCaptioner(model, tokenizer, jit_compile=False)
    prefix = np.random.default_rng(0).normal(size=(3, 16)).astype("float32")
    out = captioner.generate(prefix, "beam", beam_size=3, num_return_sequences=2,
                             max_length=8, return_ids=True, return_scores=True)
    assert len(out["captions"]) == 3 and all(len(row) == 2 for row in out["captions"])
    assert out["scores"].shape == (3, 2) and np.all(out["scores"][:, 0] >= out["scores"][:, 1])
    for row_ids, row_text in zip(out["token_ids"], out["captions"]):
        for ids, text in zip(row_ids, row_text):
            kept = ids[:-1] if ids and ids[-1] == tokenizer.end_token_id else ids
            expected = tokenizer.detokenize(tf.constant(kept, tf.int32)).numpy().decode() \
                if kept else ""
            assert text == expected.strip()
    greedy = captioner.generate(prefix, "greedy", max_length=8)
    assert len(greedy) == 3 and all(isinstance(c, str) for c in greedy)
    with pytest.raises(ValueError, match="no image encoder"):
        captioner.generate(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"CLIP embeddings \[B, 16\]"):
        captioner.generate(np.zeros((2, 5), "float32"))


def test_stop_token_ends_captions_and_is_stripped(tokenizer):
    model = _model()
    prefix = np.random.default_rng(1).normal(size=(2, 16)).astype("float32")
    free = ClipCapCaptioner(model, tokenizer, stop_token_ids=[299], jit_compile=False)
    ids = free.generate(prefix, max_length=6, return_ids=True)["token_ids"]
    stop = ids[0][0][2]  # a token greedy decoding emits third: make it the stop token
    stopped = ClipCapCaptioner(model, tokenizer, stop_token_ids=[stop], strip_token_ids=[stop],
                               jit_compile=False)
    out = stopped.generate(prefix, max_length=6, return_ids=True)
    first = out["token_ids"][0][0]
    assert first[-1] == stop and stop not in first[:-1] and len(first) <= 3
    assert out["captions"][0] == free.detokenize(first[:-1])


def test_model_dir_round_trip(tokenizer, tmp_path):
    model = _model("transformer", normalize_prefix=True)
    captioner = ClipCapCaptioner(model, tokenizer, jit_compile=False)
    out = save_clipcap(captioner, str(tmp_path / "cc"))
    assert sorted(os.listdir(out)) == ["config.json", "merges.txt", "model.weights.h5",
                                       "vocab.json"]
    loaded = load_clipcap(out, jit_compile=False)
    assert loaded.model.normalize_prefix and loaded.model.mapper.clip_length == 3
    assert loaded.stop_token_ids == (tokenizer.end_token_id,)
    prefix = np.random.default_rng(2).normal(size=(2, 16)).astype("float32")
    assert loaded.generate(prefix, max_length=8) == captioner.generate(prefix, max_length=8)
    with pytest.raises(FileNotFoundError, match="not a clipcap model dir"):
        load_clipcap(str(tmp_path))


def test_mixed_precision_trains_and_decodes():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = _model()
        trainer = CaptionLmTrainer(model)
        trainer.compile(optimizer=keras.optimizers.AdamW(1e-2), jit_compile=True)
        losses = [trainer.train_on_batch(_batch(), return_dict=True)["loss"] for _ in range(4)]
        result = model.generate_function("greedy")(_batch()["prefix"], np.zeros(2, "int32"))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert model.compute_dtype == "bfloat16" and model.mapper.model_0.kernel.dtype == "float32"
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert tuple(result.token_ids.shape) == (4, 1, 67)
