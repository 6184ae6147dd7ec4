"""Caption evaluation: COCO metrics (pycocoevalcap), CLIPScore / RefCLIPScore, diversity,
and reports.

A metric that cannot be computed is never estimated: its key holds ``None`` and
``<key>_unavailable`` holds the reason (see :mod:`tfcaption.evaluation.unavailable`).
"""
