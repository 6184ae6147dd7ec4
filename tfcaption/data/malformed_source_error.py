"""The error raised for a source file that cannot be parsed."""


class MalformedSourceError(ValueError):
    """A source file cannot be parsed; the message names the file and line (or entry)."""
