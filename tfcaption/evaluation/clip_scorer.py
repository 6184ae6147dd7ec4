"""CLIPScore / RefCLIPScore of generated captions with a CLIP model.

Any CLIP that :func:`tfcaption.backbones.clip_loader.load_clip` reads works (a Hugging
Face ``CLIPModel`` directory or a tfcaption model dir); the paper used OpenAI's
ViT-B/32, so only scores from that model compare with published numbers.

As in the paper's reference implementation (jmhessel/clipscore), every caption that is
embedded, candidate and reference alike, is prefixed with ``"A photo depicts "``
(``prefix``; a space is added when it does not end with one; ``""`` disables it), and
text longer than the model's context is truncated (start token, text, end token).
Images go through the loaded model's own preprocessor (``"clip"``: bicubic resize of
the shorter side, centre crop, CLIP mean/std), as the reference does for 224 px.
"""

import os
from typing import Dict, Hashable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from tfcaption.evaluation.caption_inputs import check_predictions, check_references, name_ids
from tfcaption.evaluation.clip_score import W, clip_s, ref_clip_s

DEFAULT_PREFIX = "A photo depicts"
PathLike = Union[str, os.PathLike]


def with_prefix(prefix: str, caption: str) -> str:
    """``prefix + " " + caption`` (no doubled space; ``caption`` alone for ``""``)."""
    if not prefix:
        return caption
    return prefix + ("" if prefix.endswith(" ") else " ") + caption


