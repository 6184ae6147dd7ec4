"""The web demo as a WSGI application: the page, ``/api/caption``, ``/api/models``,
``/healthz``.

``POST /api/caption`` takes the images as ``multipart/form-data`` files (any field
name, several allowed) or one image's bytes as the body, and the settings as form fields
or query parameters (:mod:`tfcaption.web.caption_settings`). It answers::

    {"images":  [{"name": "a.png", "error": null}, ...],          # one per upload
     "results": [{"image": 0, "name": "a.png", "model": "clipcap_shapes",
                  "captions": ["..."], "scores": [-1.9], "timing_ms": 41.0}, ...],
     "models": ["clipcap_shapes", ...], "decoding": {"decoding": "greedy", "seed": 0, ...},
     "timing_ms": 45.2}

``results`` holds one entry per readable image and model, in image order then model
order (``captions`` / ``scores``: ``num_captions`` of them, best first for beam search;
``timing_ms``: that model's time for the request, batching wait included). A
score that is not finite is ``null``. When an upload is not a readable image, its
``images`` entry has the ``error``, the other images are still captioned, the status is
400 and ``error`` joins the messages. Other errors are ``{"error": "..."}`` with 400
(bad setting, unknown model, no image), 413 (over ``max_upload_mb``), 404, 405, 503
(queue full or timeout) or 500.
"""

import json
import math
import time
from concurrent.futures import TimeoutError as FutureTimeout

from tfcaption.web.caption_settings import DECODING_METHODS, parse_caption_settings
from tfcaption.web.dynamic_batcher import BatcherFullError
from tfcaption.web.http_error import HttpError
from tfcaption.web.static_files import StaticFiles
from tfcaption.web.upload_reader import read_upload

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}


def _finite(value):
    return value if math.isfinite(value) else None


