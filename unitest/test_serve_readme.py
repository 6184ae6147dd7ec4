"""The README's web demo commands: the serve command as written (on a free port), waited
for on /healthz, then the curl call of the API against it."""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys

from readme_sections import section_commands
from serve_client import free_port, request, wait_for_health

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def web_demo_commands():
    return section_commands("Web demo")


def test_serve_command_answers_the_curl_example(tmp_path):
    serve, curl = [c for c in web_demo_commands() if not c.startswith("python bench/")]
    assert serve.startswith("python -m tfcaption.serve ") and curl.startswith("curl ")
    assert "127.0.0.1:8000" in curl and shutil.which("curl"), "curl is needed"
    port = free_port()
    argv = [sys.executable] + shlex.split(serve)[1:] + [f"--port={port}"]  # last one wins
    log = open(tmp_path / "serve.log", "w+")
    process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    try:
        base = f"http://127.0.0.1:{port}"
        up = wait_for_health(base, timeout=300, process=process)
        log.seek(0)
        printed = log.read()
        assert up, printed[-3000:]
        assert f"Serving clipcap_shapes, show_tell_shapes on {base}/" in printed
        res = subprocess.run(shlex.split(curl.replace("127.0.0.1:8000", f"127.0.0.1:{port}")),
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        body = json.loads(res.stdout)
        assert body["images"] == [{"name": "two_squares.png", "error": None}]
        assert [r["model"] for r in body["results"]] == ["clipcap_shapes", "show_tell_shapes"]
        assert body["decoding"] == {"decoding": "beam", "beam_size": 3, "seed": 0}
        for result in body["results"]:  # the example shows two squares
            caption, = result["captions"]
            assert "square" in caption and len(caption.split()) >= 3, result
        assert request(f"{base}/api/models")[1]["models"][0]["name"] == "clipcap_shapes"
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
        log.close()
    assert process.returncode in (0, 130), open(tmp_path / "serve.log").read()[-3000:]


def test_a_bad_model_dir_is_one_error_line(tmp_path):
    res = subprocess.run([sys.executable, "-m", "tfcaption.serve",
                          f"--model={tmp_path / 'missing'}", f"--port={free_port()}"],
                         capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in os.environ.items()
                              if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert res.returncode == 1
    assert res.stderr.strip() == f"error: model dir not found: {tmp_path / 'missing'}"
