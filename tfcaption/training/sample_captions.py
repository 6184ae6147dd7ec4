"""Keras callback that logs a few generated captions during training."""

import os

import keras


class SampleCaptions(keras.callbacks.Callback):
    """Every ``every`` epochs, captions ``inputs`` with ``generate`` and logs each caption
    next to its first reference; the last round is kept in ``self.samples``.

    Args:
      generate: callable, inputs -> list of caption strings (e.g. a captioner's
        ``generate`` with greedy decoding).
      inputs: what ``generate`` takes (e.g. CLIP embeddings of a few validation images).
      image_ids: one id per input.
      references: one list of reference captions per input.
      every: epochs between rounds (0 disables).
      log: called with each line (default ``print``).
    """

    def __init__(self, generate, inputs, image_ids, references, every=1, log=print):
        super().__init__()
        self.generate = generate
        self.inputs = inputs
        self.image_ids = list(image_ids)
        self.references = [list(r) for r in references]
        self.every = int(every)
        self.log = log
        self.samples = []

    def on_epoch_end(self, epoch, logs=None):
        if self.every <= 0 or (epoch + 1) % self.every:
            return
        captions = self.generate(self.inputs)
        self.samples = [{"image_id": i, "caption": c, "reference": r[0]}
                        for i, c, r in zip(self.image_ids, captions, self.references)]
        for sample in self.samples:
            self.log(f"epoch {epoch + 1} sample {sample['image_id']}: {sample['caption']!r} "
                     f"(reference: {sample['reference']!r})")


def sample_images(hparams, count):
    """The first ``count`` images of ``data.val_split``: ``(paths, image_ids, references)``
    for :class:`SampleCaptions`."""
    from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl

    data = hparams["data"]
    records = read_captions_jsonl(os.path.join(data["dir"], CAPTIONS_FILE),
                                  split=data["val_split"])[:count]
    return ([os.path.join(data["dir"], r["image"]) for r in records],
            [r["image_id"] for r in records], [r["captions"] for r in records])
