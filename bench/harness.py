"""Timing and reporting shared by every benchmark in ``bench/``.

A benchmark module exposes ``run(ctx) -> list of rows`` where each row comes from
:func:`row`: one piece of work timed for tfcaption ("ours") and for the reference, both
measured by :meth:`Context.time` in the same process on the same inputs.
"""

import dataclasses
import os
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sizes  # noqa: E402

RUNS = 5  # timed calls per side
SMOKE_RUNS = 1


def default_runs(smoke):
    return SMOKE_RUNS if smoke else RUNS


def summarise(first_call_s, runs_s):
    """Timing dict: first call (compilation included), every timed run, median, spread."""
    runs_s = [float(t) for t in runs_s]
    ordered = sorted(runs_s)
    return {"first_call_s": None if first_call_s is None else float(first_call_s),
            "runs_s": runs_s, "median_s": statistics.median(runs_s),
            "min_s": ordered[0], "max_s": ordered[-1],
            "spread": (ordered[-1] - ordered[0]) / statistics.median(runs_s)}


@dataclasses.dataclass
class Context:
    """What every benchmark gets: run count, device, threads, model sizes and a scratch
    directory.

    ``device`` is ``"cpu"`` or ``"gpu"``; ``precision`` is ``"float32"`` or
    ``"bfloat16"`` (the ``--device=gpu`` default); ``smoke`` builds the tiny models of
    :data:`sizes.SMOKE` instead of the real ones.
    """

    runs: int = RUNS
    warmup: int = 1
    device: str = "cpu"
    precision: str = "float32"
    threads: int = 0
    scratch: str = dataclasses.field(default_factory=lambda: tempfile.mkdtemp(prefix="bench"))
    smoke: bool = False

    @property
    def sizes(self):
        return sizes.sizes_of(self.smoke)

    def time(self, fn, runs=None, warmup=None, sync=None):
        """Calls ``fn()`` once (the first call: tracing and compilation), ``warmup - 1``
        more untimed times, then ``runs`` timed times. ``sync(result)`` (e.g. pulling a
        tensor to the host) is included in every timing."""
        runs = self.runs if runs is None else runs
        warmup = self.warmup if warmup is None else warmup

        def once():
            start = time.perf_counter()
            result = fn()
            if sync is not None:
                sync(result)
            return time.perf_counter() - start, result

        first, result = once()
        for _ in range(max(0, warmup - 1)):
            once()
        times = [once()[0] for _ in range(runs)]
        return summarise(first, times), result

    @property
    def torch_device(self):
        return "cuda" if self.device == "gpu" else "cpu"

    def autocast(self):
        """The reference's precision context: bfloat16 autocast on GPU, nothing on CPU."""
        import contextlib

        import torch

        if self.device == "gpu":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def path(self, *parts):
        path = os.path.join(self.scratch, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path


def row(name, work, ours, reference, target=None, items=None, unit="captions",
        checks=None, notes=None, flops=None):
    """One table row: ``ours`` / ``reference`` are :func:`summarise` dicts (or None when a
    side is not measured); ``target`` is the largest acceptable ours ÷ reference ratio
    (``1/20`` for "20x faster"); ``items`` per call gives items/s; ``checks`` holds
    correctness facts (e.g. token agreement with the reference); ``flops`` per call gives
    the achieved FLOP rate."""
    ratio = None
    if ours is not None and reference is not None:
        ratio = ours["median_s"] / reference["median_s"]
    out = {"name": name, "work": work, "ours": ours, "reference": reference, "ratio": ratio,
           "target": target, "items": items, "unit": unit, "checks": checks or {},
           "notes": notes or "", "flops": flops}
    out["meets_target"] = None if ratio is None or target is None else ratio <= target
    return out


def matmul_peak(ctx, size=2048, runs=5):
    """The best FLOP rate of a ``size``-cubed TensorFlow matmul in ``ctx.precision`` on
    ``ctx.device``: the denominator of the model FLOP utilisation column."""
    import tensorflow as tf

    with tf.device("/GPU:0" if ctx.device == "gpu" else "/CPU:0"):
        a = tf.random.normal([size, size], dtype=tf.float32)
        a = tf.cast(a, ctx.precision)
        product = tf.function(lambda x: tf.matmul(x, x))
        product(a).numpy()
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter()
            product(a).numpy()
            best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def standalone(run, add_options=None):
    """``main()`` of a benchmark module run on its own: ``--runs``, ``--smoke``, every
    core for both frameworks, then the table and each row's timed runs and checks.
    ``add_options(parser)``, when given, adds the module's own flags and returns a function
    from the parsed arguments to ``run``'s keyword arguments."""
    import argparse

    import torch

    doc = (sys.modules[run.__module__].__doc__ or "").strip()
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] or None)
    parser.add_argument("--runs", type=int, default=None,
                        help=f"timed calls per side (default {RUNS}; {SMOKE_RUNS} with --smoke)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny models (bench/sizes.py): the same work and checks in "
                             "under a minute")
    kwargs_of = add_options(parser) if add_options else (lambda args: {})
    args = parser.parse_args()
    runs = default_runs(args.smoke) if args.runs is None else args.runs
    if runs < 1:
        parser.error("--runs must be >= 1")
    torch.set_num_threads(os.cpu_count())
    rows = run(Context(runs=runs, smoke=args.smoke), **kwargs_of(args))
    print(markdown_table(rows))
    for r in rows:
        rates = ""
        if r["flops"]:
            rates = "; " + ", ".join(f"{side} {r['flops'] / r[side]['median_s'] / 1e9:.1f} "
                                     f"GFLOP/s" for side in ("ours", "reference"))
        print(f"{r['name']}: first call ours {r['ours']['first_call_s']:.2f} s, reference "
              f"{r['reference']['first_call_s']:.2f} s; runs ours "
              f"{[round(t, 3) for t in r['ours']['runs_s']]}, reference "
              f"{[round(t, 3) for t in r['reference']['runs_s']]}{rates}")
        print(f"  checks: {r['checks']}")


