"""CgT-GAN's CLIP rewards of generated captions (pure functions of embeddings).

``gen`` holds the CLIP text embeddings of generated captions, ``gt`` the target text
embedding of each caption's image (the aggregated corpus embedding), ``image`` the CLIP
image embedding; every argument is ``[N, D]`` (rows paired) and every result ``[N]``.
``scale`` is CLIP's logit scale ``exp(logit_scale)`` (100 for OpenAI's CLIPs).
"""

from keras import ops

DEFAULT_COS_WEIGHT = 0.5
DEFAULT_CLIP_WEIGHT = 0.0


def _unit(x):
    return x / ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))


def cosine(a, b):
    """Row-wise cosine similarity ``[N]``."""
    a, b = ops.cast(a, "float32"), ops.cast(b, "float32")
    return ops.sum(_unit(a) * _unit(b), axis=-1)


def l1_reward(gt, gen, scale):
    """``scale * (1 - mean_d |gt - gen|)`` on the unnormalised embeddings."""
    gt, gen = ops.cast(gt, "float32"), ops.cast(gen, "float32")
    return scale * (1.0 - ops.mean(ops.abs(gt - gen), axis=-1))


def cos_reward(gt, gen, scale):
    """``scale * cos(gt, gen)``."""
    return scale * cosine(gt, gen)


def image_reward(image, gen, scale):
    """``scale * cos(image, gen)``: the CLIP image-text score ("clip" in CgT-GAN)."""
    return scale * cosine(image, gen)


def combined_reward(l1, cos, clip, cos_weight=DEFAULT_COS_WEIGHT,
                    clip_weight=DEFAULT_CLIP_WEIGHT):
    """``(1 - clip_w) * (cos_w * cos + (1 - cos_w) * l1) + clip_w * clip``.

    The defaults (cos_w 0.5, clip_w 0) are CgT-GAN's "CLIP-agg" reward; clip_w 1 is
    "CLIP-cos" (the image-text score alone)."""
    text = cos_weight * cos + (1.0 - cos_weight) * l1
    return (1.0 - clip_weight) * text + clip_weight * clip


def clip_rewards(gt, gen, image, scale, cos_weight=DEFAULT_COS_WEIGHT,
                 clip_weight=DEFAULT_CLIP_WEIGHT):
    """All four rewards: ``{"l1", "cos", "clip", "score"}``, each ``[N]``."""
    l1 = l1_reward(gt, gen, scale)
    cos = cos_reward(gt, gen, scale)
    clip = image_reward(image, gen, scale)
    return {"l1": l1, "cos": cos, "clip": clip,
            "score": combined_reward(l1, cos, clip, cos_weight, clip_weight)}