class ClipScorer:
    """Computes CLIPScore and RefCLIPScore (see :mod:`tfcaption.evaluation.clip_score`).

    Args:
      clip: a ``LoadedBackbone`` from ``load_clip`` (``model``, ``preprocessor``,
        ``tokenizer``), or a directory path ``load_clip`` reads.
      w: the CLIP-S weight (2.5 in the paper).
      prefix: text put before every caption (candidates and references), the paper's
        ``"A photo depicts"`` by default.
      batch_size: images / texts per forward pass.
    """

    def __init__(self, clip, w: float = W, prefix: str = DEFAULT_PREFIX, batch_size: int = 64):
        if isinstance(clip, (str, os.PathLike)):
            from tfcaption.backbones.clip_loader import load_clip

            clip = load_clip(clip)
        for part in ("model", "preprocessor", "tokenizer"):
            if getattr(clip, part, None) is None:
                raise ValueError(f"ClipScorer needs a loaded CLIP with a {part} (use "
                                 f"tfcaption.backbones.clip_loader.load_clip)")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
        if int(batch_size) <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.clip = clip
        self.w = float(w)
        self.prefix = prefix
        self.batch_size = int(batch_size)
        self.max_length = int(clip.model.text_max_sequence_length)

    # --- embeddings ------------------------------------------------------------------

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts (used as given, no prefix) -> unnormalised ``[N, projection_dim]``."""
        out = []
        for start in range(0, len(texts), self.batch_size):
            ids = self.clip.tokenizer.pack(tf.constant(list(texts[start:start + self.batch_size])),
                                           self.max_length)
            out.append(np.asarray(self.clip.model.encode_text(ids)))
        return np.concatenate(out) if out else np.zeros((0, self.clip.model.projection_dim))

    def load_image(self, path: PathLike) -> tf.Tensor:
        """One image file -> the model's preprocessed float32 ``[S, S, 3]`` input."""
        with open(path, "rb") as f:
            data = f.read()
        try:
            return self.clip.preprocessor.from_bytes(tf.constant(data))
        except tf.errors.InvalidArgumentError as e:
            raise ValueError(f"{os.fspath(path)}: not a decodable image ({e.message})") from None

    def encode_images(self, paths: Sequence[PathLike]) -> np.ndarray:
        """Image files -> unnormalised ``[N, projection_dim]``, in batches."""
        out = []
        for start in range(0, len(paths), self.batch_size):
            batch = tf.stack([self.load_image(p) for p in paths[start:start + self.batch_size]])
            out.append(np.asarray(self.clip.model.encode_image(batch)))
        return np.concatenate(out) if out else np.zeros((0, self.clip.model.projection_dim))

    def image_embeddings(self, images, ids: List[Hashable]) -> np.ndarray:
        """``images`` -> ``[len(ids), D]`` rows in the order of ``ids``.

        ``images`` is a mapping id -> image path or precomputed 1-D embedding (all of
        one kind; ids not in ``ids`` are ignored), or a ``[len(ids), D]`` array whose
        rows follow ``ids``.
        """
        if not isinstance(images, Mapping):
            array = np.asarray(images, dtype=np.float64)
            if array.ndim != 2 or array.shape[0] != len(ids):
                raise ValueError(f"an array of image embeddings must be [{len(ids)}, D] "
                                 f"(one row per prediction, in order); got {array.shape}")
            return array
        missing = [i for i in ids if i not in images]
        if missing:
            raise ValueError(f"{len(missing)} predicted image id(s) have no image: "
                             f"{name_ids(missing)}")
        values = [images[i] for i in ids]
        is_path = [isinstance(v, (str, os.PathLike)) for v in values]
        if all(is_path):
            return self.encode_images(values)
        if any(is_path):
            raise ValueError("images mixes paths and embeddings; give one kind")
        rows = [np.asarray(v, dtype=np.float64) for v in values]
        for i, row in zip(ids, rows):
            if row.ndim != 1 or row.shape != rows[0].shape:
                raise ValueError(f"images[{i!r}] has shape {row.shape}; every precomputed "
                                 f"embedding must be 1-D of the same size {rows[0].shape}")
        return np.stack(rows)

    # --- scores ----------------------------------------------------------------------

    def score(self, predictions: Mapping[Hashable, str], images,
              references: Optional[Mapping[Hashable, List[str]]] = None,
              return_per_image: bool = False
              ) -> Union[Dict[str, float], Tuple[Dict[str, float], Dict]]:
        """``{"CLIPScore": mean}`` plus ``"RefCLIPScore"`` when references are given.

        Args:
          predictions: image id -> generated caption.
          images: see :meth:`image_embeddings` (paths or precomputed embeddings).
          references: optional image id -> non-empty list of reference captions
            (exactly the predicted ids).
          return_per_image: also return ``{image_id: {"CLIPScore", "RefCLIPScore"}}``.
        """
        check_predictions(predictions)
        ids = list(predictions)
        if references is not None:
            check_references(references, ids)
        image_embeds = self.image_embeddings(images, ids)
        caption_embeds = self.encode_texts([with_prefix(self.prefix, predictions[i])
                                            for i in ids])
        if image_embeds.shape[1] != caption_embeds.shape[1]:
            raise ValueError(f"image embeddings have {image_embeds.shape[1]} dimensions but "
                             f"this CLIP's text embeddings have {caption_embeds.shape[1]}")
        per = {"CLIPScore": clip_s(image_embeds, caption_embeds, self.w)}
        if references is not None:
            flat = [with_prefix(self.prefix, r) for i in ids for r in references[i]]
            ref_embeds = self.encode_texts(flat)
            bounds = np.cumsum([0] + [len(references[i]) for i in ids])
            sets = [ref_embeds[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            per["RefCLIPScore"] = ref_clip_s(per["CLIPScore"], caption_embeds, sets)
        metrics = {name: float(np.mean(values)) for name, values in per.items()}
        if not return_per_image:
            return metrics
        per_image = {i: {name: float(values[k]) for name, values in per.items()}
                     for k, i in enumerate(ids)}
        return metrics, per_image


def clip_score(clip, predictions: Mapping[Hashable, str], images,
               references: Optional[Mapping[Hashable, List[str]]] = None,
               w: float = W, prefix: str = DEFAULT_PREFIX, batch_size: int = 64,
               return_per_image: bool = False):
    """``ClipScorer(clip, w, prefix, batch_size).score(predictions, images, references,
    return_per_image)``: CLIPScore (and RefCLIPScore with references) in one call."""
    return ClipScorer(clip, w=w, prefix=prefix, batch_size=batch_size).score(
        predictions, images, references, return_per_image=return_per_image)
