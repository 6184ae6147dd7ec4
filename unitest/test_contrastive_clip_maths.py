import numpy as np
import pytest
import tensorflow as tf

from tfcaption.models.clip.contrastive_loss import contrastive_loss, similarity_logits
from tfcaption.models.clip.retrieval import retrieval_recall


def _reference_loss(image, text, scale):
    image = image / np.linalg.norm(image, axis=1, keepdims=True)
    text = text / np.linalg.norm(text, axis=1, keepdims=True)
    logits = np.exp(scale) * image @ text.T

    def xent(z):
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -np.mean(np.diag(logp))

    return (xent(logits) + xent(logits.T)) / 2


def test_loss_matches_numpy_reference():
    rng = np.random.default_rng(0)
    image, text = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    loss, logits = contrastive_loss(tf.constant(image, tf.float32), tf.constant(text, tf.float32),
                                    tf.constant(np.log(1 / 0.07), tf.float32))
    np.testing.assert_allclose(float(loss), _reference_loss(image, text, np.log(1 / 0.07)),
                               rtol=1e-5)
    assert logits.shape == (6, 6)


def test_loss_is_low_for_aligned_pairs_and_ignores_norms():
    base = np.eye(4, dtype=np.float32)
    aligned, _ = contrastive_loss(base * 3.0, base * 0.5, np.log(50.0))
    shuffled, _ = contrastive_loss(base, base[::-1], np.log(50.0))
    assert float(aligned) < 1e-6 < float(shuffled)
    np.testing.assert_allclose(similarity_logits(base * 7, base, 0.0), np.eye(4), atol=1e-6)


def test_temperature_gradient_flows():
    scale = tf.Variable(1.0)
    rng = np.random.default_rng(1)
    image = tf.constant(rng.normal(size=(5, 3)), tf.float32)
    with tf.GradientTape() as tape:
        loss, _ = contrastive_loss(image, image + 0.1, scale)
    assert float(tape.gradient(loss, scale)) < 0  # sharper helps when pairs agree


def test_retrieval_recall_ranks_and_ties():
    image = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    text = np.array([[1.0, 0.1], [1.0, 0.0], [1.0, 1.0]])  # image 1's text is wrong
    result = retrieval_recall(image, text, ks=(1, 2, 3))
    # image 0: own text (cos .995) ranks 2nd after text 1 (cos 1.0); image 1: own text ranks
    # 3rd (text 2 scores .707, text 0 scores .0995 > 0); image 2: own text ranks 1st.
    assert result["R@1"] == pytest.approx(1 / 3)
    assert result["R@2"] == pytest.approx(2 / 3)
    assert result["R@3"] == pytest.approx(1.0)
    assert result["num_candidates"] == 3
    tie = retrieval_recall(np.array([[1.0, 0.0]] * 2), np.array([[1.0, 0.0]] * 2))
    assert tie["R@1"] == 0.0  # an equal-scoring other text counts against the query
    owned = retrieval_recall(image[:2], text, text_owner=[0, 0, 1], ks=(1,))
    assert owned["R@1"] == 1.0  # image 0 owns texts 0 and 1; image 1 owns text 2
    with pytest.raises(ValueError, match="no candidate"):
        retrieval_recall(image, text, text_owner=[0, 0, 1])


@pytest.mark.parametrize("with_negatives", [False, True])
def test_replica_shares_against_the_gathered_batch_sum_to_the_one_device_loss(with_negatives):
    """Under tf.distribute each replica scores its rows against the gathered global
    batch; its loss times rows / global rows, summed over replicas, is the global loss,
    and so are the gradients."""
    rng = np.random.default_rng(2)
    image = tf.constant(rng.normal(size=(6, 4)), tf.float32)
    text = tf.constant(rng.normal(size=(6, 4)), tf.float32)
    negatives = tf.constant(rng.normal(size=(6, 4)), tf.float32) if with_negatives else None
    mask = tf.constant([True, False, True, True, False, True]) if with_negatives else None
    scale = tf.Variable(np.log(1 / 0.07), dtype=tf.float32)
    with tf.GradientTape() as tape:
        full, full_logits = contrastive_loss(image, text, scale, negatives, mask)
    full_grad = tape.gradient(full, scale)
    total, grad = 0.0, 0.0
    for start, stop in ((0, 2), (2, 6)):  # uneven replicas (a last partial batch)
        with tf.GradientTape() as tape:
            part, logits = contrastive_loss(image[start:stop], text[start:stop], scale,
                                            negatives, mask, all_image_embeds=image,
                                            all_text_embeds=text, offset=start)
            share = part * (stop - start) / 6
        total += float(share)
        grad += float(tape.gradient(share, scale))
        np.testing.assert_allclose(logits, full_logits[start:stop], rtol=1e-6)
    np.testing.assert_allclose(total, float(full), rtol=1e-6)
    np.testing.assert_allclose(grad, float(full_grad), rtol=1e-5)
