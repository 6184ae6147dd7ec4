"""Symmetric InfoNCE, the CLIP training objective, as pure functions."""

from keras import ops

from tfcaption.backbones.clip_model import similarity_logits


def contrastive_loss(image_embeds, text_embeds, logit_scale):
    """Mean of image->text and text->image cross-entropy; pair ``i`` is the positive of row ``i``.

    Returns ``(loss, logits_per_image)``.
    """
    logits = similarity_logits(ops.cast(image_embeds, "float32"),
                               ops.cast(text_embeds, "float32"), logit_scale)
    labels = ops.arange(ops.shape(logits)[0])
    image_to_text = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    text_to_image = ops.sparse_categorical_crossentropy(
        labels, ops.transpose(logits), from_logits=True)
    return (ops.mean(image_to_text) + ops.mean(text_to_image)) / 2.0, logits
