"""The WGAN-GP train step, the generator's two paths, the captioner and its model dir."""

import numpy as np
import pytest
import tensorflow as tf

import keras
from tfcaption.models.load_captioner import load_captioner
from tfcaption.models.wgan.gated_gru_generator import GatedGruGenerator
from tfcaption.models.wgan.gru_captioner import GruCaptioner
from tfcaption.models.wgan.gru_captioner_dir import load_gru_captioner, save_gru_captioner
from tfcaption.models.wgan.gru_critic import GruCritic
from tfcaption.models.wgan.wgan_gru_model import WganGruModel
from tfcaption.tokenizers.word_vocabulary import WordVocabulary

WORDS = ["red", "blue", "circle", "square", "a", "and"]
V, F, T, B = len(WORDS) + 4, 5, 6, 4


def _networks(dropout=0.5):
    sizes = dict(feature_dim=F, embedding_dim=6, hidden_dim=8)
    return (GatedGruGenerator(V, dropout=dropout, name="generator", **sizes),
            GruCritic(V, name="critic", **sizes))


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, V, size=(B, T + 1)).astype("int32")
    ids[:, 0] = 1
    lengths = np.array([3, 4, 5, 6])
    for row, n in enumerate(lengths):
        ids[row, n] = 2
        ids[row, n + 1:] = 0
    mask = np.arange(T + 1)[None, :] <= lengths[:, None]
    return {"features": rng.normal(size=(B, F)).astype("float32"), "token_ids": ids,
            "padding_mask": mask}


def _model(mode="adversarial", g_lr=1e-2, d_lr=1e-2, dropout=0.5, **kwargs):
    generator, critic = _networks(dropout)
    model = WganGruModel(generator, critic, mode=mode, jit_compile=False, **kwargs)
    model.compile(g_optimizer=keras.optimizers.Adam(g_lr, beta_1=0.5, global_clipnorm=1.0),
                  d_optimizer=keras.optimizers.Adam(d_lr, beta_1=0.5, global_clipnorm=1.0))
    model.build_optimizers()
    return model


