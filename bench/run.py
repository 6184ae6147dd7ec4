"""Every benchmark against the PyTorch references, one table.

    python bench/run.py [--only=clipcap_decode,cgtgan_step] [--runs=5] [--threads=0]
                        [--device=cpu|gpu] [--out=bench/results.json]

Each benchmark builds tfcaption and the reference at the real sizes with the same random
weights, times both in this process on the same inputs (first call reported apart as the
compile time; then ``--runs`` timed calls), and adds rows to one markdown table: our
median, the reference's median (± half the min-max spread), their ratio against the
target, our throughput and model FLOP utilisation (FLOPs per call ÷ time ÷ the matmul
peak measured at start), and correctness checks. Every run is written to ``--out``.

``--device=gpu`` runs both sides on the first GPU with bfloat16 mixed precision
(``mixed_bfloat16`` for tfcaption, ``torch.autocast(bfloat16)`` for the reference).
"""

import argparse
import importlib
import json
import os
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)

BENCHMARKS = ("clip_encode", "clipcap_decode", "clipcap_train_step", "cgtgan_step",
              "data_pipeline")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--runs", type=int, default=5, help="timed calls per side (>= 1)")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for both frameworks (0: every core)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--out", default=os.path.join(BENCH, "results.json"))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only.split(",")) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {list(BENCHMARKS)}")
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    return args


def configure(args):
    """Threads and device for both frameworks, before either builds anything."""
    threads = args.threads or os.cpu_count()
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


def main(argv=None):
    args = parse_args(argv)
    threads = configure(args)
    import harness

    ctx = harness.Context(runs=args.runs, device=args.device,
                          precision="bfloat16" if args.device == "gpu" else "float32",
                          threads=threads)
    peak = harness.matmul_peak(ctx)
    header = (f"{args.device}, {ctx.precision}, {threads} threads for TensorFlow (intra-op) "
              f"and PyTorch; {args.runs} timed runs per side after one untimed first call; "
              f"measured matmul peak {peak / 1e9:.0f} GFLOP/s")
    print(header, flush=True)
    rows, durations = [], {}
    for name in args.only.split(","):
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        module = importlib.import_module(name)
        new = module.run(ctx)
        durations[name] = time.perf_counter() - start
        print(harness.markdown_table(new, peak), flush=True)
        rows += new
    table = harness.markdown_table(rows, peak)
    print("\n" + header + "\n\n" + table)
    result = {"command": " ".join(["python", "bench/run.py"] + sys.argv[1:]),
              "machine": harness.machine(), "threads": threads, "device": args.device,
              "precision": ctx.precision, "runs": args.runs, "matmul_peak_flops": peak,
              "header": header,
              "seconds_per_benchmark": durations, "rows": rows, "table": table}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
