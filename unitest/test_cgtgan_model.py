"""CgtGanModel: one train step updates both networks, each only with its own optimizer."""

import numpy as np
import pytest
import tensorflow as tf

from tfcaption.models.clipcap.cgtgan.caption_discriminator import CaptionDiscriminator
from tfcaption.models.clipcap.cgtgan.cgtgan_model import METRICS, CgtGanModel
from tiny_cgtgan import REAL, TinyParts


@pytest.fixture(scope="module")
def parts(tmp_path_factory, shapes_dir):
    return TinyParts(str(tmp_path_factory.mktemp("cgtgan")), shapes_dir)


def _values(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return sum(not np.array_equal(a, v.numpy()) for a, v in zip(before, variables))


def _step(gan, batch):
    return {k: float(v) for k, v in gan.train_step(batch).items()}


@pytest.mark.parametrize("kind", ["greedy", "sample"])
def test_one_step_changes_both_networks_and_reports_every_metric(parts, kind):
    gan = parts.compile(parts.gan(baseline=kind))
    g0, d0 = _values(gan.generator.trainable_variables), _values(
        gan.discriminator.trainable_variables)
    clip0 = _values(gan.clip.weights)
    logs = _step(gan, parts.batch(gan))
    assert sorted(logs) == sorted(METRICS)
    assert all(np.isfinite(v) for v in logs.values())
    assert _changed(g0, gan.generator.trainable_variables) == len(g0)
    assert _changed(d0, gan.discriminator.trainable_variables) == len(d0)
    assert _changed(clip0, gan.clip.weights) == 0  # the reward CLIP is frozen
    assert int(gan.g_optimizer.iterations) == 1 and int(gan.d_optimizer.iterations) == 1
    assert 0.0 <= logs["d_real_accuracy"] <= 1.0 and logs["rw"] == 0.0  # step 1 <= 1


def test_generator_update_leaves_the_discriminator_alone(parts):
    gan = parts.compile(parts.gan(update_discriminator=False))
    g0, d0 = _values(gan.generator.trainable_variables), _values(
        gan.discriminator.trainable_variables)
    _step(gan, parts.batch(gan))
    assert _changed(d0, gan.discriminator.trainable_variables) == 0
    assert _changed(g0, gan.generator.trainable_variables) == len(g0)
    assert int(gan.d_optimizer.iterations) == 0


def test_discriminator_update_leaves_the_generator_alone(parts):
    gan = parts.compile(parts.gan(), g_rate=0.0)
    g0, d0 = _values(gan.generator.trainable_variables), _values(
        gan.discriminator.trainable_variables)
    _step(gan, parts.batch(gan))
    assert _changed(g0, gan.generator.trainable_variables) == 0
    assert _changed(d0, gan.discriminator.trainable_variables) == len(d0)


def test_rw_follows_the_schedule_across_steps(parts):
    gan = parts.compile(parts.gan(gan_training_steps=1, gan_warm_steps=2, reward_weight=0.5))
    batch = parts.batch(gan)
    rws = []
    for _ in range(4):
        gan.reset_metrics()
        rws.append(_step(gan, batch)["rw"])
    assert rws == pytest.approx([0.0, 0.25, 0.5, 0.5])


def test_fixed_seed_is_deterministic_and_the_seed_matters(parts):
    def run(seed):
        gan = parts.compile(parts.gan(seed=seed))
        batch = parts.batch(gan)
        logs = [_step(gan, batch) for _ in range(2)]
        return logs, _values(gan.generator.trainable_variables)

    logs_a, weights_a = run(0)
    logs_b, weights_b = run(0)
    assert logs_a == logs_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
    logs_c, _ = run(1)
    assert logs_c[0]["reward"] != logs_a[0]["reward"]


def test_retokenizer_matches_direct_tokenization(parts):
    gan = parts.gan()
    tok = gan.gpt2_tokenizer
    texts = ["a red circle", "two blue squares and a green star"]
    ids = [tok.tokenize(t).numpy().tolist() for t in texts]
    end = tok.end_token_id
    width = max(map(len, ids)) + 2
    padded = np.array([row + [end] + [0] * (width - len(row) - 1) for row in ids], np.int32)
    lengths = np.array([len(row) + 1 for row in ids], np.int32)  # the end token included
    got = gan.retokenizer.texts(padded, lengths)
    assert [t.decode() for t in got.numpy()] == texts
    clip_ids = gan.retokenizer.clip_token_ids(tf.constant([t + "." for t in texts]))
    np.testing.assert_array_equal(clip_ids.numpy(),
                                  gan.clip_tokenizer.pack(tf.constant(texts),
                                                          gan.clip.text_max_sequence_length))
    d = gan.retokenizer.roberta_inputs(tf.constant(texts))
    rob = gan.roberta_tokenizer
    first = rob.tokenize(texts[0]).numpy().tolist()
    row = d["token_ids"].numpy()[0]
    assert row.shape == (gan.max_gen_length + 2,)
    assert row[:len(first) + 2].tolist() == [rob.start_token_id] + first + [rob.end_token_id]
    assert not d["padding_mask"].numpy()[0, len(first) + 2:].any()


def test_long_real_sentences_are_truncated_before_the_end_token(parts):
    gan = parts.gan(max_gen_length=4)
    d = gan.retokenizer.roberta_inputs(tf.constant([" ".join(REAL)]))
    row = d["token_ids"].numpy()[0]
    assert len(row) == 6 and row[0] == gan.roberta_tokenizer.start_token_id
    assert row[-1] == gan.roberta_tokenizer.end_token_id and d["padding_mask"].numpy().all()


def test_discriminator_head_and_config_round_trip(parts):
    gan = parts.gan()
    disc = gan.discriminator
    assert disc.hidden.kernel.shape == (32, 16) and disc.out.kernel.shape == (16, 1)
    again = CaptionDiscriminator.from_config(disc.get_config())
    again.set_weights(disc.get_weights())
    batch = parts.batch(gan)
    inputs = {"token_ids": batch["real_token_ids"], "padding_mask": batch["real_padding_mask"]}
    np.testing.assert_allclose(again(inputs).numpy(), disc(inputs).numpy(), rtol=1e-6)
    assert disc(inputs).shape == (len(batch["real_token_ids"]),)
    config = gan.get_config()
    assert config["num_samples"] == 3 and config["baseline"] == "greedy"
    rebuilt = CgtGanModel.from_config(config)
    assert rebuilt.max_gen_length == gan.max_gen_length and not rebuilt.clip.trainable


def test_reward_clip_is_not_part_of_the_gan_weights(parts):
    gan = parts.gan()
    expected = len(gan.generator.weights) + len(gan.discriminator.weights)
    assert len(gan.weights) == expected


def test_constructor_errors(parts):
    with pytest.raises(ValueError, match="baseline 'mean'"):
        parts.gan(baseline="mean")
    with pytest.raises(ValueError, match="num_samples >= 2"):
        parts.gan(baseline="sample", num_samples=1)
