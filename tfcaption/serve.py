"""Serves a web page and a JSON API that caption uploaded images with one or more models.

    python -m tfcaption.serve --model=pretrained_models/clipcap_shapes [--model=DIR ...]

Every ``--model`` is a captioner model dir of any family; the page shows their captions
side by side. Listens on 127.0.0.1:8000 unless ``--host`` / ``--port`` say otherwise,
with waitress (a production WSGI server). Concurrent requests with the same decoding
setting are decoded together, one batched call per model (``--max_batch_size``,
``--max_wait_ms``; ``--nobatching`` decodes each image alone). Uploads are read in
memory, never written to disk; ``--max_upload_mb`` bounds a request's body. The API is
described in :mod:`tfcaption.web.caption_app`.
"""

from tfcaption import console  # noqa: F401  (first: quiets TensorFlow before it loads)
from tfcaption import command

import os

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("model", None, "Captioner model dir; repeat to serve several "
                          "models side by side.")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every interface).")
flags.DEFINE_integer("port", 8000, "Port to listen on (0: any free port).")
flags.DEFINE_float("max_upload_mb", 10.0, "Largest request body accepted, in MB (413 "
                   "beyond).")
flags.DEFINE_bool("batching", True, "Decode concurrent requests together (one batched "
                  "call per model and decoding setting).")
flags.DEFINE_integer("max_batch_size", 32, "Most images per batched call.")
flags.DEFINE_float("max_wait_ms", 10.0, "How long a batch waits to fill once its first "
                   "image is queued.")
flags.DEFINE_integer("threads", 16, "Request threads of the server (concurrent requests "
                     "handled at once).")
flags.DEFINE_float("request_timeout_s", 120.0, "Longest a request waits for its captions "
                   "(503 beyond).")
flags.DEFINE_bool("warmup", True, "Compile greedy decoding of every model before "
                  "serving, so the first request does not wait for it.")


def model_names(model_dirs):
    """A unique name per model dir: its last path component (``-2``, ``-3``, ... added
    to repeats)."""
    names, seen = [], {}
    for model_dir in model_dirs:
        base = os.path.basename(os.path.normpath(model_dir)) or "model"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def load_models(model_dirs, batching=True, max_batch_size=32, max_wait_ms=10.0):
    """``ServedModel`` per model dir (``ValueError`` / ``OSError`` naming a bad dir)."""
    from tfcaption.models.load_captioner import load_captioner
    from tfcaption.web.served_model import ServedModel

    if int(max_batch_size) < 1:
        raise ValueError(f"--max_batch_size must be >= 1, got {max_batch_size}")
    if not max_wait_ms >= 0:
        raise ValueError(f"--max_wait_ms must be >= 0, got {max_wait_ms}")
    return [ServedModel(name, model_dir, load_captioner(model_dir), batching=batching,
                        max_batch_size=max_batch_size, max_wait_s=max_wait_ms / 1000.0)
            for name, model_dir in zip(model_names(model_dirs), model_dirs)]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])} (give model "
                             f"dirs with --model)")
    if FLAGS.threads < 1:
        raise app.UsageError(f"--threads must be >= 1, got {FLAGS.threads}")
    if not FLAGS.max_upload_mb > 0:
        raise app.UsageError(f"--max_upload_mb must be > 0, got {FLAGS.max_upload_mb}")
    from tfcaption.web.caption_app import CaptionApp
    from tfcaption.web.waitress_server import create_server

    models = load_models(FLAGS.model, FLAGS.batching, FLAGS.max_batch_size,
                         FLAGS.max_wait_ms)
    for model in models:
        if FLAGS.warmup:
            model.warm_up()  # batch size 1 before serving; larger ones while serving
            model.warm_up_in_background()
        else:
            model.warm.set()
    wsgi_app = CaptionApp(models, FLAGS.max_upload_mb, FLAGS.request_timeout_s)
    server = create_server(wsgi_app, FLAGS.host, FLAGS.port, FLAGS.threads,
                           FLAGS.max_upload_mb)
    host, port = server.effective_host, server.effective_port
    shown = f"[{host}]" if ":" in str(host) else host
    print(f"Serving {', '.join(m.name for m in models)} on http://{shown}:{port}/ "
          f"(Ctrl-C stops)", flush=True)
    try:
        server.run()
    finally:
        server.close()
        for model in models:
            model.close()
    return 0


def run():
    flags.mark_flags_as_required(["model"])
    command.run(main)


if __name__ == "__main__":
    run()
