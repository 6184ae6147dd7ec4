"""Evaluates a captioner on one split of a dataset in the common form.

:func:`evaluate_captioner` captions the split's image files in batches (a file that
cannot be read is skipped and counted), then computes, from the same predictions:

- ``coco``: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D and SPICE (:func:`coco_metrics`);
- ``clip_score``: CLIPScore and RefCLIPScore with a CLIP model dir (``clip_dir``),
  otherwise both unavailable with the reason;
- ``diversity``: :func:`diversity_metrics` (novelty against the training split's
  captions) next to the same statistics of the references (each image's first
  reference, as many captions as predictions), keys prefixed ``reference_``;
- ``shapes``: the ``shapes`` scorer, when every record carries ``objects``;
- ``charts``: the ``charts`` scorer, when every record carries ``chart``
  (:func:`dataset_scores`).

The ``evaluate`` command and the end of ClipCap training both use it, and write the
result with :func:`tfcaption.evaluation.evaluation_report.write_evaluation`.
"""

import os
from typing import Optional

from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl
from tfcaption.evaluation.coco_metrics import coco_metrics
from tfcaption.evaluation.diversity import diversity_metrics, reference_diversity
from tfcaption.evaluation.evaluation_result import EvaluationResult
from tfcaption.evaluation.ptb_tokenize import check_java
from tfcaption.evaluation.spice_availability import spice_unavailable_reason
from tfcaption.evaluation.unavailable import mark_unavailable
from tfcaption.models.caption_files import caption_files

CLIP_SCORE_KEYS = ("CLIPScore", "RefCLIPScore")


def dataset_scores(predictions, records) -> dict:
    """The built-in datasets' scorers that apply to ``records``: ``{"shapes": ...}`` when
    every record carries ``objects``, ``{"charts": ...}`` when every record carries
    ``chart``; ``{}`` for other datasets. ``predictions`` maps image_id to a caption."""
    scores = {}
    if all("objects" in r for r in records):
        from tfcaption.data.shapes_scorer import score_dataset

        scores["shapes"] = score_dataset(predictions, records)
    if all("chart" in r for r in records):
        from tfcaption.data.charts_scorer import score_dataset

        scores["charts"] = score_dataset(predictions, records)
    return scores


def _split_records(data_dir, split, max_images):
    path = os.path.join(data_dir, CAPTIONS_FILE)
    records = read_captions_jsonl(path, split=split)
    if not records:
        raise ValueError(f"{path} has no record of split {split!r}")
    if max_images is not None:
        if int(max_images) < 1:
            raise ValueError(f"max_images must be >= 1 or None, got {max_images}")
        records = records[:int(max_images)]
    return records


def _training_captions(data_dir, train_split):
    """(captions or None, reason when None)."""
    if train_split is None:
        return None, "no training split given (train_split=None)"
    path = os.path.join(data_dir, CAPTIONS_FILE)
    captions = [c for r in read_captions_jsonl(path, split=train_split) for c in r["captions"]]
    if not captions:
        return None, f"{path} has no caption of split {train_split!r}"
    return captions, None


def _progress(total, verbose):
    if not verbose:
        return None
    import keras

    bar = keras.utils.Progbar(total, unit_name="image")
    return bar.update


def _clip_scores(scorer, predictions, images, references):
    if scorer is None:
        scores = {}
        for key in CLIP_SCORE_KEYS:
            mark_unavailable(scores, key, "no CLIP model given (clip_dir; the evaluate "
                                          "command's --clip=DIR)")
        return scores
    return scorer.score(predictions, images, references)


def evaluate_captioner(captioner, data_dir, split: str = "test", decoding="greedy",
                       batch_size: int = 32, max_images: Optional[int] = None,
                       clip_dir=None, train_split: Optional[str] = "train", seed: int = 0,
                       spice="auto", verbose: int = 1, **overrides) -> EvaluationResult:
    """Captions ``split`` of ``data_dir`` with ``captioner`` and scores the captions.

    Args:
      captioner: a captioner that captions image files (``ClipCapCaptioner``, from
        :func:`tfcaption.models.load_captioner.load_captioner`).
      data_dir: a dataset in the common form (``captions.jsonl``, image paths relative
        to it).
      split: the split to caption, in ``captions.jsonl`` order.
      decoding, overrides: the decoding setting, as in ``captioner.generate``; it must
        give one caption per image.
      batch_size: images per batch.
      max_images: caption only the first ``max_images`` records of the split.
      clip_dir: a CLIP model dir (or Hugging Face CLIP dir) for CLIPScore and
        RefCLIPScore; loaded before captioning, so a bad one fails early.
      train_split: the split whose captions ``novel_fraction`` compares against; None
        reports it unavailable.
      seed: sampling seed.
      spice: as in :func:`coco_metrics` ("auto", True, False).
      verbose: 1 shows a progress bar.

    Returns an :class:`EvaluationResult` whose ``metrics`` are ``{"num_images" (captioned),
    "num_unreadable", "unreadable_images", "coco", "clip_score", "diversity", ["shapes"],
    ["charts"], "settings"}``. Unreadable images are skipped and listed, not fatal; a
    ``ValueError`` is raised when the split is empty or none of its images can be read.
    """
    config = captioner.decoding_config(decoding, **overrides)
    if config.num_return_sequences != 1:
        raise ValueError("evaluation scores one caption per image: num_return_sequences "
                         f"must be 1, got {config.num_return_sequences}")
    check_java()  # before captioning: a missing Java must not cost a whole split's captions
    if spice is True and spice_unavailable_reason() is not None:
        raise RuntimeError(f"SPICE was required (spice=True) but is unavailable: "
                           f"{spice_unavailable_reason()}")
    records = _split_records(data_dir, split, max_images)
    scorer = None
    if clip_dir is not None:
        from tfcaption.evaluation.clip_scorer import ClipScorer

        scorer = ClipScorer(clip_dir, batch_size=batch_size)
    paths = [os.path.join(data_dir, r["image"]) for r in records]
    predictions, references, images, unreadable = {}, {}, {}, []
    results = caption_files(captioner, paths, config, batch_size=batch_size, seed=seed,
                            on_batch=_progress(len(paths), verbose))
    for record, result in zip(records, results):
        image_id = record["image_id"]
        if "error" in result:
            unreadable.append({"image_id": image_id, "image": record["image"],
                               "error": result["error"]})
            continue
        predictions[image_id] = result["captions"][0]
        references[image_id] = list(record["captions"])
        images[image_id] = result["path"]
    if not predictions:
        raise ValueError(f"none of the {len(records)} images of split {split!r} in "
                         f"{data_dir} could be read; first error: {unreadable[0]['error']}")

    metrics = {"num_images": len(predictions), "num_unreadable": len(unreadable),
               "unreadable_images": unreadable}
    metrics["coco"] = coco_metrics(predictions, references, spice=spice)
    metrics["clip_score"] = _clip_scores(scorer, predictions, images, references)
    training, reason = _training_captions(data_dir, train_split)
    diversity = diversity_metrics(predictions, training)
    if reason is not None:
        mark_unavailable(diversity, "novel_fraction", reason)
    diversity.update(reference_diversity(references, mode="first"))
    metrics["diversity"] = diversity
    metrics.update(dataset_scores(predictions, records))
    metrics["settings"] = {"data_dir": os.fspath(data_dir), "split": split,
                           "num_records": len(records), "max_images": max_images,
                           "batch_size": int(batch_size), "seed": int(seed),
                           "decoding": config.to_dict()}
    return EvaluationResult(metrics=metrics, predictions=predictions, references=references,
                            images=images, unreadable=unreadable)
