"""Error raised when a checkpoint's keys or shapes do not match the model being loaded."""


def _listing(title, items, limit=50):
    if not items:
        return []
    shown = list(items)[:limit]
    more = len(items) - len(shown)
    lines = [f"  {title} ({len(items)}):"] + [f"    {item}" for item in shown]
    if more:
        lines.append(f"    ... and {more} more")
    return lines


class CheckpointMismatchError(ValueError):
    """Names every missing, unexpected, mis-shaped and unconvertible checkpoint key at once.

    Args:
      source: the checkpoint file or directory.
      missing: keys the model needs that the checkpoint lacks.
      unexpected: checkpoint keys the model does not use.
      mis_shaped: ``(key, checkpoint_shape, expected_shape)`` triples, both in the
        checkpoint's own (PyTorch) layout; ``None`` in an expected shape means any size.
      unconvertible: ``(key, reason)`` pairs for arrays of the expected shape whose
        conversion to the model's layout failed.
    """

    def __init__(self, source, missing=(), unexpected=(), mis_shaped=(), unconvertible=()):
        self.source = str(source)
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        self.mis_shaped = sorted((key, tuple(got), tuple(want)) for key, got, want in mis_shaped)
        self.unconvertible = sorted(unconvertible)
        shaped = [f"{key}: checkpoint {got} vs expected {want}"
                  for key, got, want in self.mis_shaped]
        lines = [f"checkpoint {self.source} does not match the model:"]
        lines += _listing("missing keys", self.missing)
        lines += _listing("unexpected keys", self.unexpected)
        lines += _listing("mis-shaped keys", shaped)
        lines += _listing("unconvertible keys",
                          [f"{key}: {reason}" for key, reason in self.unconvertible])
        super().__init__("\n".join(lines))
