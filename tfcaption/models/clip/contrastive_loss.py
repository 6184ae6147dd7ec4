"""Symmetric InfoNCE, the CLIP training objective, as pure functions."""

from keras import ops

from tfcaption.backbones.clip_model import similarity_logits

MASKED_LOGIT = -1e9


def contrastive_loss(image_embeds, text_embeds, logit_scale, negative_text_embeds=None,
                     negative_mask=None):
    """Mean of image->text and text->image cross-entropy; pair ``i`` is the positive of row ``i``.

    With ``negative_text_embeds`` ``[B, D]`` (hard-negative captions, e.g. from
    :class:`~tfcaption.data.attribute_swap.AttributeSwap`), every image is also scored
    against all of them in the image->text direction (the candidates become the ``B``
    captions plus the ``B`` negatives); ``negative_mask`` ``[B]`` (bool) drops the
    negatives that are not real ones. The text->image direction is unchanged.

    Returns ``(loss, logits_per_image)`` (the ``[B, B]`` logits over the captions).
    """
    image_embeds = ops.cast(image_embeds, "float32")
    logits = similarity_logits(image_embeds, ops.cast(text_embeds, "float32"), logit_scale)
    labels = ops.arange(ops.shape(logits)[0])
    candidates = logits
    if negative_text_embeds is not None:
        negatives = similarity_logits(image_embeds, ops.cast(negative_text_embeds, "float32"),
                                      logit_scale)
        if negative_mask is not None:
            negatives = ops.where(ops.expand_dims(negative_mask, 0), negatives, MASKED_LOGIT)
        candidates = ops.concatenate([logits, negatives], axis=1)
    image_to_text = ops.sparse_categorical_crossentropy(labels, candidates, from_logits=True)
    text_to_image = ops.sparse_categorical_crossentropy(
        labels, ops.transpose(logits), from_logits=True)
    return (ops.mean(image_to_text) + ops.mean(text_to_image)) / 2.0, logits
