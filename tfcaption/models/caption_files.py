"""Captions a list of image files in batches; a file that cannot be read fails alone.

Works with any captioner that has a ``preprocessor`` (image bytes -> model input), a
``decoding_config(decoding, **overrides)`` and ``generate(images, decoding,
return_scores=True, batch_size=..., seed=..., start_index=...)`` (``ClipCapCaptioner``).
"""

from typing import Callable, Iterator, Optional, Sequence

import tensorflow as tf

from tfcaption.data.image_files import load_image_files


def caption_files(captioner, paths: Sequence[str], decoding="greedy", batch_size: int = 32,
                  seed: int = 0, on_batch: Optional[Callable[[int], None]] = None,
                  **overrides) -> Iterator[dict]:
    """Yields one dict per path, in order, as each batch finishes.

    ``{"path", "captions": [str, ...], "scores": [float, ...]}`` (the
    ``num_return_sequences`` captions, best first for beam search, and each one's
    score: its summed log-probability, length-normalised for beam search), or
    ``{"path", "error": "PATH: not a readable image (...)"}``.

    ``decoding`` and ``overrides`` are as in ``captioner.generate``; sampling is seeded
    by ``(seed, index of the batch's first file)``, so the same files, seed and batch size
    give the same captions. A batch with unreadable files is filled up with copies of a
    readable image (their captions are dropped), so it keeps its compiled shape.
    ``on_batch(files_done)`` is called after every batch.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if getattr(captioner, "preprocessor", None) is None:
        raise ValueError("this model has no image encoder, so it cannot caption image files")
    config = captioner.decoding_config(decoding, **overrides)
    paths = list(paths)
    for start in range(0, len(paths), int(batch_size)):
        batch = paths[start:start + int(batch_size)]
        images, readable, failures = load_image_files(batch, captioner.preprocessor)
        results = [None] * len(batch)
        for index, message in failures:
            results[index] = {"path": batch[index], "error": message}
        if readable:
            if len(readable) < len(batch):  # keep the batch shape: no recompilation
                filler = tf.repeat(images[:1], len(batch) - len(readable), axis=0)
                images = tf.concat([images, filler], axis=0)
            out = captioner.generate(images, config, return_ids=True, return_scores=True,
                                     batch_size=len(batch), seed=seed, start_index=start)
            rows = len(readable)
            captioner.after_caption_files(
                [batch[i] for i in readable], images[:rows],
                {key: value[:rows] for key, value in out.items()})
            for row, index in enumerate(readable):
                captions = out["captions"][row]
                captions = [captions] if isinstance(captions, str) else list(captions)
                results[index] = {"path": batch[index], "captions": captions,
                                  "scores": [float(s) for s in out["scores"][row]]}
        if on_batch is not None:
            on_batch(start + len(batch))
        yield from results
