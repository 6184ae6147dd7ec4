import pytest
import tensorflow as tf

from tfcaption.data.caption_tokens import pad_tokens


@pytest.mark.parametrize("graph", [False, True])
def test_pad_tokens_eager_and_in_dataset_map(graph):
    def fn(ids):
        return pad_tokens(ids, 6, pad_id=-7, start_id=100, end_id=101)

    cases = {(5, 6): ([100, 5, 6, 101, -7, -7], [1, 1, 1, 1, 0, 0]),
             (1, 2, 3, 4, 5, 6): ([100, 1, 2, 3, 4, 101], [1] * 6),
             (): ([100, 101, -7, -7, -7, -7], [1, 1, 0, 0, 0, 0])}
    for ids, (want_ids, want_mask) in cases.items():
        x = tf.constant(list(ids), tf.int32)
        if graph:
            tok, mask = next(iter(tf.data.Dataset.from_tensors(x).map(fn)))
        else:
            tok, mask = fn(x)
        assert tok.numpy().tolist() == want_ids
        assert mask.numpy().astype(int).tolist() == want_mask
        assert mask.dtype == tf.bool and tok.shape == (6,)


def test_pad_tokens_rejects_a_length_with_no_room():
    with pytest.raises(ValueError, match="max_length 2"):
        pad_tokens(tf.constant([1]), 2, 0, start_id=1, end_id=2)
