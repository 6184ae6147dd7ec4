"""Stanford PTB tokenisation of captions through pycocoevalcap's ``PTBTokenizer``.

pycocoevalcap writes every caption on one line of a temporary file (created inside its
own ``tokenizer/`` package folder, which must be writable) and runs
``java -cp stanford-corenlp-3.4.1.jar edu.stanford.nlp.process.PTBTokenizer
-preserveLines -lowerCase`` on it; the output lines are matched back to images by
position, and punctuation tokens are dropped. It replaces ``"\\n"`` in captions by a space,
but the Java tokenizer also ends a line at ``\\r``, ``\\x0b``, ``\\x0c``, U+2028 and
U+2029: a caption holding one of them silently shifts every later caption onto the
wrong image. :func:`ptb_tokenize` replaces all of these by a space first (which is what
pycocoevalcap does for ``"\\n"``), so results equal pycocoevalcap's wherever its own
line matching is right.
"""

import contextlib
import os
import re
import shutil
import sys
import tempfile
from typing import Dict, Hashable, List, Mapping

from pycocoevalcap.tokenizer import ptbtokenizer
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

# Characters that end a line for the Java PTBTokenizer (measured; "\n" included).
LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\u2028", "\u2029")
_ONE_LINE = str.maketrans({c: " " for c in LINE_BREAKS})


def one_line(caption: str) -> str:
    """``caption`` with every character the PTB tokenizer treats as a line end made a space."""
    return caption.translate(_ONE_LINE)


def check_java() -> None:
    """Raises ``RuntimeError`` unless ``java`` is on PATH and pycocoevalcap's tokenizer
    folder is writable (its temporary file goes there)."""
    if shutil.which("java") is None:
        raise RuntimeError("Java is required for the COCO caption metrics (PTB tokenizer, "
                           "METEOR) but `java` is not on PATH")
    folder = os.path.dirname(os.path.abspath(ptbtokenizer.__file__))
    if not os.access(folder, os.W_OK):
        raise RuntimeError(f"pycocoevalcap's PTBTokenizer writes its temporary file into "
                           f"{folder}, which is not writable")


# The line the Java tokenizer writes on the stderr it inherits after every run.
_STATISTICS = re.compile(r"PTBTokenizer tokenized \d+ tokens at [\d.]+ tokens per second\.")


@contextlib.contextmanager
def _without_java_statistics():
    """Captures file descriptor 2 for the block, then passes on what was written there
    except the tokenizer's statistics line (Java errors still show)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            rest = "".join(x for x in lines if not _STATISTICS.fullmatch(x.strip()))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


def ptb_tokenize(captions: Mapping[Hashable, List[str]]) -> Dict[Hashable, List[str]]:
    """``{id: [caption, ...]}`` -> ``{id: [tokenised caption, ...]}`` (same ids, order
    and counts): lower-cased, PTB-tokenised, tokens joined by single spaces,
    punctuation tokens removed, exactly as pycocoevalcap's ``PTBTokenizer``."""
    check_java()
    inputs = {k: [{"caption": one_line(c)} for c in v] for k, v in captions.items()}
    with _without_java_statistics():
        out = PTBTokenizer().tokenize(inputs)
    for k, v in captions.items():
        got = len(out.get(k, ()))
        if got != len(v):
            raise RuntimeError(f"PTB tokenizer returned {got} caption(s) for image {k!r}, "
                               f"expected {len(v)}")
    return out
