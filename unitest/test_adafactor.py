"""The Adafactor recipe's learning rate: linear warmup to the peak, then cosine to 0."""

import math

import pytest

from tfcaption.training.adafactor import adafactor_rate, build_adafactor


def test_warmup_then_cosine_decay():
    rate = adafactor_rate(1e-2, 10, 110)
    for step, expected in ((0, 0.0), (5, 5e-3), (10, 1e-2), (110, 0.0), (500, 0.0),
                           (60, 1e-2 * 0.5 * (1 + math.cos(math.pi * 0.5)))):
        assert float(rate(step)) == pytest.approx(expected, abs=1e-7), step


def test_constant_after_warmup_and_no_warmup():
    constant = adafactor_rate(1e-2, 4, 100, "constant")
    assert [round(float(constant(s)), 6) for s in (2, 4, 50, 10 ** 6)] == [5e-3, 1e-2, 1e-2,
                                                                          1e-2]
    assert float(adafactor_rate(1e-2, 0, 100)(0)) == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="train.schedule 'linear'"):
        adafactor_rate(1e-2, 0, 100, "linear")


def test_builds_keras_adafactor():
    optimizer = build_adafactor({"learning_rate": 1e-2, "warmup_steps": 3}, 20)
    assert type(optimizer).__name__ == "Adafactor"
    assert optimizer.clip_threshold == 1.0
