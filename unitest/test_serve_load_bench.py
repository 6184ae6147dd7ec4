"""The README's bench/serve_load.py command on a few requests (later flags win): both
modes measured, every request answered."""

import json
import shlex
import subprocess
import sys

from test_serve_readme import ROOT, web_demo_commands


def test_serve_load_bench_measures_both_modes(tmp_path):
    cmd, = [c for c in web_demo_commands() if c.startswith("python bench/serve_load.py")]
    out = tmp_path / "serve_load.json"
    argv = [sys.executable] + shlex.split(cmd)[1:] + [
        "--requests=6", "--concurrency=1,3", "--max_seconds=240", f"--out={out}"]
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["failed"] == []
    assert [(r["batching"], r["concurrency"]) for r in result["rows"]] == [
        (True, 1), (True, 3), (False, 1), (False, 3)]
    for row in result["rows"]:
        assert row["requests"] == 6 and row["requests_per_s"] > 0
        assert 0 < row["p50_ms"] <= row["p95_ms"]
    assert "| batching | concurrency | requests | requests/s | p50 ms | p95 ms |" in res.stdout
