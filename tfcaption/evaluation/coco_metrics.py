"""The COCO caption metrics, computed by pycocoevalcap exactly as its ``COCOEvalCap`` does.

Captions (predictions and references) are PTB-tokenised (:func:`ptb_tokenize`), then
scored by pycocoevalcap's ``Bleu(4)`` (BLEU-1..4, corpus-level, ``option="closest"``),
``Meteor`` (METEOR 1.5, ``-l en -norm``), ``Rouge`` (ROUGE-L, beta 1.2), ``Cider``
(this class is CIDEr-D: clipped n-gram counts, Gaussian length penalty with sigma 6,
document frequencies from the references of the evaluated images only, so a score
depends on which images are evaluated together) and, where it can run, ``Spice``.
The numbers are pycocoevalcap's own, unchanged (``float`` of what it returns).
"""

import subprocess
from typing import Dict, Hashable, List, Mapping, Tuple, Union

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from tfcaption.evaluation.caption_inputs import check_caption_inputs
from tfcaption.evaluation.meteor_process import meteor_score
from tfcaption.evaluation.ptb_tokenize import check_java, ptb_tokenize
from tfcaption.evaluation.spice_availability import spice_unavailable_reason
from tfcaption.evaluation.unavailable import mark_unavailable

BLEU_KEYS = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4")
METRIC_KEYS = BLEU_KEYS + ("METEOR", "ROUGE_L", "CIDEr", "SPICE")
SPICE_CHOICES = ("auto", True, False)


def _spice(gts, res, ids, mode):
    """(corpus SPICE, per-image SPICE dict) or (None, reason)."""
    from pycocoevalcap.spice.spice import Spice

    # Spice() downloads CoreNLP when its jar is missing: only reached once it is present.
    try:
        score, scores = Spice().compute_score(gts, res)
    except (subprocess.CalledProcessError, OSError, ValueError) as e:
        if mode is True:
            raise RuntimeError(f"SPICE failed: {e}") from e
        return None, f"SPICE failed: {e}"
    # pycocoevalcap's Spice orders its per-image list by sorted image id.
    per_image = {i: float(s["All"]["f"]) for i, s in zip(sorted(ids), scores)}
    return float(score), per_image


def coco_metrics(predictions: Mapping[Hashable, str],
                 references: Mapping[Hashable, List[str]],
                 spice: Union[str, bool] = "auto",
                 return_per_image: bool = False
                 ) -> Union[Dict, Tuple[Dict, Dict[Hashable, Dict[str, float]]]]:
    """BLEU-1..4, METEOR, ROUGE-L, CIDEr-D and SPICE of ``predictions``.

    Args:
      predictions: image id (str or int) -> generated caption.
      references: the same ids -> non-empty list of reference captions.
      spice: "auto" (compute SPICE where its Stanford CoreNLP jars are present, else
        report it unavailable; a failing SPICE run is reported unavailable too),
        True (require SPICE: raise ``RuntimeError`` if unavailable or failing) or
        False (do not run it). SPICE 1.0 was built for Java 8; on newer Java its
        cache (FST serialisation) is known to fail, which "auto" reports as
        unavailable with the error.
      return_per_image: also return ``{image_id: {metric: value}}``.

    Returns:
      ``{"Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr",
      "SPICE", "num_images"}``; when SPICE is not computed, ``"SPICE"`` is None and
      ``"SPICE_unavailable"`` says why. With ``return_per_image``, a tuple
      ``(metrics, per_image)``.

    Image ids of mixed types (str and int) cannot be sorted by pycocoevalcap's SPICE.

    Raises ``ValueError`` / ``TypeError`` naming the image id when an id is in only one
    of the two mappings, a reference list is empty, or a caption is not a string; and
    ``RuntimeError`` when Java is missing. Characters that end a line for the PTB
    tokenizer (``\\r``, U+2028, ...) are replaced by spaces (see :mod:`ptb_tokenize`).
    """
    if not (isinstance(spice, bool) or spice == "auto"):
        raise ValueError(f"spice must be one of {SPICE_CHOICES}, got {spice!r}")
    check_caption_inputs(predictions, references)
    spice_reason = "not requested (spice=False)" if spice is False else \
        spice_unavailable_reason()
    if spice is True and spice_reason is not None:
        raise RuntimeError(f"SPICE was required (spice=True) but is unavailable: "
                           f"{spice_reason}")
    check_java()

    ids = list(predictions)
    gts = ptb_tokenize({i: list(references[i]) for i in ids})
    res = ptb_tokenize({i: [predictions[i]] for i in ids})

    metrics: Dict = {}
    per_image: Dict[Hashable, Dict[str, float]] = {i: {} for i in ids}

    def put(name, score, scores):
        metrics[name] = float(score)
        for i, s in zip(gts.keys(), scores):
            per_image[i][name] = float(s)

    bleu, bleu_scores = Bleu(4).compute_score(gts, res, verbose=0)
    for name, score, scores in zip(BLEU_KEYS, bleu, bleu_scores):
        put(name, score, scores)
    put("METEOR", *meteor_score(gts, res))
    put("ROUGE_L", *Rouge().compute_score(gts, res))
    put("CIDEr", *Cider().compute_score(gts, res))

    if spice_reason is None:
        score, result = _spice(gts, res, ids, spice)
        if score is None:
            mark_unavailable(metrics, "SPICE", result)
        else:
            metrics["SPICE"] = score
            for i in ids:
                per_image[i]["SPICE"] = result[i]
    else:
        mark_unavailable(metrics, "SPICE", spice_reason)
    metrics["num_images"] = len(ids)
    return (metrics, per_image) if return_per_image else metrics
