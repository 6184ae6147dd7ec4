"""Keras callback: the validation CIDEr-D and discriminator score of greedy captions per epoch."""

import keras
import numpy as np
import tensorflow as tf

from tfcaption.evaluation.cider import cider_d


def discriminator_scores(gan, features, token_ids, batch_size=256):
    """The mean probability of a dataset caption the discriminator of ``gan`` (an
    :class:`AttendGanModel`) gives captions ``token_ids`` (id lists, ``<end>`` included)
    of the images ``features``."""
    steps = max(len(ids) for ids in token_ids)
    ids = np.zeros([len(token_ids), steps], np.int32)
    mask = np.zeros([len(token_ids), steps], bool)
    for row, seq in enumerate(token_ids):
        ids[row, :len(seq)], mask[row, :len(seq)] = seq, True
    scores = []
    for start in range(0, len(ids), batch_size):
        rows = slice(start, start + batch_size)
        logits = gan.score(tf.constant(features[rows], tf.float32), tf.constant(ids[rows]),
                           tf.constant(mask[rows]))
        scores.append(tf.sigmoid(logits).numpy())
    return float(np.mean(np.concatenate(scores)))


def generator_captions(captioner, features, references, sampled=True):
    """``{"cider_d", "greedy"[, "sampled"]}``: the CIDEr-D of ``captioner``'s greedy
    captions of ``features`` and the token ids of those and (with ``sampled``) of sampled
    captions (seed 0)."""
    out = captioner.generate(features, "greedy", return_ids=True, batch_size=256)
    captions = {i: c for i, c in enumerate(out["captions"])}
    score, _ = cider_d(captions, {i: list(r) for i, r in enumerate(references)})
    result = {"cider_d": score, "greedy": [row[0] for row in out["token_ids"]]}
    if sampled:
        drawn = captioner.generate(features, "sample", return_ids=True, batch_size=256,
                                   seed=0)
        result["sampled"] = [row[0] for row in drawn["token_ids"]]
    return result


def caption_quality(captioner, gan, features, references):
    """``{"cider_d", "d_score"}`` of ``captioner``'s greedy captions of ``features``
    (``d_score`` from ``gan``'s discriminator; None without one)."""
    captions = generator_captions(captioner, features, references, sampled=False)
    d_score = None if gan is None else discriminator_scores(gan, features,
                                                            captions["greedy"])
    return {"cider_d": captions["cider_d"], "d_score": d_score}


class CaptionQualityCurve(keras.callbacks.Callback):
    """Adds ``val_cider_d`` and (with a discriminator) ``val_d_score`` to each epoch's
    logs, so the phases' curves land in the history and TensorBoard.

    Args:
      captioner: the :class:`AttendGanCaptioner` being trained.
      gan: the :class:`AttendGanModel` whose discriminator scores, or None.
      features, references: validation images' features and reference lists.
    """

    def __init__(self, captioner, gan, features, references):
        super().__init__()
        self.captioner, self.gan = captioner, gan
        self.features, self.references = features, references

    def on_epoch_end(self, epoch, logs=None):
        quality = caption_quality(self.captioner, self.gan, self.features, self.references)
        if logs is not None:
            logs["val_cider_d"] = quality["cider_d"]
            if quality["d_score"] is not None:
                logs["val_d_score"] = quality["d_score"]
