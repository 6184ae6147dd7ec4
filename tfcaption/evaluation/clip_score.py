"""CLIPScore and RefCLIPScore from embeddings (Hessel et al., 2021, EMNLP).

With ``c`` a candidate caption's CLIP text embedding, ``v`` its image's embedding and
``R`` the embeddings of its references (all L2-normalised):

- ``CLIP-S(c, v) = w * max(cos(c, v), 0)``, ``w = 2.5``;
- ``RefCLIP-S(c, R, v) = H-Mean(CLIP-S(c, v), max(max_{r in R} cos(c, r), 0))``,
  the harmonic mean ``2ab / (a + b)``, taken as 0 when both terms are 0.

The paper's reference implementation (jmhessel/clipscore) does not clamp the
text-text term at 0; the two agree whenever some reference has a non-negative cosine.
System-level scores are the means over images. Everything is computed in float64.
"""

from typing import Sequence

import numpy as np

W = 2.5


def normalize_rows(x) -> np.ndarray:
    """Rows of ``x`` (``[N, D]``) divided by their L2 norm, in float64."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a [N, D] matrix of embeddings, got shape {x.shape}")
    norms = np.sqrt(np.sum(np.square(x), axis=1, keepdims=True))
    if np.any(norms == 0) or not np.all(np.isfinite(norms)):
        bad = np.flatnonzero((norms[:, 0] == 0) | ~np.isfinite(norms[:, 0]))
        raise ValueError(f"embedding row(s) {bad[:5].tolist()} have a zero or non-finite norm")
    return x / norms


def clip_s(image_embeds, caption_embeds, w: float = W) -> np.ndarray:
    """Per-pair ``w * max(cos(image_i, caption_i), 0)`` for aligned ``[N, D]`` rows."""
    images, captions = normalize_rows(image_embeds), normalize_rows(caption_embeds)
    if images.shape != captions.shape:
        raise ValueError(f"image embeddings {images.shape} and caption embeddings "
                         f"{captions.shape} do not align")
    return w * np.clip(np.sum(images * captions, axis=1), 0.0, None)


def reference_similarity(caption_embeds, reference_embeds: Sequence) -> np.ndarray:
    """Per caption ``max(max_r cos(caption_i, r), 0)`` over ``reference_embeds[i]``
    (a ``[R_i, D]`` matrix, R_i >= 1)."""
    captions = normalize_rows(caption_embeds)
    if len(reference_embeds) != len(captions):
        raise ValueError(f"{len(captions)} captions but {len(reference_embeds)} reference "
                         f"sets")
    out = np.empty(len(captions), dtype=np.float64)
    for i, refs in enumerate(reference_embeds):
        refs = normalize_rows(refs)
        if refs.shape[0] == 0 or refs.shape[1] != captions.shape[1]:
            raise ValueError(f"reference set {i} has shape {refs.shape}; expected "
                             f"[R >= 1, {captions.shape[1]}]")
        out[i] = max(float(np.max(refs @ captions[i])), 0.0)
    return out


def harmonic_mean(a, b) -> np.ndarray:
    """Element-wise ``2ab / (a + b)`` for non-negative inputs; 0 where ``a + b == 0``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    total = a + b
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, 2.0 * a * b / safe, 0.0)


def ref_clip_s(clip_scores, caption_embeds, reference_embeds: Sequence) -> np.ndarray:
    """Per-caption RefCLIP-S from per-caption CLIP-S values (already weighted by w)."""
    return harmonic_mean(clip_scores, reference_similarity(caption_embeds, reference_embeds))