def machine():
    """What the numbers were measured on."""
    import tensorflow as tf
    import torch

    return {"platform": platform.platform(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "torch": torch.__version__,
            "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "torch_threads": torch.get_num_threads(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}


def _seconds(timing):
    if timing is None:
        return "—"
    t = timing["median_s"]
    text = f"{t * 1000:.1f} ms" if t < 1 else f"{t:.2f} s"
    return f"{text} (±{timing['spread'] * 50:.0f}%)"


def _ratio(r):
    if r["ratio"] is None:
        return "—"
    text = f"{r['ratio']:.2f}"
    if r["target"] is not None:
        target = (f"≤ {r['target']:.2f}" if r["target"] >= 0.1
                  else f"≤ 1/{round(1 / r['target'])}")
        text += f" ({target} {'✓' if r['meets_target'] else '✗'})"
    return text


def markdown_table(rows, peak_flops=None):
    """The table: work, our time, reference time, ratio (target), our throughput, our
    model FLOP utilisation (``flops`` per call ÷ time ÷ ``peak_flops``), checks."""
    lines = ["| work | ours | reference | ours ÷ ref (target) | ours throughput | MFU | "
             "first call ours / ref | checks |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rate = mfu = "—"
        if r["items"] and r["ours"]:
            rate = f"{r['items'] / r['ours']['median_s']:.1f} {r['unit']}/s"
        if r["flops"] and r["ours"] and peak_flops:
            mfu = f"{r['flops'] / r['ours']['median_s'] / peak_flops:.0%}"
        checks = ", ".join(f"{k} {v}" for k, v in r["checks"].items()).replace("|", "\\|")
        checks = checks or "—"
        first = " / ".join("—" if t is None else f"{t['first_call_s']:.1f} s"
                           for t in (r["ours"], r["reference"]))
        lines.append(f"| {r['work']} | {_seconds(r['ours'])} | {_seconds(r['reference'])} | "
                     f"{_ratio(r)} | {rate} | {mfu} | {first} | {checks} |")
    return "\n".join(lines)
