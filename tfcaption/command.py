"""How every ``python -m tfcaption.<command>`` ends: one error line for a user's mistake,
a traceback only for a bug.

:func:`run` is ``absl.app.run`` with this policy:

- a bad flag, a missing required flag or a wrong argument (``app.UsageError``) prints one
  line ``error: ...`` (with the command's ``--helpshort`` hint) and exits with status **2**;
- a user error -- a file, setting, model dir or dataset that cannot be used -- prints one
  line ``error: <message>`` and exits with status **1**. A user error is an
  :class:`OSError` or :class:`ValueError` raised by tfcaption's own code (the messages
  there name the file, key or value); the same types raised deep inside TensorFlow,
  Keras or NumPy are not (they are bugs or unhandled cases) and keep their traceback;
- Ctrl-C prints ``interrupted`` and exits with status 130 (a rerun of ``train`` resumes);
- ``--debug`` (or ``-v 1``) shows the traceback of user errors too.
"""

import os
import sys
import traceback

from absl import app, flags

flags.DEFINE_bool("debug", False, "Show the Python traceback of an error (user errors "
                  "print one line otherwise).")

USAGE_STATUS = 2
FAILURE_STATUS = 1
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def raised_by_tfcaption(error):
    """Whether the innermost frame of ``error``'s traceback is tfcaption code (the error
    was raised deliberately with a message written for the user)."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE_DIR)


def is_user_error(error):
    return isinstance(error, (OSError, ValueError)) and raised_by_tfcaption(error)


def _show_tracebacks():
    values = flags.FLAGS
    return values.is_parsed() and (values.debug or values.verbosity >= 1)


def _program():
    return f"python -m {sys.modules['__main__'].__spec__.name}" \
        if getattr(sys.modules.get("__main__"), "__spec__", None) else os.path.basename(
            sys.argv[0])


def _usage_error(message):
    print(f"error: {message}\n(see: {_program()} --helpshort)", file=sys.stderr)
    sys.exit(USAGE_STATUS)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        _usage_error(error)


def _guarded(main):
    def guarded_main(argv):
        try:
            return main(argv)
        except app.UsageError as error:
            if _show_tracebacks():
                traceback.print_exc()
            _usage_error(error)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        except (OSError, ValueError) as error:
            if not is_user_error(error) or _show_tracebacks():
                raise
            sys.stdout.flush()
            print(f"error: {error}", file=sys.stderr)
            sys.exit(FAILURE_STATUS)
    return guarded_main


def run(main):
    """``app.run(main)`` with the error policy of this module."""
    app.run(_guarded(main), flags_parser=_parse_flags)
