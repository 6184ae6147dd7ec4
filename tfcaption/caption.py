"""Captions image files with a model dir.

    python -m tfcaption.caption --model=runs/clipcap_shapes/model IMAGE_OR_DIR_OR_GLOB...

Arguments are image files, directories (the image files directly inside, sorted by
name; ``--recursive`` also takes subdirectories) and globs, quoted so the shell leaves
them alone (``"photos/*.jpg"``, ``"photos/**/*.png"``); see
:mod:`tfcaption.data.image_inputs`.

Output, on stdout, in argument order, as each batch finishes: ``PATH<TAB>CAPTION`` per
caption (with ``--num_captions=N``, N lines per image, best first for beam search), or
with ``--json`` one JSON object per image: ``{"path", "captions": [...], "scores":
[...]}`` (each caption's summed log-probability, length-normalised for beam search).

A file that is not a readable image gets one ``error: PATH: ...`` line on stderr and
the others are still captioned; the exit status is 1 when any argument or file failed.
JPEGs of more than 16.8 megapixels are decoded at a reduced scale (never below the
model's input size), so huge photos need little memory; PNG, GIF and BMP are decoded at
full size.
"""

from tfcaption import console  # noqa: F401  (first: quiets TensorFlow before it loads)
from tfcaption import command

import json
import sys

from absl import app, flags

from tfcaption import decoding_flags, json_flag  # noqa: F401  (--json)
from tfcaption.data.image_inputs import expand_image_inputs
from tfcaption.models.families import families

FLAGS = flags.FLAGS
flags.DEFINE_integer("num_captions", 1, "Captions per image (num_return_sequences; beam "
                     "or sampling).")
flags.DEFINE_bool("recursive", False, "Also caption images in subdirectories of "
                  "directory arguments.")
for _family in families():  # each family's own flags (e.g. ClipCap's --weights_dtype)
    _family.flags_module()


def family_options(model_dir):
    """The loader options the family flags ask for, for the family of ``model_dir``;
    ``ValueError`` when a flag of another family is given."""
    from tfcaption.models.load_captioner import model_dir_family

    family = model_dir_family(model_dir)
    for other in families():
        module = other.flags_module()
        given = [n for n in getattr(module, "FLAG_NAMES", ()) if FLAGS[n].present]
        if other is not family and given:
            raise ValueError(f"--{given[0]} applies to {other.name} models; {model_dir} is "
                             f"a {family.name} model")
    module = family.flags_module()
    return module.load_options(FLAGS) if module is not None else {}


def format_result(result: dict, as_json: bool) -> str:
    """The stdout text (lines, each ending in a newline) for one captioned file."""
    if as_json:
        return json.dumps({"path": result["path"], "captions": result["captions"],
                           "scores": result["scores"]}, ensure_ascii=False) + "\n"
    return "".join(f"{result['path']}\t{' '.join(c.split())}\n" for c in result["captions"])


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def main(argv):
    if len(argv) < 2:
        raise app.UsageError("give at least one image file, directory or glob")
    method, overrides = decoding_flags.decoding_overrides(
        FLAGS, num_return_sequences=FLAGS.num_captions)
    paths, problems = expand_image_inputs(argv[1:], recursive=FLAGS.recursive)
    for problem in problems:
        _error(problem)
    if not paths:
        return 1

    from tfcaption.models.caption_files import caption_files
    from tfcaption.models.load_captioner import load_captioner

    try:
        captioner = load_captioner(FLAGS.model, **family_options(FLAGS.model))
    except (OSError, ValueError) as error:
        _error(str(error))
        return 1
    failed = bool(problems)
    for result in caption_files(captioner, paths, method, batch_size=FLAGS.batch_size,
                                seed=FLAGS.seed, **overrides):
        if "error" in result:
            _error(result["error"])
            failed = True
        else:
            sys.stdout.write(format_result(result, FLAGS.json))
            sys.stdout.flush()
    return 1 if failed else 0


def run():
    flags.mark_flags_as_required(["model"])
    command.run(main)


if __name__ == "__main__":
    run()
