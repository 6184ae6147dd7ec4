"""Every benchmark against the PyTorch references, one table.

    python bench/run.py [--only=clipcap_decode,cgtgan_step] [--runs=5] [--threads=0]
                        [--device=cpu|gpu] [--smoke] [--out=bench/results.json]

Each benchmark builds tfcaption and the reference at the real sizes with the same random
weights, times both in one process on the same inputs (first call reported apart as the
compile time; then ``--runs`` timed calls), and adds rows to one markdown table: our
median, the reference's median (± half the min-max spread), their ratio against the
target, our throughput and model FLOP utilisation (FLOPs per call ÷ time ÷ the matmul
peak measured at start), and correctness checks. Every run is written to ``--out``.

Each benchmark (and the matmul peak) runs in a process of its own, so that one
benchmark's models, compiled functions and allocator pools are gone before the next one
starts: the peak memory of the whole run is that of its largest benchmark. A benchmark
whose process fails is named with its exit status; the others still run and are written,
and the command exits with status 1.

``--device=gpu`` runs both sides on the first GPU with bfloat16 mixed precision
(``mixed_bfloat16`` for tfcaption, ``torch.autocast(bfloat16)`` for the reference).

``--smoke`` runs every benchmark, with the same code, conversions and correctness checks,
on tiny models (``sizes.py``) with one timed run per side (``--runs``) and one thread
(``--threads``): a check that everything works and agrees, in a few minutes. The table's
header and the JSON (``"smoke": true``) say so; its timings say nothing about the real
sizes.
"""

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import harness  # noqa: E402

BENCHMARKS = ("clip_encode", "clipcap_decode", "clipcap_train_step", "cgtgan_step",
              "vit_gpt2_decode", "pix2struct", "data_pipeline", "attend_gan")
PEAK = "matmul_peak"
SMOKE_THREADS = 1  # tiny models gain nothing from more, and a smoke run often has neighbours


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--runs", type=int, default=None,
                        help=f"timed calls per side, >= 1 (default {harness.RUNS}; "
                             f"{harness.SMOKE_RUNS} with --smoke)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both frameworks (0, the default: every core; "
                             f"{SMOKE_THREADS} with --smoke)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny models, one timed run: the same code and checks in minutes")
    parser.add_argument("--out", default=os.path.join(BENCH, "results.json"))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker_out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs is None:
        args.runs = harness.default_runs(args.smoke)
    if args.threads is None:
        args.threads = SMOKE_THREADS if args.smoke else 0
    unknown = sorted(set(args.only.split(",")) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    if args.worker is not None and args.worker not in BENCHMARKS + (PEAK,):
        parser.error(f"unknown worker {args.worker!r}")
    return args


def configure(args):
    """Threads and device for both frameworks, before either builds anything."""
    threads = threads_of(args)
    import tensorflow as tf
    import torch

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    torch.set_num_threads(threads)
    if args.device == "gpu":
        if not tf.config.list_physical_devices("GPU"):
            sys.exit("--device=gpu: TensorFlow sees no GPU (install tensorflow[and-cuda])")
        if not torch.cuda.is_available():
            sys.exit("--device=gpu: PyTorch sees no CUDA device")
        import keras
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    return threads


def threads_of(args):
    return args.threads or os.cpu_count()


def precision_of(args):
    return "bfloat16" if args.device == "gpu" else "float32"


def worker(args):
    """The child process: the matmul peak or one benchmark's rows, as JSON."""
    threads = configure(args)
    ctx = harness.Context(runs=args.runs, device=args.device, precision=precision_of(args),
                          threads=threads, smoke=args.smoke)
    if args.worker == PEAK:
        result = {"matmul_peak_flops": harness.matmul_peak(ctx), "machine": harness.machine()}
    else:
        result = {"rows": importlib.import_module(args.worker).run(ctx)}
    tmp = args.worker_out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, args.worker_out)


def in_child(name, args, scratch):
    """Runs ``name`` in a child process (its output goes straight to ours); returns its
    JSON result, or ``None`` with the exit status printed when the child failed."""
    out = os.path.join(scratch, f"{name}.json")
    argv = [sys.executable, os.path.abspath(__file__), f"--worker={name}",
            f"--worker_out={out}", f"--runs={args.runs}", f"--threads={args.threads}",
            f"--device={args.device}"] + (["--smoke"] if args.smoke else [])
    status = subprocess.run(argv).returncode
    if status != 0 or not os.path.exists(out):
        print(f"{name} FAILED: its process exited with status {status}"
              + (" (killed: out of memory?)" if status == -9 else ""), flush=True)
        return None
    with open(out) as f:
        return json.load(f)


def header_of(args, peak):
    smoke = "SMOKE RUN (tiny models; not timings of the real sizes): " if args.smoke else ""
    runs = f"{args.runs} timed run{'s' * (args.runs != 1)}"
    return (f"{smoke}{args.device}, {precision_of(args)}, {threads_of(args)} threads for "
            f"TensorFlow (intra-op) and PyTorch; {runs} per side after one untimed first "
            f"call; measured matmul peak {peak / 1e9:.0f} GFLOP/s")


def run_all(args, peak, scratch):
    """Each of ``--only`` in its own process, its table printed as it ends."""
    print(header_of(args, peak), flush=True)
    rows, durations, failed = [], {}, []
    for name in args.only.split(","):
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        result = in_child(name, args, scratch)
        durations[name] = time.perf_counter() - start
        if result is None:
            failed.append(name)
            continue
        print(harness.markdown_table(result["rows"], peak), flush=True)
        rows += result["rows"]
    return rows, durations, failed


def write_results(args, peak_result, rows, durations, failed):
    """The whole table printed, every run written to ``--out`` (atomically); exits 1 when a
    benchmark failed."""
    peak = peak_result["matmul_peak_flops"]
    header = header_of(args, peak)
    table = harness.markdown_table(rows, peak)
    print("\n" + header + "\n\n" + table)
    result = {"command": " ".join(["python", "bench/run.py"] + sys.argv[1:]),
              "machine": peak_result["machine"], "threads": threads_of(args),
              "device": args.device, "precision": precision_of(args), "runs": args.runs,
              "smoke": args.smoke, "sizes": harness.sizes.sizes_of(args.smoke).asdict(),
              "matmul_peak_flops": peak,
              "header": header, "seconds_per_benchmark": durations, "failed": failed,
              "rows": rows, "table": table}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)} (the others are in {args.out})")


def main(argv=None):
    args = parse_args(argv)
    if args.worker is not None:
        return worker(args)
    with tempfile.TemporaryDirectory(prefix="bench_run") as scratch:
        peak_result = in_child(PEAK, args, scratch)
        if peak_result is None:
            sys.exit("the matmul peak could not be measured")
        rows, durations, failed = run_all(args, peak_result["matmul_peak_flops"], scratch)
    write_results(args, peak_result, rows, durations, failed)


if __name__ == "__main__":
    main()
