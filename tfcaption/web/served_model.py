"""One captioner as the web demo serves it: preprocessing, batched decoding, its settings."""

import os
import threading
import time
from concurrent.futures import Future

import tensorflow as tf

from tfcaption.data.image_bytes import preprocess_image_bytes
from tfcaption.web.dynamic_batcher import DynamicBatcher


def batch_buckets(max_batch_size):
    """The batch sizes decoding runs at (1, 2, 4, 8, ... and ``max_batch_size``): a group
    is padded up to the next one, so each setting compiles a few shapes, not one per
    group size, and pads at most to twice its size."""
    sizes, size = [], 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    return sizes + [int(max_batch_size)]


def padded_size(count, buckets):
    """The smallest bucket that holds ``count`` rows."""
    return next(size for size in buckets if size >= count)


class ServedModel:
    """A loaded captioner under a name, with its own :class:`DynamicBatcher`.

    :meth:`submit_request` takes one request's preprocessed images and a decoding setting.
    With greedy or beam decoding, the images of concurrent requests with the same setting
    are queued and decoded in one ``captioner.generate`` call (of at most
    ``max_batch_size`` images, padded with copies of its first image up to a
    :func:`batch_buckets` size so few shapes are compiled). Sampled captions depend on an
    image's row in its batch, so a sampling request is decoded on its own, its images
    together in request order (as ``tfcaption.caption`` does with the same seed), and gets
    the same captions whatever else the server is doing. With ``batching=False`` every
    request is decoded that way, in the caller's thread.

    Args:
      name: the model's name in the API.
      model_dir: where it was loaded from (shown by ``/api/models``).
      captioner: a :class:`tfcaption.models.captioner.Captioner` with an image encoder.
      batching: group concurrent requests (see above).
      max_batch_size, max_wait_s, max_pending: the batcher's limits.
    """

    def __init__(self, name, model_dir, captioner, batching=True, max_batch_size=32,
                 max_wait_s=0.01, max_pending=1024):
        if captioner.preprocessor is None:
            raise ValueError(f"{model_dir}: this model has no image encoder, so it cannot "
                             f"caption images")
        self.name = name
        self.model_dir = os.fspath(model_dir)
        self.captioner = captioner
        self.batching = bool(batching)
        self.max_batch_size = int(max_batch_size)
        self.max_wait_s = float(max_wait_s)
        self.buckets = batch_buckets(self.max_batch_size)
        self.batcher = DynamicBatcher(self._process, self.max_batch_size, max_wait_s,
                                      max_pending, name=f"batcher-{name}") if batching else None
        self.warm = threading.Event()  # set once every batch size of greedy is compiled
        self._stop_warm_up = threading.Event()
        self._warm_up_thread = None

    @property
    def preprocessor(self):
        return self.captioner.preprocessor

    def preprocess(self, data: bytes, label: str) -> tf.Tensor:
        """Image bytes -> this model's input (``ValueError`` naming ``label``)."""
        return preprocess_image_bytes(data, self.preprocessor, label)

    def decoding_config(self, method, overrides):
        """The setting fitted to this model (``ValueError`` naming the model)."""
        try:
            return self.captioner.decoding_config(method, **overrides)
        except ValueError as error:
            raise ValueError(f"model {self.name}: {error}") from None

    def submit_request(self, images, config, seed=0):
        """One request's preprocessed images -> a future per image of ``{"captions",
        "scores", "finished"}`` (``time.perf_counter()`` when its group was decoded)."""
        key = (config, int(seed))
        if self.batcher is not None and config.method != "sample":
            return [self.batcher.submit(key, image) for image in images]
        futures = [Future() for _ in images]
        try:
            results = []
            for start in range(0, len(images), self.max_batch_size):
                results += self._process(key, images[start:start + self.max_batch_size])
        except Exception as error:  # noqa: BLE001  (delivered to the caller)
            for future in futures:
                future.set_exception(error)
        else:
            for future, result in zip(futures, results):
                future.set_result(result)
        return futures

    def _process(self, key, images):
        config, seed = key
        count = len(images)
        batch = tf.stack(images)
        size = padded_size(count, self.buckets)
        if size > count:
            batch = tf.concat([batch, tf.repeat(batch[:1], size - count, axis=0)], axis=0)
        out = self.captioner.generate(batch, config, return_scores=True, batch_size=size,
                                      seed=seed)
        results, finished = [], time.perf_counter()
        for row in range(count):
            captions = out["captions"][row]
            captions = [captions] if isinstance(captions, str) else list(captions)
            results.append({"captions": captions,
                            "scores": [float(s) for s in out["scores"][row]],
                            "finished": finished})
        return results

    def warm_up(self, batch_sizes=(1,), method="greedy"):
        """Compiles ``method`` decoding at each of ``batch_sizes`` (buckets; a first call
        at a new size waits for its compilation); returns the seconds it took. Stops
        between sizes once :meth:`close` is called."""
        start = time.perf_counter()
        image = tf.zeros(self.preprocessor.output_shape, tf.float32)
        config = self.decoding_config(method, {})
        for size in batch_sizes:
            if self._stop_warm_up.is_set():
                break
            self._process((config, 0), [image] * int(size))
        return time.perf_counter() - start

    def warm_up_in_background(self, method="greedy"):
        """Compiles ``method`` at the batch sizes above 1 in a daemon thread while the
        model serves (requests at a size not compiled yet wait for it); :attr:`warm` is
        set when done (at once without batching)."""
        def compile_rest():
            try:
                self.warm_up(self.buckets[1:], method)
            finally:
                self.warm.set()

        self._warm_up_thread = threading.Thread(target=compile_rest, name=f"warmup-{self.name}",
                                                daemon=True)
        self._warm_up_thread.start()

    def info(self):
        """What ``GET /api/models`` says about this model."""
        default = self.captioner.decoding_config("greedy")
        return {"name": self.name, "model_dir": self.model_dir,
                "model_type": self.captioner.model_type,
                "preprocessing": self.preprocessor.get_config(),
                "default_decoding": default.to_dict(),
                "batching": {"enabled": self.batching, "max_batch_size": self.max_batch_size,
                             "max_wait_ms": self.max_wait_s * 1000.0,
                             "batch_sizes": self.buckets}}

    def close(self, timeout=60):
        """Stops the background warm-up (after the batch size it is compiling: a process
        must not exit while XLA compiles in another thread) and the batcher."""
        self._stop_warm_up.set()
        if self._warm_up_thread is not None:
            self._warm_up_thread.join(timeout)
        if self.batcher is not None:
            self.batcher.close(timeout=10)
