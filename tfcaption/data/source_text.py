"""Decoding a source's text so that a bad byte or bad JSON is reported at its real line.

Python's own errors name a byte position (``UnicodeDecodeError``) or, when a file
is read through a text wrapper, no usable position at all: the wrapper decodes
8 KiB chunks, so a CSV reader sees the error before it has counted a single line.
Sources therefore read bytes and decode them here.
"""

import codecs
import json
import re

from tfcaption.data.malformed_source_error import MalformedSourceError

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def utf8_error(data: bytes, err: UnicodeDecodeError, path: str, first_line: int = 1,
               offset: int = 0) -> MalformedSourceError:
    """The MalformedSourceError for ``err`` raised while decoding ``data``.

    ``data`` starts at line ``first_line`` and byte ``offset`` of the file at
    ``path``; the message names ``path:LINE``, the column, the file offset and
    the bad byte. Lines end at ``\\r\\n``, ``\\r`` or ``\\n``.
    """
    start = err.start
    before = data[:start]
    breaks = list(_LINE_BREAK.finditer(before))
    line = first_line + len(breaks)
    line_start = breaks[-1].end() if breaks else 0
    # Everything before the first bad byte is valid UTF-8.
    prefix = before[line_start:].decode("utf-8")
    after = f" after {prefix[-30:]!r}" if prefix.strip() else ""
    return MalformedSourceError(
        f"{path}:{line}: not valid UTF-8: byte 0x{data[start]:02x} ({err.reason}) at column "
        f"{len(prefix) + 1}, file offset {offset + start}{after}; save the file as UTF-8")


def decode_utf8(data: bytes, path: str, first_line: int = 1, offset: int = 0) -> str:
    """Decodes ``data`` (bytes of ``path`` from line ``first_line``, byte ``offset``).

    Raises:
      MalformedSourceError: a byte is not valid UTF-8; the message names the
        file and the line (see ``utf8_error``).
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise utf8_error(data, e, path, first_line, offset) from None


def read_utf8(path: str) -> str:
    """The whole text of ``path``, a leading byte-order mark dropped; bad bytes name their line."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(codecs.BOM_UTF8):
        return decode_utf8(data[len(codecs.BOM_UTF8):], path, offset=len(codecs.BOM_UTF8))
    return decode_utf8(data, path)


def load_source_json(path: str):
    """Parses a whole JSON file; errors name ``path:LINE`` (bad UTF-8 or bad JSON)."""
    text = read_utf8(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise MalformedSourceError(
            f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
