"""The convention for metrics that could not be computed.

A metric that is unavailable keeps its key with the value ``None``, and the key
``<name>_unavailable`` holds a human-readable reason, e.g.
``{"SPICE": None, "SPICE_unavailable": "missing .../stanford-corenlp-3.6.0.jar"}``.
"""

from typing import Dict, Optional

SUFFIX = "_unavailable"


def mark_unavailable(metrics: Dict, name: str, reason: str) -> Dict:
    """Sets ``metrics[name] = None`` and ``metrics[name + "_unavailable"] = reason``."""
    if not reason:
        raise ValueError(f"an unavailable metric needs a reason ({name!r})")
    metrics[name] = None
    metrics[name + SUFFIX] = str(reason)
    return metrics


def unavailable_reason(metrics: Dict, name: str) -> Optional[str]:
    """The reason ``name`` is unavailable in ``metrics``, or None."""
    return metrics.get(name + SUFFIX)


def is_reason_key(key: str) -> bool:
    """True for the ``<name>_unavailable`` keys."""
    return isinstance(key, str) and key.endswith(SUFFIX)
