"""Helpers for the web demo's tests: a waitress server in a thread, HTTP calls with
timeouts, free ports."""

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid

TIMEOUT = 120


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(wsgi_app, max_upload_mb=10.0, threads=16):
    """Serves ``wsgi_app`` with waitress on a free 127.0.0.1 port; yields the base URL."""
    from tfcaption.web.waitress_server import create_server

    server = create_server(wsgi_app, "127.0.0.1", 0, threads=threads,
                           max_upload_mb=max_upload_mb)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        for channel in list(server._map.values()):  # open keep-alive connections
            channel.close()
        thread.join(10)


def multipart(files=(), fields=None):
    """``(body, content type)`` of a multipart/form-data request; ``files``:
    ``[(filename, bytes), ...]`` sent as ``image`` fields."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (fields or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                     f'\r\n\r\n{value}\r\n'.encode())
    for filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream'
                     f'\r\n\r\n'.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(url, body=None, content_type=None, method=None, timeout=TIMEOUT):
    """``(status, parsed JSON or bytes)``; HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=body, method=method)
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, kind, data = response.status, response.headers["Content-Type"], \
                response.read()
    except urllib.error.HTTPError as error:
        status, kind, data = error.code, error.headers["Content-Type"], error.read()
    if kind and kind.startswith("application/json"):
        return status, json.loads(data)
    return status, data


def post_images(base, files, fields=None, query=""):
    body, kind = multipart(files, fields)
    return request(f"{base}/api/caption{query}", body, kind)


def wait_for_health(base, timeout=TIMEOUT, process=None, warm=False):
    """Polls ``/healthz`` until it answers 200 (and, with ``warm``, says every batch size
    is compiled); False after ``timeout`` s or once ``process`` has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            status, body = request(f"{base}/healthz", timeout=5)
            if status == 200 and (not warm or body["warm"]):
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False
