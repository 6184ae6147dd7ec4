import numpy as np
import pytest
import tensorflow as tf

from tfcaption.data.attribute_swap import AttributeSwap

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange"]
SHAPES = ["circle", "square", "triangle", "star", "cross"]


def _words(text):
    return text.replace(",", "").replace(".", "").split()


def test_swaps_exactly_one_attribute_word_within_its_group():
    swap = AttributeSwap([COLOURS, SHAPES], seed=3)
    captions = tf.constant(["a small yellow circle, a large orange triangle and a small cross",
                            "two objects, a purple circle and a red cross."] * 20)
    negatives, swapped = swap(captions)
    assert swapped.numpy().all()
    changed_groups = set()
    for before, after in zip(captions.numpy(), negatives.numpy()):
        before, after = before.decode(), after.decode()
        assert after != before
        # punctuation stays on its token
        assert after.count(",") == before.count(",") and after.count(".") == before.count(".")
        diff = [(a, b) for a, b in zip(_words(before), _words(after)) if a != b]
        content = [(a, b) for a, b in diff if a not in ("a", "an")]
        assert len(content) == 1, (before, after)
        old, new = content[0]
        group = COLOURS if old in COLOURS else SHAPES
        assert old in group and new in group and new != old
        changed_groups.add(id(group))
    assert len(changed_groups) == 2  # both groups get swapped across the batch


def test_article_follows_the_new_word():
    swap = AttributeSwap([["orange", "red"]])
    negatives, _ = swap(tf.constant(["an orange star", "a red star", "the red star"]))
    assert [n.decode() for n in negatives.numpy()] == ["a red star", "an orange star",
                                                        "the orange star"]


def test_captions_without_attribute_words_are_flagged_not_swapped():
    swap = AttributeSwap([COLOURS])
    negatives, swapped = swap(tf.constant(["nothing here", "", "a red one"]))
    assert swapped.numpy().tolist() == [False, False, True]
    assert negatives.numpy()[0] == b"nothing here"
    assert negatives.numpy()[2] != b"a red one"


def test_runs_inside_tf_data_and_covers_every_alternative():
    swap = AttributeSwap([SHAPES], seed=0)
    ds = tf.data.Dataset.from_tensor_slices(["a circle"] * 400).batch(50).map(swap)
    seen = {n.decode().split()[1] for batch, _ in ds for n in batch.numpy()}
    assert seen == set(SHAPES) - {"circle"}


@pytest.mark.parametrize("groups, message", [
    ([], "at least one"), ([["red"]], "two distinct"), ([["red", "big red"]], "single word"),
    ([["red", "blue"], ["blue", "green"]], "'blue' is in groups 0 and 1")])
def test_bad_groups_are_rejected(groups, message):
    with pytest.raises(ValueError, match=message):
        AttributeSwap(groups)


def test_loss_with_hard_negatives_matches_numpy():
    from tfcaption.models.clip.contrastive_loss import contrastive_loss

    rng = np.random.default_rng(0)
    image, text, negative = (rng.normal(size=(4, 6)) for _ in range(3))
    mask = np.array([True, False, True, True])
    scale = np.log(20.0)
    loss, _ = contrastive_loss(tf.constant(image, tf.float32), tf.constant(text, tf.float32),
                               scale, tf.constant(negative, tf.float32), tf.constant(mask))

    def norm(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def xent(z):
        z = z - z.max(axis=1, keepdims=True)
        return -np.mean(np.diag(z - np.log(np.exp(z).sum(axis=1, keepdims=True))))

    logits = 20.0 * norm(image) @ norm(text).T
    candidates = np.concatenate([logits, (20.0 * norm(image) @ norm(negative).T)[:, mask]], 1)
    np.testing.assert_allclose(float(loss), (xent(candidates) + xent(logits.T)) / 2, rtol=1e-5)
    plain, _ = contrastive_loss(image, text, scale)
    assert float(loss) > float(plain)  # negatives only add competitors
