"""Exports a model dir as a serving SavedModel: encoded image bytes in, captions out.

    python -m tfcaption.export --model=runs/clipcap_shapes/model \
        --export_dir=exports/clipcap_shapes/1 [--decoding=beam --beam_size=5 \
        --max_length=40 --jit_compile]

The SavedModel's ``serving_default`` signature takes ``image_bytes`` (``tf.string
[batch]``: JPEG, PNG, GIF or BMP files' bytes) and returns ``captions`` (``tf.string
[batch]``, UTF-8) and ``scores`` (``tf.float32 [batch]``). Decoding, preprocessing, the
image encoder, the decoding loop and detokenisation all run in the graph: loading it
needs TensorFlow only. The decoding setting is fixed here, by the flags (unset flags keep
``DecodingConfig``'s defaults and the model's stop tokens), and recorded in
``EXPORT_DIR/assets.extra/tfcaption_export.json``. An image that cannot be decoded gets
the caption ``""`` and the score ``-inf``; the rest of the batch is captioned.
``--jit_compile`` compiles the image encoder and the decoding loop with XLA: faster per
call, but each new number of images in a request compiles once (seconds), and TensorFlow
Serving runs it only with ``--xla_cpu_compilation_enabled=true`` (CPU).
"""

from tfcaption import console  # noqa: F401  (first: quiets TensorFlow before it loads)
from tfcaption import command

import os
import time

from absl import app, flags, logging

from tfcaption import decoding_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", None, "Output directory of the SavedModel (for "
                    "TensorFlow Serving, a numbered version dir such as "
                    "exports/clipcap_shapes/1).")
flags.DEFINE_list("stop_token_ids", None, "Token ids that end a caption (default: the "
                  "model dir's).")
flags.DEFINE_boolean("jit_compile", False, "Compile the image encoder and the decoding "
                     "loop with XLA.")
flags.DEFINE_boolean("overwrite", False, "Replace an existing non-empty --export_dir.")


def decoding_overrides():
    """``(method, overrides)``: the decoding flags (shared with ``caption``) and the stop
    tokens, checked."""
    method, overrides = decoding_flags.decoding_overrides(FLAGS)
    overrides["seed"] = FLAGS.seed
    if FLAGS.stop_token_ids is not None:
        try:
            overrides["stop_token_ids"] = [int(i) for i in FLAGS.stop_token_ids]
        except ValueError:
            raise app.UsageError(f"--stop_token_ids takes integers, got "
                                 f"{','.join(FLAGS.stop_token_ids)}") from None
    return method, overrides


def summary(info, export_dir, seconds) -> str:
    """One line: what was exported where, with which decoding."""
    decoding = info["decoding"]
    knobs = {"greedy": (), "beam": ("beam_size", "length_penalty"),
             "sample": ("temperature", "top_k", "top_p", "seed")}[decoding["method"]]
    setting = ", ".join([decoding["method"]] + [f"{k}={decoding[k]}" for k in knobs]
                        + [f"max_length={decoding['max_length']}",
                           f"stop_token_ids={decoding['stop_token_ids']}"])
    return (f"exported {info['source_model']} -> {export_dir} in {seconds:.1f} s: "
            f"serving_default(image_bytes: tf.string [batch]) -> captions: tf.string "
            f"[batch], scores: tf.float32 [batch]; decoding {setting}; XLA "
            f"{'on' if info['jit_compile'] else 'off'}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    method, overrides = decoding_overrides()
    from tfcaption.models.load_captioner import load_captioner
    from tfcaption.serving.saved_model_export import export_captioner

    logging.set_verbosity(logging.WARNING)  # the SavedModel writer's INFO chatter
    start = time.perf_counter()
    try:
        captioner = load_captioner(FLAGS.model, jit_compile=FLAGS.jit_compile)
        info = export_captioner(captioner, FLAGS.export_dir, method,
                              jit_compile=FLAGS.jit_compile, overwrite=FLAGS.overwrite,
                              source=FLAGS.model, **overrides)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        raise SystemExit(f"error: {error}") from None
    print(summary(info, os.path.abspath(FLAGS.export_dir), time.perf_counter() - start))


def run():
    flags.mark_flags_as_required(["model", "export_dir"])
    command.run(main)


if __name__ == "__main__":
    run()
