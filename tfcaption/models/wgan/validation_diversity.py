"""Keras callback: greedy captions of the validation images and their diversity, every epoch."""

import keras

from pycocoevalcap.bleu.bleu import Bleu

from tfcaption.evaluation.caption_words import caption_words
from tfcaption.evaluation.diversity import diversity_metrics

KEYS = ("most_common_fraction", "distinct_2", "mean_length")


class ValidationDiversity(keras.callbacks.Callback):
    """Adds ``val_most_common_fraction``, ``val_distinct_2``, ``val_mean_length`` and
    ``val_bleu_4`` (greedy captions against the references; words as
    :func:`caption_words` splits them, no Java tokenizer) to each epoch's logs, so
    mode collapse shows in the history and TensorBoard as it happens.

    Args:
      generate: callable, inputs -> list of captions.
      inputs: what ``generate`` takes (the validation images' features).
      references: one list of reference captions per input.
    """

    def __init__(self, generate, inputs, references):
        super().__init__()
        self.generate = generate
        self.inputs = inputs
        self.references = [list(r) for r in references]

    def on_epoch_end(self, epoch, logs=None):
        captions = self.generate(self.inputs)
        metrics = diversity_metrics(captions)
        if logs is not None:
            for key in KEYS:
                logs[f"val_{key}"] = float(metrics[key])
            logs["val_bleu_4"] = bleu_4(captions, self.references)


def bleu_4(captions, references):
    """Corpus BLEU-4 (pycocoevalcap) of one caption per image against its references."""
    def words(text):
        return " ".join(caption_words(text)) or "."

    res = {i: [words(c)] for i, c in enumerate(captions)}
    gts = {i: [words(r) for r in refs] for i, refs in enumerate(references)}
    scores, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return float(scores[3])
