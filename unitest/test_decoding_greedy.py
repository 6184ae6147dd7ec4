import numpy as np
import pytest
import tensorflow as tf

from decoding_reference import greedy_reference
from toy_decoder import ToyDecoder, random_prefixes
from tfcaption.decoding.decode import decode
from tfcaption.decoding.decoding_config import DecodingConfig

STOP = 4


def _run(model, prefixes, config, compiled=False):
    first, cache, start = model.prefill(prefixes, config.max_length)

    def fn(first, cache):
        return decode(model.step, first, cache, start, config)

    if compiled:
        fn = tf.function(fn, jit_compile=True)
    return fn(first, cache)


def _check_against_reference(model, prefixes, config, result):
    assert result.token_ids.shape == (len(prefixes), 1, config.max_length)
    assert result.token_ids.dtype == tf.int32 and result.lengths.dtype == tf.int32
    for b, prefix in enumerate(prefixes):
        want, want_score = greedy_reference(model, prefix, config.max_length,
                                            config.stop_token_ids)
        length = int(result.lengths[b, 0])
        assert length == len(want)
        assert result.token_ids[b, 0, :length].numpy().tolist() == want
        assert not result.token_ids[b, 0, length:].numpy().any()
        np.testing.assert_allclose(result.scores[b, 0].numpy(), want_score, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stops", [(), (STOP,), (STOP, 9)])
def test_greedy_matches_the_uncached_reference(stops):
    model = ToyDecoder(stop_token=STOP, stop_growth=0.12, seed=5)
    prefixes = random_prefixes(3, seed=2)
    config = DecodingConfig("greedy", max_length=24, stop_token_ids=stops)
    result = _run(model, prefixes, config)
    _check_against_reference(model, prefixes, config, result)
    lengths = result.lengths.numpy().ravel()
    if stops:
        assert lengths.min() < config.max_length  # a stop token was produced
    else:
        assert (lengths == config.max_length).all()


def test_greedy_rows_stop_independently_and_the_loop_ends_early():
    model = ToyDecoder(stop_token=STOP, stop_growth=0.12, seed=5)
    prefixes = random_prefixes(3, seed=2)
    config = DecodingConfig("greedy", max_length=40, stop_token_ids=(STOP,))
    calls = []

    def counting_step(token_ids, cache, index):
        calls.append(int(index))
        return model.step(token_ids, cache, index)

    first, cache, start = model.prefill(prefixes, config.max_length)
    result = decode(counting_step, first, cache, start, config)
    _check_against_reference(model, prefixes, config, result)
    lengths = result.lengths.numpy().ravel()
    assert len(set(lengths)) > 1 and lengths.max() < config.max_length
    assert calls == list(range(start, start + lengths.max() - 1))


def test_greedy_compiled_equals_eager():
    model = ToyDecoder(stop_token=STOP, stop_growth=0.12, seed=5)
    prefixes = random_prefixes(3, seed=2)
    config = DecodingConfig("greedy", max_length=24, stop_token_ids=(STOP,))
    eager = _run(model, prefixes, config)
    compiled = _run(model, prefixes, config, compiled=True)
    _check_against_reference(model, prefixes, config, compiled)
    np.testing.assert_array_equal(compiled.token_ids, eager.token_ids)
    np.testing.assert_array_equal(compiled.lengths, eager.lengths)
    np.testing.assert_allclose(compiled.scores, eager.scores, rtol=1e-6)


def test_greedy_with_one_token_never_steps_the_model():
    model = ToyDecoder(seed=5)
    first, cache, start = model.prefill(random_prefixes(2), 1)

    def no_step(token_ids, cache, index):
        raise AssertionError("step_fn called for max_length 1")

    result = decode(no_step, first, cache, start, DecodingConfig("greedy", max_length=1))
    np.testing.assert_array_equal(result.token_ids[:, 0, 0], np.argmax(first, axis=-1))
    np.testing.assert_array_equal(result.lengths, [[1], [1]])
