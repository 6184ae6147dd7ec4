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
    """Names every missing, unexpected and mis-shaped checkpoint key at once.

    Args:
      source: the checkpoint file or directory.
      missing: keys the model needs that the checkpoint lacks.
      unexpected: checkpoint keys the model does not use.
      mis_shaped: ``(key, checkpoint_shape, expected_shape)`` triples.
    """

    def __init__(self, source, missing=(), unexpected=(), mis_shaped=()):
        self.source = str(source)
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        self.mis_shaped = sorted(mis_shaped)
        shaped = [f"{key}: checkpoint {tuple(got)} vs model {tuple(want)}"
                  for key, got, want in self.mis_shaped]
        lines = [f"checkpoint {self.source} does not match the model:"]
        lines += _listing("missing keys", self.missing)
        lines += _listing("unexpected keys", self.unexpected)
        lines += _listing("mis-shaped keys", shaped)
        super().__init__("\n".join(lines))
