"""Image -> text retrieval recall for an aligned image-text embedding space."""

import numpy as np


def retrieval_recall(image_embeds, text_embeds, text_owner=None, ks=(1, 5)):
    """Fraction of images whose own text ranks in the top ``k`` among all candidate texts.

    Args:
      image_embeds: ``[num_images, dim]``.
      text_embeds: ``[num_texts, dim]`` candidates.
      text_owner: ``[num_texts]`` index of the image each text belongs to; default
        ``arange`` (text ``i`` describes image ``i``).
      ks: cut-offs.

    Returns:
      ``{"R@1": ..., "R@5": ..., "num_images": n, "num_candidates": m}``. A hit is a text
      owned by the query image; ties are broken against the query (a tie counts as a miss).
    """
    image = np.asarray(image_embeds, np.float64)
    text = np.asarray(text_embeds, np.float64)
    image = image / np.linalg.norm(image, axis=-1, keepdims=True)
    text = text / np.linalg.norm(text, axis=-1, keepdims=True)
    owner = np.arange(len(text)) if text_owner is None else np.asarray(text_owner)
    if len(owner) != len(text):
        raise ValueError(f"text_owner has {len(owner)} entries for {len(text)} texts")
    sims = image @ text.T
    own = owner[None, :] == np.arange(len(image))[:, None]
    if not own.any(axis=1).all():
        missing = np.flatnonzero(~own.any(axis=1))[:5].tolist()
        raise ValueError(f"images {missing} have no candidate text")
    best_own = np.where(own, sims, -np.inf).max(axis=1)
    # Rank of the best own text = number of other texts scoring at least as high.
    rank = (np.where(own, -np.inf, sims) >= best_own[:, None]).sum(axis=1)
    result = {f"R@{k}": float(np.mean(rank < k)) for k in ks}
    result.update(num_images=int(len(image)), num_candidates=int(len(text)))
    return result
