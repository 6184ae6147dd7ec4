"""Tests for tfcaption.data.text_ops.clean_captions: eager and inside tf.data."""

import pytest
import tensorflow as tf

from tfcaption.data.text_ops import clean_captions

RAW = [
    "A Dog's 2nd ball, IS Red!",
    "  Two\tpeople\u00a0walk\u3000along   the\nbeach .  ",
    "ÉCOLE «Über» — café 3 x",
    "a t-shirt; it's 100% cotton?",
    "...!!!",
    "",
]
CLEAN = [
    "dogs ball is red",
    "two people walk along the beach",
    "école über café",
    "tshirt its cotton",
    "",
    "",
]


def _s(t):
    return t.numpy().decode("utf-8") if t.shape.rank == 0 else [x.decode() for x in t.numpy()]


def test_scalar_defaults_follow_the_tutorials():
    for raw, clean in zip(RAW, CLEAN):
        out = clean_captions(raw)
        assert out.shape == ()
        assert _s(out) == clean, raw


def test_single_char_words_dropped_including_a_unless_kept():
    assert _s(clean_captions("a man on a bike i think")) == "man on bike think"
    assert _s(clean_captions("A man on a bike i think", keep_single_chars="a")) == \
        "a man on a bike think"
    assert _s(clean_captions("a man x", drop_single_chars=False)) == "a man x"


def test_digits_drop_whole_words():
    assert _s(clean_captions("the 2nd of 3 dogs 1990s")) == "the of dogs"
    assert _s(clean_captions("the 2nd of 3 dogs", strip_digits=False)) == "the 2nd of dogs"
    assert _s(clean_captions("the 2nd of 3 dogs", strip_digits=False,
                             drop_single_chars=False)) == "the 2nd of 3 dogs"
    # Non-ASCII digits are digits too.
    assert _s(clean_captions("room ٣ and ²x")) == "room and"


def test_options_can_be_switched_off():
    raw = "The Dog's BALL, x"
    assert _s(clean_captions(raw, lowercase=False)) == "The Dogs BALL"
    assert _s(clean_captions(raw, strip_punctuation=False)) == "the dog's ball,"
    assert _s(clean_captions(raw, lowercase=False, strip_punctuation=False,
                             strip_digits=False, drop_single_chars=False)) == \
        "The Dog's BALL, x"


def test_tags():
    out = clean_captions(["A red circle.", "!!"], add_tags=True)
    assert _s(out) == ["<start> red circle <end>", "<start> <end>"]
    out = clean_captions("A red circle.", add_tags=True, start_tag="startseq",
                         end_tag="endseq")
    assert _s(out) == "startseq red circle endseq"


def test_shapes_batch_2d_and_ragged():
    batch = clean_captions(tf.constant(RAW))
    assert batch.shape == (len(RAW),)
    assert _s(batch) == CLEAN
    grid = clean_captions(tf.constant([RAW[:3], RAW[3:]]))
    assert grid.shape == (2, 3)
    assert [[x.decode() for x in row] for row in grid.numpy()] == [CLEAN[:3], CLEAN[3:]]
    ragged = clean_captions(tf.ragged.constant([RAW[:1], RAW[1:]]))
    assert isinstance(ragged, tf.RaggedTensor)
    assert [[x.decode() for x in row] for row in ragged.to_list()] == [CLEAN[:1], CLEAN[1:]]


def test_inside_dataset_map_matches_eager():
    ds = tf.data.Dataset.from_tensor_slices(RAW).map(
        lambda t: clean_captions(t, add_tags=True))
    got = [x.decode() for x in ds.as_numpy_iterator()]
    eager = _s(clean_captions(RAW, add_tags=True))
    assert got == eager
    assert got[0] == "<start> dogs ball is red <end>"
    batched = tf.data.Dataset.from_tensor_slices(RAW).batch(4).map(clean_captions)
    got = [x.decode() for b in batched.as_numpy_iterator() for x in b]
    assert got == CLEAN


def test_graph_has_no_python_ops():
    fn = tf.function(clean_captions).get_concrete_function(tf.TensorSpec([None], tf.string))
    op_types = {op.type for op in fn.graph.get_operations()}
    assert not op_types & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}
    assert any("RegexReplace" in t for t in op_types)


def test_bad_arguments():
    with pytest.raises(ValueError, match="start_tag"):
        clean_captions("x", add_tags=True, start_tag="<s tart>")
    with pytest.raises(ValueError, match="end_tag"):
        clean_captions("x", end_tag="")
    with pytest.raises(TypeError, match="strings"):
        clean_captions(tf.constant([1, 2]))
    with pytest.raises(TypeError, match="keep_single_chars"):
        clean_captions("x", keep_single_chars=["a"])
