"""Normalises a raw dataset (or generates ``shapes`` or ``charts``) into the common on-disk form.

    python -m tfcaption.prepare --dataset=shapes --out_dir=data/shapes
    python -m tfcaption.prepare --dataset=charts --out_dir=data/charts
    python -m tfcaption.prepare --dataset=coco --source_dir=/data/coco --out_dir=data/coco

Output: ``OUT/images/...``, ``OUT/captions.jsonl`` and ``OUT/prepare_report.json``
(kept and skipped counts; the same summary is printed).
"""

from tfcaption import console  # noqa: F401  (first: quiets TensorFlow before it loads)
from tfcaption import command

import os

from absl import app, flags

DATASETS = ("shapes", "charts", "coco", "coco_tfds", "flickr8k", "scicap", "folder")

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", None, DATASETS, "Which source to prepare.")
flags.DEFINE_string("source_dir", None, "Raw dataset directory (not needed for shapes or charts).")
flags.DEFINE_string("out_dir", None, "Output directory for the common form.")
flags.DEFINE_enum("image_mode", "copy", ("copy", "symlink", "hardlink"),
                  "How image files land under OUT/images (bytes sources are always written).")
flags.DEFINE_enum("verify", "full", ("full", "header"),
                  "Decode every image fully, or only check headers (faster).")
flags.DEFINE_integer("num_workers", 4, "Threads used for image checks; charts: also the "
                     "processes that render the images (at most one per CPU).")
# shapes / charts
flags.DEFINE_integer("num_train", 2000, "shapes/charts: training images.")
flags.DEFINE_integer("num_val", 250, "shapes/charts: validation images.")
flags.DEFINE_integer("num_test", 250, "shapes/charts: test images.")
flags.DEFINE_integer("image_size", None, "shapes: image side in pixels (default 224); "
                     "charts: image width in pixels, the height is 3/4 of it (default 160).")
flags.DEFINE_integer("seed", 0, "shapes/charts: generation seed; folder: split seed.")
# coco / coco_tfds
flags.DEFINE_enum("coco_restval", "train", ("train", "val", "test", "drop"),
                  "coco: where Karpathy 'restval' images go.")
flags.DEFINE_enum("coco_format", "auto", ("auto", "karpathy", "raw"),
                  "coco: Karpathy dataset_coco.json, or raw captions_{train,val}2014.json.")
flags.DEFINE_string("karpathy_json", None, "coco: path of dataset_coco.json "
                    "(default SOURCE_DIR/dataset_coco.json).")
flags.DEFINE_string("tfds_data_dir", None, "coco_tfds: TFDS data_dir (default OUT/tfds).")
# scicap
flags.DEFINE_enum("scicap_format", "auto", ("auto", "original", "parquet"),
                  "scicap: original JSON layout or Hugging Face parquet files.")
flags.DEFINE_enum("scicap_caption", "normalized_basic",
                  ("original", "lowercase", "normalized_basic", "normalized_advanced"),
                  "scicap: which caption field of the original layout to use.")
flags.DEFINE_enum("scicap_subfig", "no", ("no", "yes", "all"),
                  "scicap: figures without subfigures, with them, or all.")
# folder
flags.DEFINE_float("val_fraction", 0.0, "folder: fraction of images without a split sent to val.")
flags.DEFINE_float("test_fraction", 0.0, "folder: fraction of images without a split sent to test.")


def source_records(dataset: str):
    """Returns the SourceRecord iterator for the chosen dataset and flags."""
    if dataset == "shapes":
        from tfcaption.data import shapes
        return shapes.generate(FLAGS.num_train, FLAGS.num_val, FLAGS.num_test,
                               224 if FLAGS.image_size is None else FLAGS.image_size,
                               FLAGS.seed)
    if dataset == "charts":
        from tfcaption.data import charts
        size = charts.DEFAULT_IMAGE_SIZE if FLAGS.image_size is None else FLAGS.image_size
        return charts.generate(FLAGS.num_train, FLAGS.num_val, FLAGS.num_test, size,
                               FLAGS.seed,
                               num_workers=max(1, min(FLAGS.num_workers, os.cpu_count() or 1)))
    if FLAGS.source_dir is None:
        raise app.UsageError(f"--source_dir is required for --dataset={dataset}")
    if not os.path.isdir(FLAGS.source_dir):
        raise app.UsageError(f"--source_dir {FLAGS.source_dir!r} is not a directory")
    if dataset == "coco":
        from tfcaption.data import coco
        return coco.records(FLAGS.source_dir, restval=FLAGS.coco_restval,
                            annotation_format=FLAGS.coco_format,
                            karpathy_json=FLAGS.karpathy_json)
    if dataset == "coco_tfds":
        from tfcaption.data import coco_tfds
        data_dir = FLAGS.tfds_data_dir or os.path.join(FLAGS.out_dir, "tfds")
        return coco_tfds.records(FLAGS.source_dir, data_dir=data_dir, restval=FLAGS.coco_restval)
    if dataset == "flickr8k":
        from tfcaption.data import flickr8k
        return flickr8k.records(FLAGS.source_dir)
    if dataset == "scicap":
        from tfcaption.data import scicap
        return scicap.records(FLAGS.source_dir, caption_field=FLAGS.scicap_caption,
                              subfig=FLAGS.scicap_subfig, source_format=FLAGS.scicap_format)
    from tfcaption.data import folder
    return folder.records(FLAGS.source_dir, val_fraction=FLAGS.val_fraction,
                          test_fraction=FLAGS.test_fraction, seed=FLAGS.seed)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from tfcaption.data.dataset_writer import DatasetWriter

    writer = DatasetWriter(FLAGS.out_dir, FLAGS.dataset, image_mode=FLAGS.image_mode,
                           verify=FLAGS.verify, num_workers=FLAGS.num_workers)
    report = writer.write(source_records(FLAGS.dataset))
    if FLAGS.dataset == "shapes":
        from tfcaption.data.shapes_summary import summarize
        print(summarize(FLAGS.out_dir))
    elif FLAGS.dataset == "charts" and report.total_kept:
        from tfcaption.data.charts_summary import summarize
        print(summarize(FLAGS.out_dir))
    print(f"wrote {os.path.join(FLAGS.out_dir, 'captions.jsonl')} "
          f"and {os.path.join(FLAGS.out_dir, 'prepare_report.json')}")
    if report.total_kept == 0:
        raise SystemExit(f"error: no usable record in {FLAGS.source_dir or FLAGS.dataset}")


def run():
    flags.mark_flags_as_required(["dataset", "out_dir"])
    command.run(main)


if __name__ == "__main__":
    run()
