"""Evaluates a captioner model dir on one split of a dataset in the common form.

    python -m tfcaption.evaluate --model=runs/clipcap_shapes/model --data=data/shapes \
        --split=test --out=runs/clipcap_shapes/eval_test.json [--clip=DIR]

Captions the split's images in batches (with a progress bar), then writes

- ``--out``: the metrics JSON (COCO metrics, CLIPScore / RefCLIPScore with ``--clip``,
  diversity, the ``shapes`` scorer when records carry ``objects``, the ``charts`` scorer
  when they carry ``chart``, the settings, and
  the unreadable images, which are skipped and counted);
- ``--predictions`` (default ``OUT`` with ``.json`` replaced by ``.predictions.jsonl``):
  one ``{"image_id", "caption", "references"}`` per captioned image;
- ``--markdown`` (default ``OUT`` with ``.md``): the full markdown report.

It prints a short summary: the key metrics, the time, a few sample captions and the
files written (:mod:`tfcaption.evaluation.run_summary`). TensorFlow's logs and other
packages' warnings are off unless ``-v 1`` (:mod:`tfcaption.console`).

See :func:`tfcaption.evaluation.evaluate_model.evaluate_captioner`.
"""

from tfcaption import console  # noqa: F401  (first: quiets TensorFlow before it loads)
from tfcaption import command

import sys
import time

from absl import app, flags

from tfcaption import decoding_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("data", None, "Dataset dir in the common form (captions.jsonl, images/).")
flags.DEFINE_string("split", "test", "Split to evaluate on.")
flags.DEFINE_string("out", None, "Metrics JSON file to write.")
flags.DEFINE_string("predictions", None, "Predictions JSONL file (default: next to --out).")
flags.DEFINE_string("markdown", None, "Markdown report file (default: next to --out).")
flags.DEFINE_string("clip", None, "CLIP model dir for CLIPScore / RefCLIPScore "
                    "(e.g. pretrained_models/clip_shapes); without it they are unavailable.")
flags.DEFINE_string("train_split", "train", "Split whose captions novelty is measured "
                    "against (empty: none).")
flags.DEFINE_integer("max_images", None, "Evaluate only the split's first N images.")
flags.DEFINE_enum("spice", "auto", ("auto", "true", "false"),
                  "SPICE: where its CoreNLP jars are present (auto), required, or off.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    method, overrides = decoding_flags.decoding_overrides(FLAGS)

    from tfcaption.evaluation.evaluate_model import evaluate_captioner
    from tfcaption.evaluation.evaluation_report import default_report_paths, write_evaluation
    from tfcaption.evaluation.run_summary import run_summary, samples_from
    from tfcaption.models.load_captioner import load_captioner

    predictions_path, markdown_path = default_report_paths(FLAGS.out)
    spice = {"auto": "auto", "true": True, "false": False}[FLAGS.spice]
    start = time.perf_counter()
    try:
        captioner = load_captioner(FLAGS.model)
        result = evaluate_captioner(captioner, FLAGS.data, FLAGS.split, method,
                                    batch_size=FLAGS.batch_size, max_images=FLAGS.max_images,
                                    clip_dir=FLAGS.clip, train_split=FLAGS.train_split or None,
                                    seed=FLAGS.seed, spice=spice, **overrides)
    except (OSError, ValueError, RuntimeError) as error:  # bad model dir, data, CLIP, Java
        print(f"error: {error}", file=sys.stderr)
        return 1
    result.metrics["settings"]["model"] = FLAGS.model
    predictions_path = FLAGS.predictions or predictions_path
    markdown_path = FLAGS.markdown or markdown_path
    written = write_evaluation(result, FLAGS.out, predictions_path, markdown_path)
    files = [(FLAGS.out, "all metrics"), (predictions_path, "every caption"),
             (markdown_path, "report")]
    print()
    print(run_summary(written, samples_from(result.predictions, result.references), files,
                      time.perf_counter() - start), end="")


def run():
    flags.mark_flags_as_required(["model", "data", "out"])
    command.run(main)


if __name__ == "__main__":
    run()
