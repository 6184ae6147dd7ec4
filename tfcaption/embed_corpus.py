"""Embeds an unpaired caption corpus with CLIP and aggregates it per image, for CgT-GAN.

    python -m tfcaption.embed_corpus --clip=pretrained_models/clip_shapes \
        --corpus=data/shapes_corpus --data=data/shapes --temperature=100 \
        --out_dir=data/shapes/cgtgan_corpus

``--corpus`` is a dataset in the common form (the captions of ``--corpus_split``) or a
text file with one sentence per line (e.g. a cross-domain corpus). ``--data`` is the image
dataset the captioner is trained on. Writes the directory described in
:mod:`tfcaption.models.clipcap.cgtgan.corpus_embedding`: the corpus sentences and their CLIP text
embeddings, the CLIP image features of ``--data`` (train/val/test) and, for each split in
``--target_splits``, every image's aggregated corpus embedding with temperature
``--temperature``. Rerunning reuses finished image features.
"""

from tfcaption import console  # noqa: F401  (first: quiets TensorFlow before it loads)
from tfcaption import command

import json
import os

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("clip", None, "CLIP dir (Hugging Face CLIPModel or tfcaption clip).")
flags.DEFINE_string("corpus", None, "Corpus: a common-form dataset dir or a .txt file.")
flags.DEFINE_string("corpus_split", "train", "Split of a dataset corpus whose captions are used.")
flags.DEFINE_enum("sentence_format", "as_is", ("as_is", "sentence"),
                  "as_is, or 'sentence': capitalised, one final '.' (the reference's form).")
flags.DEFINE_string("data", None, "Image dataset dir (common form).")
flags.DEFINE_list("target_splits", ["train"], "Splits of --data that get targets.")
flags.DEFINE_float("temperature", 100.0, "Softmax temperature t (100 COCO, 175 GCC).")
flags.DEFINE_string("out_dir", None, "Output directory.")
flags.DEFINE_integer("batch_size", 256, "Sentences / images per batch.")
flags.DEFINE_string("train_split", "train", "--data's train split name.")
flags.DEFINE_string("val_split", "val", "--data's val split name.")
flags.DEFINE_string("test_split", "test", "--data's test split name.")


def corpus_sentences(path, split="train"):
    """Corpus sentences from a common-form dataset dir (captions of ``split``) or a text
    file (one per line, empty lines skipped)."""
    from tfcaption.data.captions_file import CAPTIONS_FILE, read_captions_jsonl

    if os.path.isdir(path):
        records = read_captions_jsonl(os.path.join(path, CAPTIONS_FILE), split=split)
        texts = [c for r in records for c in r["captions"]]
    elif os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            texts = [line.strip() for line in f]
    else:
        raise FileNotFoundError(f"corpus not found: {path}")
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError(f"{path}: the corpus has no sentence"
                         + (f" in split {split!r}" if os.path.isdir(path) else ""))
    return texts


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from tfcaption.backbones.clip_loader import load_clip
    from tfcaption.file_io import atomic_write_text
    from tfcaption.models.clipcap.cgtgan import corpus_embedding as ce
    from tfcaption.models.clipcap.cgtgan.corpus_sentences import format_sentences
    from tfcaption.training.split_features import cache_split_features, eval_features

    out = FLAGS.out_dir
    texts = format_sentences(corpus_sentences(FLAGS.corpus, FLAGS.corpus_split),
                             FLAGS.sentence_format)
    clip = load_clip(FLAGS.clip)
    print(f"embedding {len(texts)} corpus sentences")
    embeddings = ce.embed_texts(clip, texts, FLAGS.batch_size)
    ce.write_corpus(out, texts, embeddings)
    data = {"dir": FLAGS.data, "train_split": FLAGS.train_split,
            "val_split": FLAGS.val_split, "test_split": FLAGS.test_split}
    features_dir = os.path.join(out, ce.FEATURES_DIR)
    print(f"embedding the images of {FLAGS.data}")
    cache_split_features(clip, data, features_dir, batch_size=FLAGS.batch_size)
    counts = {}
    for split in FLAGS.target_splits:
        features, ids, _ = eval_features(data, split, features_dir)
        print(f"aggregating the corpus for {len(ids)} {split} images (t={FLAGS.temperature})")
        targets = ce.aggregate_embeddings(features, embeddings, FLAGS.temperature,
                                          FLAGS.batch_size, verbose=1)
        ce.write_targets(out, split, ids, targets)
        counts[split] = len(ids)
    meta = {"clip": FLAGS.clip, "corpus": FLAGS.corpus, "corpus_split": FLAGS.corpus_split,
            "sentence_format": FLAGS.sentence_format, "num_sentences": len(texts),
            "data": FLAGS.data, "temperature": FLAGS.temperature, "targets": counts,
            "embedding_dim": int(embeddings.shape[1])}
    atomic_write_text(os.path.join(out, ce.META_FILE), json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out}: {len(texts)} sentences, targets for {counts}")


def run():
    flags.mark_flags_as_required(["clip", "corpus", "data", "out_dir"])
    command.run(main)


if __name__ == "__main__":
    run()
