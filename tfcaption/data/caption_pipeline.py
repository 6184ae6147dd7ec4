"""The tf.data pipeline over a dataset in the common form.

Elements are dicts with the standard keys:
  * ``images`` float32 ``[B, S, S, 3]`` (or ``features`` when reading a feature cache),
  * ``token_ids`` int32 ``[B, L]`` and ``padding_mask`` bool ``[B, L]`` (train mode, with a tokenizer),
  * ``image_id`` string ``[B]``,
  * ``captions``: the sampled caption ``[B]`` (train mode) or all references
    ``[B, R]`` padded with "" (eval mode).

Bad records never stop an epoch: records whose image file is missing or empty,
or that have no usable caption, are dropped when the pipeline is built and
counted in ``skipped``; images that fail to decode (or, with a feature cache,
records the cache has no features for) are dropped while reading, with a logged
warning, and listed by ``unreadable_images()`` once a full pass has been read.
"""

import collections
import os
from typing import Callable, Optional

import tensorflow as tf

from tfcaption.data.caption_tokens import pad_tokens
from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl
from tfcaption.data.image_preprocessor import ImagePreprocessor

AUTOTUNE = tf.data.AUTOTUNE
MODES = ("train", "eval")
PAIRINGS = ("sample", "all")


class CaptionPipeline:
    """Builds batched ``tf.data`` datasets for one split of a common-form dataset.

    Args:
      data_dir: directory with ``captions.jsonl`` and ``images/``.
      split: "train", "val" or "test".
      mode: "train" (one caption per image, tokenised) or "eval" (all references).
      preprocessor: an ImagePreprocessor (default: CLIP 224).
      tokenize: callable, scalar string tensor -> 1-D int ids (e.g. a keras-hub
        tokenizer or WordVocabulary.encode); required for token outputs.
      text_fn: optional string op applied to captions before tokenising (e.g. cleaning).
      max_length: fixed token length (start/end included).
      start_id / end_id: ids added around each caption (None = not added).
      pad_id: filler value of padded positions (identified by padding_mask only).
      pairing: "sample" one reference per image per epoch, or "all" image-caption pairs.
      shuffle_buffer: 0 disables shuffling; otherwise records (cheap paths) are
        shuffled in full before loading, and this is the buffer of decoded images
        (or cached features) when ``cache`` is set or a feature cache is read.
      seed: seed for shuffling and caption sampling.
      deterministic: fixed element order (slower parallel map); the dataset's
        ``tf.data.Options`` (a consumer may set them again: training does).
      cache: False, True (memory) or a file path prefix for ``Dataset.cache``.
      features_dir: read precomputed features from a feature cache instead of images.
    """

    def __init__(self, data_dir: str, split: str = "train", mode: str = "train",
                 preprocessor: Optional[ImagePreprocessor] = None,
                 tokenize: Optional[Callable] = None, text_fn: Optional[Callable] = None,
                 max_length: int = 32, start_id: Optional[int] = None,
                 end_id: Optional[int] = None, pad_id: int = 0, pairing: str = "sample",
                 shuffle_buffer: int = 10000, seed: int = 0, deterministic: bool = False,
                 cache=False, features_dir: Optional[str] = None):
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        if pairing not in PAIRINGS:
            raise ValueError(f"pairing {pairing!r} is not one of {PAIRINGS}")
        self.data_dir = data_dir
        self.split = split
        self.mode = mode
        self.preprocessor = preprocessor or ImagePreprocessor()
        self.tokenize = tokenize
        self.text_fn = text_fn
        self.max_length = int(max_length)
        self.start_id = start_id
        self.end_id = end_id
        self.pad_id = int(pad_id)
        self.pairing = pairing
        self.shuffle_buffer = int(shuffle_buffer)
        self.seed = int(seed)
        self.deterministic = bool(deterministic)
        self.cache = cache
        self.features_dir = features_dir
        self.skipped = collections.Counter()
        self.records = self._load_records()
        # A lookup table, not a tf.Variable: strategies do not mirror it, and it
        # lives on the host next to the tf.data functions that update it.
        with tf.device("/cpu:0"):
            self._read_ok = tf.lookup.experimental.MutableHashTable(
                key_dtype=tf.int64, value_dtype=tf.int64, default_value=0)

    # ----------------------------------------------------------------- records
    def _load_records(self):
        path = os.path.join(self.data_dir, CAPTIONS_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: run `python -m tfcaption.prepare` first")
        good = []
        for rec in read_captions_jsonl(path, split=self.split):
            captions = [c.strip() for c in rec["captions"] if isinstance(c, str) and c.strip()]
            image = os.path.join(self.data_dir, rec["image"])
            if not captions:
                self.skipped["no_captions"] += 1
            elif self.features_dir is None and not os.path.isfile(image):
                self.skipped["missing_image"] += 1
            elif self.features_dir is None and os.path.getsize(image) == 0:
                self.skipped["empty_image"] += 1
            else:
                good.append({"index": len(good), "path": image, "image_id": rec["image_id"],
                             "captions": captions})
        if not good:
            raise ValueError(f"{path}: no usable record in split {self.split!r} "
                             f"(skipped: {dict(self.skipped)})")
        return good

    def __len__(self) -> int:
        """Number of usable records (images) in the split."""
        return len(self.records)

    def unreadable_images(self):
        """Paths of images never read successfully (undecodable ones, once a full pass is done)."""
        ok = self._read_ok.lookup(tf.range(len(self.records), dtype=tf.int64)).numpy() > 0
        return [r["path"] for r, good in zip(self.records, ok) if not good]

    # ----------------------------------------------------------------- elements
    def _record_dataset(self, pairs: bool) -> tf.data.Dataset:
        recs = self.records
        if pairs:  # paths are cheap: expand before shuffling so pairs shuffle independently
            recs = [{**r, "captions": [c]} for r in recs for c in r["captions"]]
        return tf.data.Dataset.from_tensor_slices({
            "index": [r["index"] for r in recs],
            "path": [r["path"] for r in recs],
            "image_id": [r["image_id"] for r in recs],
            "captions": tf.ragged.constant([r["captions"] for r in recs], dtype=tf.string),
        })

    def _load_image(self, rec):
        image = self.preprocessor.from_bytes(tf.io.read_file(rec["path"]))
        return {"images": image, "image_id": rec["image_id"], "captions": rec["captions"],
                "index": rec["index"]}

    def _mark_read(self, element):
        element = dict(element)
        index = element.pop("index")
        self._read_ok.insert(tf.reshape(tf.cast(index, tf.int64), [1]),
                             tf.ones([1], tf.int64))
        return element

    def _tokenize_all(self, element):
        """Tokenises every reference once, before any cache, so epochs only pick a row."""
        text = element["captions"]
        if self.text_fn is not None:
            text = self.text_fn(text)
        spec = tf.TensorSpec([self.max_length], tf.int32)
        ids, mask = tf.map_fn(
            lambda t: pad_tokens(self.tokenize(t), self.max_length, self.pad_id,
                                 self.start_id, self.end_id),
            text, fn_output_signature=(spec, tf.TensorSpec([self.max_length], tf.bool)))
        return dict(element, caption_token_ids=tf.cast(ids, tf.int32),
                    caption_padding_mask=mask)

    def _sample_caption(self, element, rand):
        captions = element["captions"]
        index = tf.cast(rand % tf.cast(tf.shape(captions)[0], tf.int64), tf.int32)
        out = {k: v for k, v in element.items() if not k.startswith("caption_")}
        out["captions"] = captions[index]
        if self.tokenize is not None:
            out["token_ids"] = element["caption_token_ids"][index]
            out["padding_mask"] = element["caption_padding_mask"][index]
        return out

    def _options(self) -> tf.data.Options:
        options = tf.data.Options()
        options.deterministic = self.deterministic
        return options

    def dataset(self, batch_size: int, repeat: bool = False,
                drop_remainder: Optional[bool] = None,
                input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
        """A batched, prefetched dataset; under tf.distribute pass ``input_context``."""
        from tfcaption.data.feature_reader import expand_pairs, read_features

        train = self.mode == "train"
        if drop_remainder is None:
            drop_remainder = train
        shuffle = train and self.shuffle_buffer > 0
        pairs = train and self.pairing == "all"
        # Pairs are made from paths (before decoding) unless decoded images are cached,
        # where each image is cached once and expanded after the cache.
        early_pairs = pairs and not self.cache and self.features_dir is None
        if self.features_dir is not None:
            ds = read_features(self.features_dir, self.split, self.records)
        else:
            ds = self._record_dataset(early_pairs)
        if input_context is not None and input_context.num_input_pipelines > 1:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        if self.features_dir is None:
            if shuffle and not self.cache:
                ds = ds.shuffle(int(ds.cardinality()), seed=self.seed,
                                reshuffle_each_iteration=True)
            ds = ds.map(self._load_image, num_parallel_calls=AUTOTUNE)
            ds = ds.ignore_errors(log_warning=True).map(self._mark_read)
        else:
            ds = ds.map(self._mark_read)
        if train and self.tokenize is not None:
            ds = ds.map(self._tokenize_all, num_parallel_calls=AUTOTUNE)
        if self.cache:
            ds = ds.cache("" if self.cache is True else str(self.cache))
        if pairs and not early_pairs:
            ds = ds.flat_map(expand_pairs)
        if shuffle and (self.cache or self.features_dir is not None):
            ds = ds.shuffle(self.shuffle_buffer, seed=self.seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        if train:
            rand = tf.data.Dataset.random(seed=self.seed, rerandomize_each_iteration=True)
            ds = tf.data.Dataset.zip(ds, rand).map(
                self._sample_caption, num_parallel_calls=AUTOTUNE)
            ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        else:
            ds = ds.padded_batch(batch_size, drop_remainder=drop_remainder)
        return ds.prefetch(AUTOTUNE).with_options(self._options())

    def distribute(self, strategy: tf.distribute.Strategy, global_batch_size: int,
                   repeat: bool = False):
        """A distributed dataset with per-replica batches of ``global_batch_size / replicas``."""
        def fn(ctx: tf.distribute.InputContext):
            return self.dataset(ctx.get_per_replica_batch_size(global_batch_size),
                                repeat=repeat, input_context=ctx)
        return strategy.distribute_datasets_from_function(fn)

    def get_config(self) -> dict:
        """Every argument but the callables ``preprocessor`` (given as its config),
        ``tokenize`` and ``text_fn``, which their owners (tokenizer, model dir) serialise."""
        return {
            "data_dir": self.data_dir, "split": self.split, "mode": self.mode,
            "preprocessor": self.preprocessor.get_config(), "max_length": self.max_length,
            "start_id": self.start_id, "end_id": self.end_id, "pad_id": self.pad_id,
            "pairing": self.pairing, "shuffle_buffer": self.shuffle_buffer, "seed": self.seed,
            "deterministic": self.deterministic, "cache": self.cache,
            "features_dir": self.features_dir,
        }
