"""Symmetric InfoNCE, the CLIP training objective, as pure functions."""

from keras import ops


def l2_normalize(x, epsilon=1e-12):
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), epsilon))


def similarity_logits(image_embeds, text_embeds, logit_scale):
    """``exp(logit_scale) * cos(image_i, text_j)`` -> ``[num_images, num_texts]``."""
    image = l2_normalize(ops.cast(image_embeds, "float32"))
    text = l2_normalize(ops.cast(text_embeds, "float32"))
    return ops.exp(ops.cast(logit_scale, "float32")) * ops.matmul(image, ops.transpose(text))


def contrastive_loss(image_embeds, text_embeds, logit_scale):
    """Mean of image->text and text->image cross-entropy; pair ``i`` is the positive of row ``i``.

    Returns ``(loss, logits_per_image)``.
    """
    logits = similarity_logits(image_embeds, text_embeds, logit_scale)
    labels = ops.arange(ops.shape(logits)[0])
    image_to_text = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    text_to_image = ops.sparse_categorical_crossentropy(
        labels, ops.transpose(logits), from_logits=True)
    return (ops.mean(image_to_text) + ops.mean(text_to_image)) / 2.0, logits
