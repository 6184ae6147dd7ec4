"""Symmetric InfoNCE, the CLIP training objective, as pure functions."""

from keras import ops

from tfcaption.backbones.clip_model import similarity_logits

MASKED_LOGIT = -1e9


def contrastive_loss(image_embeds, text_embeds, logit_scale, negative_text_embeds=None,
                     negative_mask=None, all_image_embeds=None, all_text_embeds=None,
                     offset=0):
    """Mean of image->text and text->image cross-entropy; pair ``i`` is the positive of row ``i``.

    With ``negative_text_embeds`` ``[B, D]`` (hard-negative captions, e.g. from
    :class:`~tfcaption.data.attribute_swap.AttributeSwap`), every image is also scored
    against all of them in the image->text direction (the candidates become the ``B``
    captions plus the ``B`` negatives); ``negative_mask`` ``[B]`` (bool) drops the
    negatives that are not real ones. The text->image direction is unchanged.

    Under ``tf.distribute`` a replica holds ``b`` rows of the global batch, starting at
    row ``offset``: ``all_image_embeds`` / ``all_text_embeds`` are the global batch's
    (gathered from every replica; then ``negative_text_embeds`` / ``negative_mask`` are
    the gathered ones too), so its rows are scored against every candidate of the global
    batch, as on one device; the loss is the mean over its own rows.

    Returns ``(loss, logits_per_image)`` (the ``[b, B]`` logits over the captions; row
    ``i``'s positive is column ``offset + i``).
    """
    image_embeds = ops.cast(image_embeds, "float32")
    text_embeds = ops.cast(text_embeds, "float32")
    columns_text = text_embeds if all_text_embeds is None else ops.cast(all_text_embeds,
                                                                        "float32")
    columns_image = image_embeds if all_image_embeds is None else ops.cast(all_image_embeds,
                                                                           "float32")
    logits = similarity_logits(image_embeds, columns_text, logit_scale)
    labels = ops.arange(ops.shape(logits)[0]) + offset
    candidates = logits
    if negative_text_embeds is not None:
        negatives = similarity_logits(image_embeds, ops.cast(negative_text_embeds, "float32"),
                                      logit_scale)
        if negative_mask is not None:
            negatives = ops.where(ops.expand_dims(negative_mask, 0), negatives, MASKED_LOGIT)
        candidates = ops.concatenate([logits, negatives], axis=1)
    image_to_text = ops.sparse_categorical_crossentropy(labels, candidates, from_logits=True)
    text_to_image = ops.sparse_categorical_crossentropy(
        labels, similarity_logits(text_embeds, columns_image, logit_scale), from_logits=True)
    return (ops.mean(image_to_text) + ops.mean(text_to_image)) / 2.0, logits
