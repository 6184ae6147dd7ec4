"""CgT-GAN's corpus embeddings: CLIP text embeddings of an unpaired caption corpus, and per
image their similarity-weighted aggregate (the CLIP reward's target).

For an image embedding ``v`` and raw corpus text embeddings ``c_k``::

    w_k = softmax_k(t * cos(v, c_k))        over the whole corpus
    target(v) = sum_k w_k * c_k             (raw, unnormalised c_k)

with temperature ``t`` (100 for the COCO corpus, 175 for GCC in CgT-GAN). Written by
``python -m tfcaption.embed_corpus`` into one directory::

    corpus.jsonl            one {"text": ...} per corpus sentence, in embedding order
    corpus_embeddings.npy   [N, D] CLIP text embeddings of the sentences (final "." removed)
    targets_<split>.npz     image_ids [M] and targets [M, D] for the images of a split
    image_features/         the CLIP image embeddings (a feature cache, resumable)
    corpus_meta.json        the CLIP, the temperature, the sources and the counts
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from tfcaption.file_io import atomic_write_text
from tfcaption.models.clipcap.cgtgan.caption_retokenizer import strip_final_period

CORPUS_FILE = "corpus.jsonl"
EMBEDDINGS_FILE = "corpus_embeddings.npy"
META_FILE = "corpus_meta.json"
FEATURES_DIR = "image_features"


def targets_file(split):
    return f"targets_{split}.npz"


def embed_texts(clip, texts, batch_size=256, verbose=1):
    """CLIP text embeddings ``[N, D]`` (float32, unnormalised) of ``texts`` with their
    final period removed; ``clip`` is a loaded CLIP (``model`` + ``tokenizer``)."""
    length = clip.model.text_max_sequence_length
    encode = tf.function(lambda ids: clip.model.encode_text(ids), reduce_retracing=True)
    out = []
    bar = keras.utils.Progbar(len(texts), unit_name="sentence") if verbose else None
    for start in range(0, len(texts), batch_size):
        chunk = tf.constant(list(texts[start:start + batch_size]))
        out.append(encode(clip.tokenizer.pack(strip_final_period(chunk), length)).numpy())
        if bar:
            bar.add(len(out[-1]))
    dim = clip.model.projection_dim
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, dim), np.float32)


@tf.function(reduce_retracing=True)
def _aggregate_batch(images, corpus, corpus_unit, temperature):
    images = images / tf.norm(images, axis=-1, keepdims=True)
    weights = tf.nn.softmax(temperature * tf.matmul(images, corpus_unit, transpose_b=True))
    return tf.matmul(weights, corpus)


def aggregate_embeddings(image_embeds, corpus_embeds, temperature, batch_size=256, verbose=0):
    """``[M, D]`` image embeddings -> ``[M, D]`` targets (see the module docstring)."""
    image_embeds = np.asarray(image_embeds, np.float32)
    corpus = tf.constant(np.asarray(corpus_embeds, np.float32))
    if corpus.shape[0] == 0:
        raise ValueError("the corpus is empty: no sentence to aggregate")
    if image_embeds.ndim != 2 or image_embeds.shape[1] != corpus.shape[1]:
        raise ValueError(f"image embeddings {image_embeds.shape} do not match the corpus "
                         f"embeddings {tuple(corpus.shape)} (same CLIP needed)")
    corpus_unit = corpus / tf.norm(corpus, axis=-1, keepdims=True)
    out = []
    bar = keras.utils.Progbar(len(image_embeds), unit_name="image") if verbose else None
    for start in range(0, len(image_embeds), batch_size):
        out.append(_aggregate_batch(image_embeds[start:start + batch_size], corpus, corpus_unit,
                                    tf.constant(float(temperature))).numpy())
        if bar:
            bar.add(len(out[-1]))
    return np.concatenate(out) if out else np.zeros((0, corpus.shape[1]), np.float32)


def _atomic_save(path, save):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        save(f)
    os.replace(tmp, path)


def write_corpus(out_dir, texts, embeddings):
    """Writes ``corpus.jsonl`` and ``corpus_embeddings.npy`` (atomically)."""
    os.makedirs(out_dir, exist_ok=True)
    _atomic_save(os.path.join(out_dir, EMBEDDINGS_FILE),
                 lambda f: np.save(f, np.asarray(embeddings, np.float32)))
    atomic_write_text(os.path.join(out_dir, CORPUS_FILE),
                      "".join(json.dumps({"text": t}) + "\n" for t in texts))


def write_targets(out_dir, split, image_ids, targets):
    _atomic_save(os.path.join(out_dir, targets_file(split)),
                 lambda f: np.savez(f, image_ids=np.asarray(image_ids, dtype=str),
                                    targets=np.asarray(targets, np.float32)))


def _require(path, what):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path} (write it with "
                                f"python -m tfcaption.embed_corpus)")
    return path


def read_corpus(directory):
    """``(texts, embeddings [N, D])`` from a corpus embedding directory."""
    texts = []
    path = _require(os.path.join(directory, CORPUS_FILE), "corpus sentences")
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                texts.append(json.loads(line)["text"])
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{path}:{number}: not a JSON object with a 'text' "
                                 f"string") from None
    embeddings = np.load(_require(os.path.join(directory, EMBEDDINGS_FILE),
                                  "corpus embeddings"))
    if embeddings.ndim != 2 or len(embeddings) != len(texts):
        raise ValueError(f"{directory}: {EMBEDDINGS_FILE} has shape {embeddings.shape} but "
                         f"{CORPUS_FILE} holds {len(texts)} sentences")
    return texts, embeddings


def read_targets(directory, split):
    """``{image_id: target [D]}`` of a split."""
    path = _require(os.path.join(directory, targets_file(split)), f"{split} targets")
    with np.load(path) as data:
        return dict(zip([str(i) for i in data["image_ids"]], data["targets"]))
