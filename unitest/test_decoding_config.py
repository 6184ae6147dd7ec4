import json

import pytest

from tfcaption.decoding.decoding_config import DecodingConfig


def test_defaults_and_round_trip_through_json():
    config = DecodingConfig("beam", stop_token_ids=[13, 198])
    assert config.max_length == 67 and config.beam_size == 5 and config.top_k == 0
    assert config.top_p == 1.0 and config.num_return_sequences == 1 and config.seed == 0
    assert config.stop_token_ids == (13, 198)
    restored = DecodingConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config


def test_parse_accepts_configs_dicts_and_names():
    base = DecodingConfig("greedy", max_length=20)
    assert DecodingConfig.parse(base) is not None
    assert DecodingConfig.parse(base, max_length=5) == DecodingConfig("greedy", max_length=5)
    assert DecodingConfig.parse({"method": "beam", "beam_size": 3}).beam_size == 3
    assert DecodingConfig.parse("sample", top_k=7).top_k == 7


def test_parse_aliases():
    top_p = DecodingConfig.parse("top_p")
    assert (top_p.method, top_p.top_p, top_p.top_k) == ("sample", 0.9, 0)
    assert DecodingConfig.parse("top_p", top_p=0.5).top_p == 0.5
    top_k = DecodingConfig.parse("top_k", max_length=9)
    assert (top_k.method, top_k.top_k, top_k.max_length) == ("sample", 50, 9)
    assert DecodingConfig.parse({"method": "top_k", "top_k": 3}).top_k == 3
    assert DecodingConfig.parse(DecodingConfig("greedy"), method="top_p").top_p == 0.9


@pytest.mark.parametrize("fields, named", [
    (dict(method="nucleus"), "method"),
    (dict(method="greedy", max_length=0), "max_length"),
    (dict(method="beam", beam_size=0), "beam_size"),
    (dict(method="beam", beam_size=3, num_return_sequences=4), "num_return_sequences"),
    (dict(method="greedy", num_return_sequences=2), "num_return_sequences"),
    (dict(method="sample", num_return_sequences=0), "num_return_sequences"),
    (dict(method="sample", temperature=0.0), "temperature"),
    (dict(method="sample", temperature=-1.0), "temperature"),
    (dict(method="sample", top_p=0.0), "top_p"),
    (dict(method="sample", top_p=1.1), "top_p"),
    (dict(method="sample", top_k=-1), "top_k"),
    (dict(method="greedy", max_length=2.5), "max_length"),
    (dict(method="greedy", stop_token_ids=("a",)), "stop_token_ids"),
    (dict(method="greedy", stop_token_ids=13), "stop_token_ids"),
    (dict(method="sample", seed=2 ** 40), "seed"),
])
def test_validation_names_the_field(fields, named):
    with pytest.raises(ValueError, match=f"DecodingConfig.{named}") as error:
        DecodingConfig(**fields)
    value = fields[named]
    if not isinstance(value, tuple):
        assert str(value) in str(error.value)  # the offending value is shown


def test_unknown_keys_are_named():
    with pytest.raises(ValueError, match="beams"):
        DecodingConfig.from_dict({"method": "beam", "beams": 4})
    with pytest.raises(ValueError, match="beams"):
        DecodingConfig.parse("beam", beams=4)
    with pytest.raises(ValueError, match="method"):
        DecodingConfig.from_dict({"max_length": 4})
    with pytest.raises(TypeError, match="DecodingConfig.parse"):
        DecodingConfig.parse(3)
