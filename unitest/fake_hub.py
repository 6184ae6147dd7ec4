"""A loopback stand-in for the Hugging Face hub's file routes (test helper).

``FakeHub({"org/name": {"config.json": b"...", ...}})`` serves
``HEAD``/``GET /{repo}/resolve/{revision}/{file}`` on a free 127.0.0.1 port, with the
headers ``huggingface_hub`` reads (``X-Repo-Commit``, ``ETag``, ``Content-Length``) and its
error codes (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``); ``requests``
records every ``(method, path)``. Use as a context manager; ``endpoint`` is the base URL
for ``HF_ENDPOINT``.
"""

import hashlib
import http.server
import threading

from serve_client import free_port


class FakeHub:
    def __init__(self, repos, commit="0123456789abcdef0123456789abcdef01234567"):
        self.repos = {repo: dict(files) for repo, files in repos.items()}
        self.commit = commit
        self.requests = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body):
                hub.requests.append((self.command, self.path))
                status, headers, data = hub.route(self.path.split("?")[0])
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def route(self, path):
        parts = path.lstrip("/").split("/")
        if "resolve" not in parts:
            return 404, {"X-Error-Code": "EntryNotFound"}, b"no such route"
        i = parts.index("resolve")
        repo, revision, name = "/".join(parts[:i]), parts[i + 1], "/".join(parts[i + 2:])
        if repo not in self.repos:
            return 404, {"X-Error-Code": "RepoNotFound",
                         "X-Error-Message": "Repository not found"}, b""
        if revision not in ("main", self.commit):
            return 404, {"X-Error-Code": "RevisionNotFound"}, b""
        if name not in self.repos[repo]:
            return 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": self.commit}, b""
        data = self.repos[repo][name]
        return 200, {"X-Repo-Commit": self.commit,
                     "ETag": '"' + hashlib.sha1(data).hexdigest() + '"',
                     "Content-Type": "application/octet-stream"}, data

    def downloads(self, name):
        """How many GETs asked for file ``name``."""
        return sum(1 for method, path in self.requests
                   if method == "GET" and path.split("?")[0].endswith("/" + name))

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
