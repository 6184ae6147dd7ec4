"""Runs pycocoevalcap's METEOR and always ends its Java process.

pycocoevalcap 1.2's ``Meteor()`` starts ``java -jar -Xmx2G meteor-1.5.jar - - -stdio``
in its constructor and keeps it for the object's life; it has no ``close()``, only a
``__del__`` that takes ``self.lock``, closes stdin, kills and waits. Two traps:

- ``compute_score`` takes the lock and releases it only on success; if the process
  died (e.g. the JVM could not reserve its heap), reading its reply fails with the
  lock held and the later ``__del__`` blocks forever;
- stdout/stderr pipes are never closed, and the process lives until garbage
  collection reaches the object.

:func:`close_meteor` ends the process deterministically, closes every pipe, returns
what it wrote on stderr, and gives the object a fresh lock so ``__del__`` cannot hang.
"""

import threading
from typing import Dict, Hashable, List, Tuple

from pycocoevalcap.meteor.meteor import Meteor


def close_meteor(meteor: Meteor) -> str:
    """Kills and reaps ``meteor``'s Java process, closes its pipes; returns its stderr
    text. Safe to call more than once."""
    proc = meteor.meteor_p
    try:
        proc.stdin.close()
    except (OSError, ValueError):  # broken pipe while flushing, or already closed
        pass
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    err = b""
    if proc.stderr is not None and not proc.stderr.closed:
        err = proc.stderr.read()
        proc.stderr.close()
    if proc.stdout is not None and not proc.stdout.closed:
        proc.stdout.close()
    meteor.lock = threading.Lock()  # the old one may be held by a failed compute_score
    return err.decode("utf-8", errors="replace")


def meteor_score(gts: Dict[Hashable, List[str]],
                 res: Dict[Hashable, List[str]]) -> Tuple[float, List[float]]:
    """``Meteor().compute_score(gts, res)`` on tokenised captions, with the Java process
    closed afterwards; a failure of the process raises ``RuntimeError`` with its stderr."""
    meteor = Meteor()
    try:
        score, scores = meteor.compute_score(gts, res)
    except (ValueError, OSError) as e:
        err = close_meteor(meteor)
        raise RuntimeError(f"METEOR (java -jar meteor-1.5.jar) failed: {e!r}; its stderr "
                           f"ends with: {err[-2000:]!r}") from e
    finally:
        close_meteor(meteor)
    return float(score), [float(s) for s in scores]
