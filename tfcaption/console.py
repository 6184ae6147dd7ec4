"""What a command prints besides its own output; every entry point imports this first.

By default a ``python -m tfcaption.<command>`` run shows only the command's own lines
(progress bars, Keras' per-epoch lines, results, errors):

- TensorFlow's C++ log lines (``I0000 ... oneDNN custom operations``, ``Could not find
  cuda drivers``, ``E0000 ... cuInit``) are off: ``TF_CPP_MIN_LOG_LEVEL=3`` unless the
  environment sets it, and TensorFlow is imported here with stderr closed, because the
  lines it writes while loading ignore that setting;
- Python warnings of other packages are off (tfcaption's own still show), unless
  ``python -W`` or ``PYTHONWARNINGS`` says otherwise;
- TensorFlow's Python logger shows errors only; absl logging shows warnings and errors.

absl's ``-v`` / ``--verbosity`` flag brings the rest back: ``-v 1`` (``--verbosity=1``)
shows TensorFlow's C++ logs (``TF_CPP_MIN_LOG_LEVEL=0``), every warning and absl's
debug logging; ``-v 0`` shows absl's info lines and keeps TensorFlow quiet. TensorFlow
reads its log level when it is loaded, before flags are parsed, so this module reads the
flag from ``sys.argv`` itself (the one place outside absl that does).

One warning is filtered in every mode (:data:`SPURIOUS_WARNINGS`); the comment there
says why.
"""

import logging
import os
import sys
import warnings

_VERBOSITY_FLAGS = ("--verbosity", "-verbosity", "--v", "-v")

# Keras 3.15 warns "Your input ran out of data; interrupting training" at the end of the
# first epoch of every `fit` / `evaluate` whose input has no known length: that is how it
# counts the batches (keras-team/keras#23360 warns only when steps_per_epoch was set).
# Every CaptionPipeline dataset has an unknown length (images that fail to decode are
# dropped mid-epoch, cached features are matched to records by id), and no trainer sets
# steps_per_epoch, so the warning never means data is missing here.
SPURIOUS_WARNINGS = (r"Your input ran out of data; interrupting training",)


def requested_verbosity(argv):
    """The integer value of ``-v`` / ``--verbosity`` in ``argv`` (the last one wins), or
    None when absent or not an integer (absl then reports it)."""
    value, args = None, iter(argv[1:])
    for arg in args:
        if arg == "--":
            break
        for name in _VERBOSITY_FLAGS:
            if arg == name:
                value = next(args, None)
            elif arg.startswith(name + "="):
                value = arg[len(name) + 1:]
            else:
                continue
            break
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _tf_log_level():
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def _import_tensorflow_quietly():
    """Imports TensorFlow with file descriptor 2 on /dev/null: its start-up lines
    (``port.cc``, ``cudart_stub.cc``) are written before ``TF_CPP_MIN_LOG_LEVEL`` applies.
    An import error is raised after stderr is back."""
    if "tensorflow" in sys.modules or _tf_log_level() < 1:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _after_flags():
    """Python warnings and logger levels, once absl has parsed ``-v``."""
    from absl import flags
    from absl import logging as absl_logging

    given = flags.FLAGS["verbosity"].present
    if not given:  # absl would show info lines
        absl_logging.set_verbosity(absl_logging.WARNING)
    if given and flags.FLAGS.verbosity >= 1:
        return
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if not sys.warnoptions:
        warnings.simplefilter("ignore")
        warnings.filterwarnings("default", module=r"tfcaption(\.|$)")


def setup(argv=None):
    """Sets TensorFlow's log level from ``-v`` in ``argv`` (default ``sys.argv``),
    imports TensorFlow quietly, filters :data:`SPURIOUS_WARNINGS` and, once absl has
    parsed the flags (``app.call_after_init``), sets the warning filters and logger
    levels. Run when this module is imported."""
    verbosity = requested_verbosity(sys.argv if argv is None else argv)
    if verbosity is not None and verbosity >= 1:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for message in SPURIOUS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)
    _import_tensorflow_quietly()
    from absl import app

    app.call_after_init(_after_flags)


setup()
