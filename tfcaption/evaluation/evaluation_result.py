"""What :func:`tfcaption.evaluation.evaluate_model.evaluate_captioner` returns."""

import dataclasses
from typing import Dict, List


@dataclasses.dataclass
class EvaluationResult:
    """The metrics of one evaluation run and the captions they were computed from.

    Attributes:
      metrics: the metrics dict (the ``metrics.json`` content; see
        :func:`~tfcaption.evaluation.evaluate_model.evaluate_captioner`).
      predictions: image id -> generated caption, in record order (readable images only).
      references: image id -> reference captions, for the same ids.
      images: image id -> image file path, for the same ids.
      unreadable: one ``{"image_id", "image", "error"}`` per skipped image.
    """

    metrics: Dict
    predictions: Dict[str, str]
    references: Dict[str, List[str]]
    images: Dict[str, str]
    unreadable: List[Dict[str, str]]
