"""Load test of the web demo: requests/s and latency with and without batching.

    python bench/serve_load.py [--model=pretrained_models/clipcap_shapes] [--requests=96]
                               [--concurrency=1,8,32] [--max_seconds=300] [--out=FILE]

For each mode (batching on, then ``--nobatching``) it starts ``python -m tfcaption.serve``
on a free 127.0.0.1 port, waits for ``/healthz`` to say every batch size is compiled, warms
every concurrency level once, then for each ``--concurrency`` C sends
``--requests`` POSTs of one image each (the shipped example images in turn) from C
client threads and records each request's latency. It prints one markdown table
(requests/s, p50 and p95 latency per mode and concurrency) and, with ``--out``, writes the
rows as JSON. Every request must answer 200 with a caption per model; the whole run stops
after ``--max_seconds`` (rows not reached are left out and named).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "unitest"))
from serve_client import free_port, post_images, wait_for_health  # noqa: E402

EXAMPLES = os.path.join(ROOT, "tfcaption", "web", "static", "examples")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


def fire(base, images, count, concurrency, deadline):
    """``(seconds, latencies)`` of ``count`` requests from ``concurrency`` threads."""
    def one(i):
        if time.monotonic() > deadline:
            raise TimeoutError("--max_seconds reached")
        name, data = images[i % len(images)]
        start = time.perf_counter()
        status, body = post_images(base, [(name, data)])
        if status != 200 or not all(r["captions"][0] for r in body["results"]):
            raise RuntimeError(f"request {i}: status {status}: {body}")
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, range(count)))
    return time.perf_counter() - start, latencies


def run_mode(args, batching, images, deadline):
    port = free_port()
    argv = [sys.executable, "-m", "tfcaption.serve", f"--port={port}",
            f"--threads={max(args.concurrency) + 4}"] + \
        [f"--model={m}" for m in args.model] + ([] if batching else ["--nobatching"])
    server = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    rows = []
    try:
        base = f"http://127.0.0.1:{port}"
        if not wait_for_health(base, timeout=max(1.0, deadline - time.monotonic()),
                               process=server, warm=True):
            raise RuntimeError(f"the server did not start: {server.poll()}")
        for concurrency in args.concurrency:
            fire(base, images, 2 * concurrency, concurrency, deadline)  # warm-up
            seconds, latencies = fire(base, images, args.requests, concurrency, deadline)
            rows.append({"batching": batching, "concurrency": concurrency,
                         "requests": len(latencies),
                         "requests_per_s": len(latencies) / seconds,
                         "p50_ms": 1000 * percentile(latencies, 50),
                         "p95_ms": 1000 * percentile(latencies, 95)})
            print(f"  batching={batching} concurrency={concurrency}: "
                  f"{rows[-1]['requests_per_s']:.1f} requests/s", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    return rows


def table(rows):
    lines = ["| batching | concurrency | requests | requests/s | p50 ms | p95 ms |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {'on' if r['batching'] else 'off'} | {r['concurrency']} | "
                     f"{r['requests']} | {r['requests_per_s']:.1f} | {r['p50_ms']:.0f} | "
                     f"{r['p95_ms']:.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append",
                        help="model dir (repeat; default pretrained_models/clipcap_shapes)")
    parser.add_argument("--requests", type=int, default=96, help="requests per row")
    parser.add_argument("--concurrency", default="1,8,32",
                        help="comma-separated client thread counts")
    parser.add_argument("--max_seconds", type=float, default=300, help="whole-run limit")
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()
    args.model = args.model or [os.path.join("pretrained_models", "clipcap_shapes")]
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    if args.requests < 1 or min(args.concurrency) < 1:
        parser.error("--requests and every --concurrency must be >= 1")
    images = []
    for path in sorted(glob.glob(os.path.join(EXAMPLES, "*.png"))):
        with open(path, "rb") as f:
            images.append((os.path.basename(path), f.read()))
    deadline = time.monotonic() + args.max_seconds
    rows, failed = [], []
    for batching in (True, False):
        try:
            rows += run_mode(args, batching, images, deadline)
        except (RuntimeError, TimeoutError) as error:
            failed.append(f"batching={batching}: {error}")
    print(table(rows))
    for problem in failed:
        print(f"not measured: {problem}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rows": rows, "failed": failed, "models": args.model}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