def _values(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_n_critic_updates_per_generator_update():
    model = _model(n_critic=3)
    for _ in range(2):
        logs = model.train_step(_batch())
    assert int(model.d_optimizer.iterations) == 6
    assert int(model.g_optimizer.iterations) == 2
    assert set(logs) == {"d_loss", "g_loss", "gp", "wasserstein", "mle_loss"}
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_generator_update_leaves_the_critic_unchanged_and_vice_versa():
    model = _model(n_critic=2)
    data = _batch()
    features = tf.constant(data["features"])
    ids = tf.constant(data["token_ids"])
    mask = tf.constant(data["padding_mask"])[:, 1:]
    seed = tf.constant([0, 1])
    critic_before = _values(model.critic.trainable_variables)
    generator_before = _values(model.generator.trainable_variables)
    _, _, grads = model._generator_gradients(features, ids[:, :-1], ids[:, 1:], mask, seed,
                                             tf.constant(1.0))
    assert all(g is not None for g in grads)
    model.g_optimizer.apply(grads, model.generator.trainable_variables)
    assert not any(_changed(critic_before, model.critic.trainable_variables))
    assert all(_changed(generator_before, model.generator.trainable_variables))

    generator_before = _values(model.generator.trainable_variables)
    critic_before = _values(model.critic.trainable_variables)
    fake = model._fake_sequences(features, ids[:, :-1], seed, tf.constant(1.0))
    alpha = tf.constant([0.2, 0.4, 0.6, 0.8])
    _, _, _, grads = model._critic_gradients(features, ids[:, 1:], mask, fake, alpha)
    model.d_optimizer.apply(grads, model.critic.trainable_variables)
    assert not any(_changed(generator_before, model.generator.trainable_variables))
    changed = _changed(critic_before, model.critic.trainable_variables)
    unchanged = [v.path for v, c in zip(model.critic.trainable_variables, changed) if not c]
    # the critic loss is blind to a constant shift of every score: no gradient for the
    # score's bias; everything else moves
    assert unchanged == ["score/bias"]


@pytest.mark.parametrize("frozen", ["generator", "critic"])
def test_a_full_step_with_one_learning_rate_at_zero(frozen):
    model = _model(g_lr=0.0 if frozen == "generator" else 1e-2,
                   d_lr=0.0 if frozen == "critic" else 1e-2, n_critic=2)
    still, moving = ((model.generator, model.critic) if frozen == "generator"
                     else (model.critic, model.generator))
    still_before = _values(still.trainable_variables)
    moving_before = _values(moving.trainable_variables)
    model.train_step(_batch())
    assert not any(_changed(still_before, still.trainable_variables))
    assert any(_changed(moving_before, moving.trainable_variables))


def test_mle_mode_trains_only_the_generator_and_lowers_its_loss():
    model = _model(mode="mle", g_lr=3e-2)
    critic_before = _values(model.critic.trainable_variables)
    data = _batch()
    losses = [float(model.train_step(data)["mle_loss"]) for _ in range(25)]
    assert losses[-1] < 0.75 * losses[0]
    assert not any(_changed(critic_before, model.critic.trainable_variables))
    assert model.d_optimizer.iterations == 0


def test_gumbel_fakes_are_free_running_distributions():
    model = _model(fake_input="gumbel", gumbel_start=1.0, gumbel_end=0.5, gumbel_steps=2,
                   dropout=0.0)
    data = _batch()
    features = tf.constant(data["features"])
    inputs = tf.constant(data["token_ids"])[:, :-1]
    fake = model._fake_sequences(features, inputs, tf.constant([0, 1]), tf.constant(0.5))
    assert fake.shape == (B, T, V)
    np.testing.assert_allclose(tf.reduce_sum(fake, -1), 1.0, rtol=1e-5)
    # free running: the fakes do not depend on the real caption's words
    other = model._fake_sequences(features, tf.reverse(inputs, [1]), tf.constant([0, 1]),
                                  tf.constant(0.5))
    np.testing.assert_allclose(fake, other, rtol=1e-6)
    for _ in range(3):
        logs = model.train_step(data)
    np.testing.assert_allclose(float(model.temperature(model.g_optimizer.iterations)), 0.5)
    assert np.isfinite(float(logs["d_loss"]))


def test_teacher_forced_call_equals_stepping():
    generator, _ = _networks()
    data = _batch()
    logits = generator({"features": data["features"], "token_ids": data["token_ids"][:, :-1]})
    state = generator.initial_state(data["features"])
    for t in range(T):
        step_logits, state = generator.step(data["token_ids"][:, t], state)
        np.testing.assert_allclose(step_logits, logits[:, t], rtol=1e-5, atol=1e-6)


def _captioner():
    generator, _ = _networks()
    return GruCaptioner(generator, WordVocabulary(WORDS), max_length=T, jit_compile=False)


def test_greedy_captions_follow_the_argmax_of_each_step():
    captioner = _captioner()
    features = np.random.default_rng(1).normal(size=(3, F)).astype("float32")
    out = captioner.generate(features, "greedy", return_ids=True)
    generator = captioner.generator
    logits, state = generator.decoding_start(tf.constant(features), 1)
    expected = []
    for _ in range(T):
        token = tf.argmax(logits, -1, output_type=tf.int32)
        expected.append(token.numpy())
        logits, state = generator.step(token, state)
    expected = np.stack(expected, 1)
    for row, ids in enumerate(out["token_ids"]):
        assert ids[0] == expected[row, :len(ids[0])].tolist()
        words = [captioner.vocabulary.id_to_token(i) for i in ids[0] if i != 2]
        assert out["captions"][row] == " ".join(w for w in words if w not in ("<pad>",
                                                                             "<start>"))
    beams = captioner.generate(features, "beam", beam_size=3, num_return_sequences=2)
    assert len(beams) == 3 and all(len(b) == 2 for b in beams)


def test_model_dir_round_trip(tmp_path):
    captioner = _captioner()
    features = np.random.default_rng(2).normal(size=(3, F)).astype("float32")
    path = save_gru_captioner(captioner, tmp_path / "model")
    loaded = load_captioner(path, jit_compile=False)
    assert isinstance(loaded, GruCaptioner)
    assert loaded.vocabulary.tokens == captioner.vocabulary.tokens
    assert loaded.max_length == T
    assert loaded.generate(features) == captioner.generate(features)
    with pytest.raises(ValueError, match="image features of shape \\[batch, 5\\]"):
        loaded.encode_images(np.zeros([1, 8, 8, 3], np.float32))
    with pytest.raises(FileNotFoundError, match="missing"):
        load_gru_captioner(tmp_path)
    with pytest.raises(ValueError, match="wgan_gru model: its loader takes no weights_dtype"):
        load_captioner(path, weights_dtype="bfloat16")


def test_config_round_trip():
    model = _model(n_critic=4, supervised_weight=0.5, fake_input="gumbel")
    clone = WganGruModel.from_config(model.get_config())
    assert clone.n_critic == 4 and clone.supervised_weight == 0.5
    assert clone.fake_input == "gumbel"
    assert clone.critic.get_config() == model.critic.get_config()
    with pytest.raises(ValueError, match="fake_input 'x'"):
        WganGruModel(*_networks(), fake_input="x")
