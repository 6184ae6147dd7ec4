"""Show-and-Tell caption cleaning, eagerly and inside tf.data."""

import tensorflow as tf

from tfcaption.models.show_tell.show_tell_text import clean_show_tell

CASES = {
    "A Dog runs, across 2 fields!": "dog runs across fields",
    "startseq a girl in a T-shirt endseq": "girl in tshirt",
    "Two dogs play in the 3rd yard .": "two dogs play in the yard",
    "  Startseq  ": "",
}


def test_cleans_like_the_notebooks_eagerly():
    out = clean_show_tell(tf.constant(list(CASES)))
    assert [t.decode() for t in out.numpy()] == list(CASES.values())
    assert clean_show_tell("A cat.").numpy() == b"cat"


def test_keeps_the_shape_and_runs_in_tf_data():
    batch = tf.constant([list(CASES)[:2], list(CASES)[2:]])
    assert clean_show_tell(batch).shape == (2, 2)
    ds = tf.data.Dataset.from_tensor_slices(list(CASES)).map(clean_show_tell)
    assert [t.decode() for t in ds.as_numpy_iterator()] == list(CASES.values())
