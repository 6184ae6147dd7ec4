"""CIDEr-D alone (pycocoevalcap's ``Cider`` on PTB-tokenised text), for validation loops."""

from typing import Dict, Hashable, List, Mapping, Tuple

from pycocoevalcap.cider.cider import Cider

from tfcaption.evaluation.caption_inputs import check_caption_inputs
from tfcaption.evaluation.ptb_tokenize import ptb_tokenize


def cider_d(predictions: Mapping[Hashable, str], references: Mapping[Hashable, List[str]]
            ) -> Tuple[float, Dict[Hashable, float]]:
    """``(corpus CIDEr-D, {image_id: CIDEr-D})``, the ``"CIDEr"`` of :func:`coco_metrics`."""
    check_caption_inputs(predictions, references)
    ids = list(predictions)
    gts = ptb_tokenize({i: list(references[i]) for i in ids})
    res = ptb_tokenize({i: [predictions[i]] for i in ids})
    score, scores = Cider().compute_score(gts, res)
    return float(score), {i: float(s) for i, s in zip(gts.keys(), scores)}
