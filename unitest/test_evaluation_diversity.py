"""Diversity metrics on examples small enough to count by hand."""

import pytest

from tfcaption.evaluation.caption_words import caption_words, normalize_caption
from tfcaption.evaluation.diversity import (distinct_n, diversity_metrics,
                                            reference_diversity)


def test_words_are_lowercased_without_punctuation():
    assert caption_words("A dog's ball, black-and-white.") == ["a", "dogs", "ball",
                                                                "blackandwhite"]
    assert caption_words("  Two\tcats!\n") == ["two", "cats"]
    assert normalize_caption("A  Dog.") == normalize_caption("a dog") == "a dog"


def test_distinct_and_lengths_by_hand():
    # words: [a dog runs] [a dog sits] [a cat]: 8 unigrams, 5 unique;
    # bigrams: a-dog, dog-runs, a-dog, dog-sits, a-cat: 5, 4 unique.
    m = diversity_metrics({"x": "A dog runs.", "y": "a dog sits", "z": "A cat!"})
    assert m["distinct_1"] == 5 / 8
    assert m["distinct_2"] == 4 / 5
    assert m["vocab_size"] == 5
    assert m["mean_length"] == 8 / 3
    assert m["num_captions"] == 3


def test_novelty_against_training_captions():
    m = diversity_metrics(["A dog runs.", "a dog sits", "A cat!"],
                          training_captions=["a dog runs", "a Cat", "a bird"])
    assert m["novel_fraction"] == 1 / 3  # only "a dog sits" is new
    assert "novel_fraction_unavailable" not in m


def test_novelty_without_training_captions_is_unavailable():
    m = diversity_metrics(["a dog"])
    assert m["novel_fraction"] is None
    assert "training captions" in m["novel_fraction_unavailable"]


def test_mode_collapse_signal():
    m = diversity_metrics({1: "a dog.", 2: "A dog", 3: "a cat", 4: "a dog!"})
    assert m["most_common_caption"] == "a dog"
    assert m["most_common_fraction"] == 3 / 4
    tie = diversity_metrics(["a cat", "a dog", "a dog", "a cat"])
    assert tie["most_common_caption"] == "a cat"  # first seen among ties
    assert tie["most_common_fraction"] == 0.5


def test_distinct_n_edge_cases():
    assert distinct_n([["dog"], ["cat"]], 2) == 0.0  # no bigram at all
    assert distinct_n([["a", "a", "a"]], 1) == 1 / 3
    assert distinct_n([["a", "b"], ["b", "a"]], 2) == 1.0  # n-grams do not cross captions
    with pytest.raises(ValueError):
        distinct_n([["a"]], 0)


def test_reference_diversity_all_and_first():
    refs = {"x": ["a dog", "a brown dog"], "y": ["A dog."]}
    every = reference_diversity(refs)
    assert every["reference_distinct_1"] == 3 / 7  # a dog | a brown dog | a dog
    assert every["reference_distinct_2"] == 3 / 4  # a-dog | a-brown brown-dog | a-dog
    assert every["reference_num_captions"] == 3
    assert every["reference_vocab_size"] == 3
    first = reference_diversity(refs, mode="first", key_prefix="")
    assert first["distinct_1"] == 2 / 4 and first["distinct_2"] == 1 / 2
    assert first["num_captions"] == 2
    with pytest.raises(ValueError, match="mode"):
        reference_diversity(refs, mode="random")
    with pytest.raises(ValueError, match="'y'"):
        reference_diversity({"x": ["a"], "y": []})


def test_bad_inputs_name_the_caption():
    with pytest.raises(TypeError, match=r"predictions\['b'\]"):
        diversity_metrics({"a": "x", "b": 3})
    with pytest.raises(TypeError, match="one string"):
        diversity_metrics("a dog")
    with pytest.raises(ValueError, match="no captions"):
        diversity_metrics([])