class CaptionApp:
    """The WSGI callable.

    Args:
      models: :class:`tfcaption.web.served_model.ServedModel` instances (unique names).
      max_upload_mb: the largest request body accepted (413 beyond).
      request_timeout_s: the longest a request waits for its captions (503 beyond).
    """

    def __init__(self, models, max_upload_mb=10.0, request_timeout_s=60.0):
        if not models:
            raise ValueError("give at least one model")
        self.models = {}
        for model in models:
            if model.name in self.models:
                raise ValueError(f"two models are named {model.name!r}")
            self.models[model.name] = model
        if not max_upload_mb > 0:
            raise ValueError(f"max_upload_mb must be > 0, got {max_upload_mb}")
        self.max_upload_mb = float(max_upload_mb)
        self.max_upload_bytes = int(self.max_upload_mb * 2 ** 20)
        self.request_timeout_s = float(request_timeout_s)
        self.static = StaticFiles()

    # --- WSGI --------------------------------------------------------------------------
    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        try:
            status, body, kind = self._route(method, path, environ)
        except HttpError as error:
            status, body, kind = error.status, {"error": error.message}, None
        except Exception as error:  # noqa: BLE001  (a bug: answered, not a dead worker)
            status, body, kind = 500, {"error": f"internal error: {error!r}"}, None
        if kind is None:
            body, kind = json.dumps(body, ensure_ascii=False).encode("utf-8"), \
                "application/json"
        headers = [("Content-Type", kind), ("Content-Length", str(len(body))),
                   ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
        start_response(f"{status} {_REASONS.get(status, '')}".strip(), headers)
        return [body] if method != "HEAD" else [b""]

    def _route(self, method, path, environ):
        """``(status, body, content type)``; a None type means ``body`` is JSON data."""
        routes = {"/api/caption": ("POST",), "/api/models": ("GET", "HEAD"),
                  "/healthz": ("GET", "HEAD"), "/": ("GET", "HEAD")}
        static = self.static.get("/static/index.html" if path == "/" else path)
        if path not in routes and static is None:
            raise HttpError(404, f"no such page: {path}")
        allowed = routes.get(path, ("GET", "HEAD"))
        if method not in allowed:
            raise HttpError(405, f"{path} takes {' or '.join(allowed)}, not {method}")
        if path == "/api/caption":
            return self.caption(environ)
        if path == "/api/models":
            return 200, self.models_info(), None
        if path == "/healthz":
            return 200, {"status": "ok", "models": list(self.models),
                         "warm": all(m.warm.is_set() for m in self.models.values())}, None
        return 200, static[0], static[1]

    # --- API ---------------------------------------------------------------------------
    def models_info(self):
        """The body of ``GET /api/models``."""
        return {"models": [model.info() for model in self.models.values()],
                "decoding_methods": list(DECODING_METHODS),
                "max_upload_mb": self.max_upload_mb,
                "examples": self.static.examples()}

    def caption(self, environ):
        """``POST /api/caption`` (see the module docstring)."""
        start = time.perf_counter()
        images, fields = read_upload(environ, self.max_upload_bytes)
        try:
            settings = parse_caption_settings(fields, list(self.models))
            models = [self.models[name] for name in settings.models]
            configs = [m.decoding_config(settings.method, settings.overrides) for m in models]
        except ValueError as error:
            raise HttpError(400, str(error)) from None
        errors = [None] * len(images)
        inputs = self._preprocess(images, models, errors)
        jobs = self._submit(models, configs, inputs, settings.seed, errors)
        results = self._collect(jobs, images, start)
        body = {"images": [{"name": name, "error": error}
                           for (name, _), error in zip(images, errors)],
                "results": results, "models": [m.name for m in models],
                "decoding": settings.fields(),
                "timing_ms": (time.perf_counter() - start) * 1000.0}
        problems = [error for error in errors if error]
        if problems:
            body["error"] = "; ".join(problems)
        return (400 if problems else 200), body, None

    def _preprocess(self, images, models, errors):
        """model name -> one input per image (None where unreadable), preprocessing
        once per distinct preprocessor; ``errors`` gets each unreadable image's message."""
        by_policy, inputs = {}, {}
        for model in models:
            key = json.dumps(model.preprocessor.get_config(), sort_keys=True)
            if key not in by_policy:
                row = []
                for index, (name, data) in enumerate(images):
                    try:
                        row.append(model.preprocess(data, name))
                    except ValueError as error:
                        row.append(None)
                        errors[index] = errors[index] or str(error)
                by_policy[key] = row
            inputs[model.name] = by_policy[key]
        return inputs

    def _submit(self, models, configs, inputs, seed, errors):
        """``[(model, image index, future), ...]``, model by model."""
        jobs = []
        for model, config in zip(models, configs):
            readable = [(index, image) for index, image in enumerate(inputs[model.name])
                        if image is not None and not errors[index]]
            try:
                futures = model.submit_request([image for _, image in readable], config,
                                               seed)
            except BatcherFullError as error:
                raise HttpError(503, f"server busy: {error}") from None
            jobs += [(model, index, future)
                     for (index, _), future in zip(readable, futures)]
        return jobs

    def _collect(self, jobs, images, start):
        """The ``results`` entries, in image order then model order."""
        deadline = start + self.request_timeout_s
        entries = []
        finished = {}
        for model, index, future in jobs:
            try:
                out = future.result(timeout=max(0.0, deadline - time.perf_counter()))
            except FutureTimeout:
                raise HttpError(503, f"model {model.name} did not answer within "
                                     f"{self.request_timeout_s:g} s") from None
            entries.append({"image": index, "name": images[index][0], "model": model.name,
                            "captions": out["captions"],
                            "scores": [_finite(s) for s in out["scores"]]})
            finished[model.name] = max(finished.get(model.name, 0.0), out["finished"])
        order = {}
        for model, _, _ in jobs:
            order.setdefault(model.name, len(order))
        entries.sort(key=lambda e: (e["image"], order[e["model"]]))
        for entry in entries:
            entry["timing_ms"] = (finished[entry["model"]] - start) * 1000.0
        return entries
