"""The page's files (HTML, CSS, JS, example images), read once from the package."""

import mimetypes
import os

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".jpg": "image/jpeg",
          ".svg": "image/svg+xml"}


class StaticFiles:
    """A fixed table URL path -> ``(bytes, content type)`` of every file under
    ``directory``, built when the app starts; a request path is only ever looked up in
    it, never joined to a directory."""

    def __init__(self, directory=STATIC_DIR, prefix="/static/"):
        self.directory = directory
        self.prefix = prefix
        self.files = {}
        for parent, _, names in os.walk(directory):
            for name in sorted(names):
                path = os.path.join(parent, name)
                relative = os.path.relpath(path, directory).replace(os.sep, "/")
                extension = os.path.splitext(name)[1].lower()
                kind = _TYPES.get(extension) or mimetypes.guess_type(name)[0] or \
                    "application/octet-stream"
                with open(path, "rb") as f:
                    self.files[prefix + relative] = (f.read(), kind)

    def get(self, url_path):
        """``(bytes, content type)`` or None."""
        return self.files.get(url_path)

    def examples(self):
        """The URL paths of the example images, sorted."""
        return sorted(p for p in self.files if p.startswith(self.prefix + "examples/")
                      and self.files[p][1].startswith("image/"))
