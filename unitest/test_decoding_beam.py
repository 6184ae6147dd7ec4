import numpy as np
import pytest
import tensorflow as tf

from decoding_reference import beam_reference
from toy_decoder import ToyDecoder, random_prefixes
from tfcaption.decoding.decode import decode
from tfcaption.decoding.decoding_config import DecodingConfig

STOP = 4
MAX_LENGTH = 16


def _model():
    return ToyDecoder(stop_token=STOP, stop_growth=0.2, seed=11)


def _run(model, prefixes, config, compiled=False, step_fn=None):
    first, cache, start = model.prefill(prefixes, config.max_length)
    step_fn = step_fn or model.step

    def fn(first, cache):
        return decode(step_fn, first, cache, start, config)

    if compiled:
        fn = tf.function(fn, jit_compile=True)
    return fn(first, cache)


def _reference(model, prefixes, config):
    return [beam_reference(model, prefix, config.beam_size, config.max_length,
                           config.stop_token_ids, config.length_penalty, config.temperature)
            for prefix in prefixes]


def _assert_matches(result, reference, config):
    rows, returned = len(reference), config.num_return_sequences
    assert result.token_ids.shape == (rows, returned, config.max_length)
    assert result.lengths.shape == result.scores.shape == (rows, returned)
    for b, beams in enumerate(reference):
        for r, (tokens, length, score) in enumerate(beams[:returned]):
            assert int(result.lengths[b, r]) == length, (b, r)
            assert result.token_ids[b, r, :length].numpy().tolist() == tokens, (b, r)
            assert not result.token_ids[b, r, length:].numpy().any()
            np.testing.assert_allclose(result.scores[b, r].numpy(), score, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("beam_size", [5, 3])
def test_beam_matches_the_official_procedure(beam_size):
    model, prefixes = _model(), random_prefixes(3, seed=4)
    config = DecodingConfig("beam", max_length=MAX_LENGTH, beam_size=beam_size,
                            num_return_sequences=beam_size, stop_token_ids=(STOP,))
    reference = _reference(model, prefixes, config)
    _assert_matches(_run(model, prefixes, config), reference, config)
    # the stop token is hit: some beams stop early, with the stop token counted
    ended = [(tokens[-1], length) for beams in reference for tokens, length, _ in beams]
    assert any(token == STOP and length < MAX_LENGTH for token, length in ended)
    assert len({length for _, length in ended}) > 2


def test_beam_without_stop_tokens_runs_to_max_length():
    model, prefixes = _model(), random_prefixes(3, seed=4)
    config = DecodingConfig("beam", max_length=8, beam_size=4, num_return_sequences=4)
    result = _run(model, prefixes, config)
    _assert_matches(result, _reference(model, prefixes, config), config)
    assert (result.lengths.numpy() == 8).all()


@pytest.mark.parametrize("length_penalty", [0.0, 2.0, 0.6])
def test_beam_length_penalty_exponent(length_penalty):
    model, prefixes = _model(), random_prefixes(3, seed=4)
    config = DecodingConfig("beam", max_length=MAX_LENGTH, beam_size=5, num_return_sequences=5,
                            stop_token_ids=(STOP,), length_penalty=length_penalty)
    _assert_matches(_run(model, prefixes, config), _reference(model, prefixes, config), config)


def test_beam_temperature_divides_the_logits():
    model, prefixes = _model(), random_prefixes(3, seed=4)
    config = DecodingConfig("beam", max_length=MAX_LENGTH, beam_size=3, num_return_sequences=3,
                            stop_token_ids=(STOP,), temperature=2.5)
    _assert_matches(_run(model, prefixes, config), _reference(model, prefixes, config), config)


def test_beam_returns_the_best_sequences_first():
    model, prefixes = _model(), random_prefixes(3, seed=4)
    config = DecodingConfig("beam", max_length=MAX_LENGTH, beam_size=5, num_return_sequences=2,
                            stop_token_ids=(STOP,))
    result = _run(model, prefixes, config)
    _assert_matches(result, _reference(model, prefixes, config), config)
    scores = result.scores.numpy()
    assert (scores[:, 0] >= scores[:, 1]).all()


def test_beam_stop_on_the_first_token():
    model, prefixes = _model(), random_prefixes(3, seed=4)
    first, _, _ = model.prefill(prefixes, 4)
    stop = int(np.argmax(first[0]))  # row 0's most probable first token stops its beam
    config = DecodingConfig("beam", max_length=MAX_LENGTH, beam_size=5, num_return_sequences=5,
                            stop_token_ids=(stop,))
    reference = _reference(model, prefixes, config)
    assert ([stop], 1) in [(tokens, length) for tokens, length, _ in reference[0]]
    _assert_matches(_run(model, prefixes, config), reference, config)


def test_beam_compiled_equals_eager():
    model, prefixes = _model(), random_prefixes(3, seed=4)
    config = DecodingConfig("beam", max_length=MAX_LENGTH, beam_size=5, num_return_sequences=3,
                            stop_token_ids=(STOP,), length_penalty=0.7)
    eager = _run(model, prefixes, config)
    compiled = _run(model, prefixes, config, compiled=True)
    _assert_matches(compiled, _reference(model, prefixes, config), config)
    np.testing.assert_array_equal(compiled.token_ids, eager.token_ids)
    np.testing.assert_array_equal(compiled.lengths, eager.lengths)
    np.testing.assert_allclose(compiled.scores, eager.scores, rtol=1e-6)


def test_wrongly_reordered_cache_is_detected():
    """Negative control: the toy model's logits depend on the cached history, so a beam
    search whose cache rows go to the wrong beams does not match the reference."""
    model, prefixes = _model(), random_prefixes(3, seed=4)
    config = DecodingConfig("beam", max_length=MAX_LENGTH, beam_size=5, num_return_sequences=5,
                            stop_token_ids=(STOP,))

    def shuffled_step(token_ids, cache, index):
        rows = tf.reshape(tf.reverse(tf.reshape(tf.range(15), [3, 5]), [1]), [-1])
        return model.step(token_ids, tf.nest.map_structure(lambda x: tf.gather(x, rows), cache),
                          index)

    with pytest.raises(AssertionError):
        _assert_matches(_run(model, prefixes, config, step_fn=shuffled_step),
                        _reference(model, prefixes, config), config)
