"""The images and text fields of one ``POST /api/caption`` request, read in memory."""

import io
import re

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

from tfcaption.web.http_error import HttpError

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME_LENGTH = 100


class InMemoryRequest(Request):
    """A werkzeug request whose uploaded files stay in memory (never a temporary file)."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        return io.BytesIO()


def display_name(filename, index):
    """The label of an upload in messages and results: the last component of the name
    the client sent, without control characters, at most 100 characters (``image N``
    when empty). It is never used as a path."""
    name = _UNSAFE.sub("", re.split(r"[\\/]", filename or "")[-1]).strip()
    return name[:MAX_NAME_LENGTH] or f"image {index + 1}"


def read_upload(environ, max_bytes):
    """``(images, fields)`` of a WSGI request.

    ``images``: ``[(name, bytes), ...]`` -- every file of a ``multipart/form-data`` body
    (any field name, in order), or the whole body as one image for any other content
    type (raw image bytes, named by an ``X-Filename`` header if any); ``fields``: name
    -> list of strings, the query parameters and the multipart text fields together.

    Raises :class:`HttpError` 413 when the body is over ``max_bytes`` and 400 when it
    holds no image.
    """
    request = InMemoryRequest(environ)
    request.max_content_length = int(max_bytes)
    request.max_form_memory_size = int(max_bytes)
    limit_mb = max_bytes / 2 ** 20
    length = request.content_length
    if length is not None and length > max_bytes:
        raise HttpError(413, f"the upload is {length:,} bytes, over the {limit_mb:g} MB "
                             f"limit ({int(max_bytes):,} bytes; --max_upload_mb)")
    fields = {k: list(v) for k, v in request.args.lists()}
    try:
        if request.mimetype == "multipart/form-data":
            for key, values in request.form.lists():
                fields.setdefault(key, []).extend(values)
            uploads = [f for _, f in request.files.items(multi=True)
                       if f.filename or f.stream.getvalue()]  # not an unused file input
            images = [(display_name(f.filename, i), f.stream.getvalue())
                      for i, f in enumerate(uploads)]
        else:  # raw bytes, whatever the type says (curl --data-binary sends a form's)
            data = request.get_data(cache=False)
            images = [(display_name(request.headers.get("X-Filename"), 0), data)] \
                if data else []
    except RequestEntityTooLarge:
        raise HttpError(413, f"the upload is over the {limit_mb:g} MB limit "
                             f"(--max_upload_mb)") from None
    if not images:
        raise HttpError(400, "no image in the request: send the images as "
                             "multipart/form-data files, or one image's bytes as the body")
    return images, fields
