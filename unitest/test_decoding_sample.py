import numpy as np
import pytest
import tensorflow as tf

from decoding_reference import filter_reference, log_softmax
from toy_decoder import ToyDecoder, random_prefixes
from tfcaption.decoding.decode import decode, decode_sample
from tfcaption.decoding.decoding_config import DecodingConfig

STOP = 4


def _model():
    return ToyDecoder(stop_token=STOP, stop_growth=0.12, seed=5)


def _run(model, prefixes, config, seed=None, compiled=False):
    first, cache, start = model.prefill(prefixes, config.max_length)

    def fn(first, cache):
        return decode(model.step, first, cache, start, config, seed=seed)

    if compiled:
        fn = tf.function(fn, jit_compile=True)
    return fn(first, cache)


def test_top_k_1_is_greedy():
    model, prefixes = _model(), random_prefixes(3, seed=2)
    common = dict(max_length=24, stop_token_ids=(STOP,))
    greedy = _run(model, prefixes, DecodingConfig("greedy", **common))
    sampled = _run(model, prefixes, DecodingConfig("sample", top_k=1, temperature=0.7,
                                                   num_return_sequences=2, seed=9, **common))
    for r in range(2):
        np.testing.assert_array_equal(sampled.token_ids[:, r], greedy.token_ids[:, 0])
        np.testing.assert_array_equal(sampled.lengths[:, r], greedy.lengths[:, 0])
    # one candidate left: every sampled token had probability 1
    np.testing.assert_allclose(sampled.scores, 0.0, atol=1e-6)


@pytest.mark.parametrize("knobs", [dict(top_k=3), dict(top_p=0.6),
                                   dict(top_k=4, top_p=0.8, temperature=1.3)])
@pytest.mark.parametrize("compiled", [False, True])
def test_sampled_tokens_lie_in_the_filtered_set_and_scores_are_their_log_probs(knobs,
                                                                                compiled):
    model, prefixes = _model(), random_prefixes(3, seed=2)
    config = DecodingConfig("sample", max_length=20, num_return_sequences=16,
                            stop_token_ids=(STOP,), seed=3, **knobs)
    result = _run(model, prefixes, config, compiled=compiled)
    filter_knobs = dict(temperature=config.temperature, top_k=config.top_k, top_p=config.top_p)
    lengths = result.lengths.numpy()
    assert lengths.min() < config.max_length
    for b, prefix in enumerate(prefixes):
        for r in range(config.num_return_sequences):
            tokens = result.token_ids[b, r].numpy()
            length, score = lengths[b, r], 0.0
            assert not tokens[length:].any()
            assert STOP not in tokens[:length - 1]
            assert tokens[length - 1] == STOP or length == config.max_length
            for t in range(length):
                filtered = filter_reference(model.logits_of(prefix, tokens[:t]), **filter_knobs)
                assert np.isfinite(filtered[tokens[t]]), (b, r, t)
                score += log_softmax(filtered)[tokens[t]]
            np.testing.assert_allclose(result.scores[b, r], score, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("knobs", [dict(), dict(temperature=0.7, top_k=5),
                                   dict(temperature=1.5, top_p=0.8)])
def test_first_token_frequencies_match_the_filtered_softmax(knobs):
    """4000 draws per row: each count is Binomial(n, p), so |freq - p| <= 4.5 standard
    errors fails by chance with probability < 1e-5 per token (and the seed is fixed);
    removed tokens must never be drawn."""
    n = 4000
    model, prefixes = _model(), random_prefixes(2, seed=2)
    config = DecodingConfig("sample", max_length=1, num_return_sequences=n, seed=21, **knobs)
    result = _run(model, prefixes, config)
    assert result.token_ids.shape == (2, n, 1)
    for b, prefix in enumerate(prefixes):
        probs = np.exp(log_softmax(filter_reference(model.logits_of(prefix, []), **knobs)))
        freq = np.bincount(result.token_ids[b, :, 0].numpy(), minlength=model.vocab_size) / n
        assert (freq[probs == 0] == 0).all()
        bound = 4.5 * np.sqrt(probs * (1 - probs) / n) + 1e-9
        assert (np.abs(freq - probs) <= bound).all(), (freq, probs)


def test_seed_controls_the_output():
    model, prefixes = _model(), random_prefixes(3, seed=2)
    config = DecodingConfig("sample", max_length=12, num_return_sequences=2, seed=1)
    a = _run(model, prefixes, config)
    b = _run(model, prefixes, config)
    c = _run(model, prefixes, DecodingConfig.parse(config, seed=2))
    d = _run(model, prefixes, config, seed=tf.constant([2, 0], tf.int32))
    np.testing.assert_array_equal(a.token_ids, b.token_ids)
    assert not np.array_equal(a.token_ids, c.token_ids)
    # a seed tensor overrides config.seed (config.seed s is the tensor [s, 0])
    np.testing.assert_array_equal(c.token_ids, d.token_ids)
    # the R samples of a row are drawn independently
    assert not np.array_equal(a.token_ids[:, 0], a.token_ids[:, 1])


def test_compiled_sampling_takes_the_seed_as_an_argument_without_retracing():
    model, prefixes = _model(), random_prefixes(3, seed=2)
    first, cache, start = model.prefill(prefixes, 10)
    traces = []

    @tf.function(jit_compile=True)
    def generate(first, cache, seed):
        traces.append(1)
        return decode_sample(model.step, first, cache, start, seed, "top_p", max_length=10,
                             num_return_sequences=3, stop_token_ids=(STOP,))

    a = generate(first, cache, tf.constant([1, 2], tf.int32))
    b = generate(first, cache, tf.constant([3, 4], tf.int32))
    a_again = generate(first, cache, tf.constant([1, 2], tf.int32))
    assert len(traces) == 1
    assert not np.array_equal(a.token_ids, b.token_ids)
    np.testing.assert_array_equal(a.token_ids, a_again.token_ids)
    assert a.token_ids.shape == (3, 3, 10) and a.lengths.shape == a.scores.shape == (3, 3)
    assert a.padding_mask().shape == (3, 3, 10)
    np.testing.assert_array_equal(tf.reduce_sum(tf.cast(a.padding_mask(), tf.int32), -1),
                                  a.lengths)


def test_decode_sample_rejects_other_methods():
    model = _model()
    first, cache, start = model.prefill(random_prefixes(1), 4)
    with pytest.raises(ValueError, match="method 'sample'"):
        decode_sample(model.step, first, cache, start, tf.constant([0, 0]), "beam")
