"""The web demo's JSON API, served by waitress in a thread, with the two shipped models
of two families side by side."""

import glob
import io
import os
import socket
import tempfile
import threading

import numpy as np
import pytest
from PIL import Image
from serve_client import TIMEOUT, multipart, post_images, request, running_server

from tfcaption.web.caption_app import CaptionApp
from tfcaption.web.served_model import ServedModel

MAX_UPLOAD_MB = 1.0


@pytest.fixture(scope="module")
def captioners(shipped_captioners):
    return {name: captioner for name, (_, captioner) in shipped_captioners.items()}


@pytest.fixture(scope="module")
def served(shipped_captioners):
    """``(base URL, {name: ServedModel})`` of a server with both models, batching on."""
    models = {name: ServedModel(name, path, c, max_batch_size=32, max_wait_s=0.01)
              for name, (path, c) in shipped_captioners.items()}
    app = CaptionApp(list(models.values()), max_upload_mb=MAX_UPLOAD_MB)
    with running_server(app, max_upload_mb=MAX_UPLOAD_MB, threads=64) as base:
        yield base, models
    for model in models.values():
        model.close()


@pytest.fixture(scope="module")
def base(served):
    return served[0]


@pytest.fixture(scope="module")
def image_paths(shapes_dir):
    return sorted(glob.glob(os.path.join(shapes_dir, "images", "*", "*.jpg")))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def expected(captioner, path, decoding="greedy", **overrides):
    out = captioner.generate([path], decoding, return_scores=True, **overrides)
    captions = out["captions"][0]
    return ([captions] if isinstance(captions, str) else list(captions)), \
        [float(s) for s in out["scores"][0]]


def test_healthz_and_models(base):
    assert request(f"{base}/healthz") == (200, {"status": "ok", "warm": False,  # no warm-up
                                               "models": ["clipcap_shapes", "wgan_shapes"]})
    status, body = request(f"{base}/api/models")
    assert status == 200
    assert [(m["name"], m["model_type"]) for m in body["models"]] == [
        ("clipcap_shapes", "clipcap"), ("wgan_shapes", "wgan_gru")]
    for model in body["models"]:
        assert model["preprocessing"]["policy"] in ("clip", "imagenet", "raw")
        assert model["default_decoding"]["method"] == "greedy"
        assert model["batching"]["enabled"] and model["batching"]["max_batch_size"] == 32
    assert {"greedy", "beam", "top_p"} <= set(body["decoding_methods"])
    assert body["max_upload_mb"] == MAX_UPLOAD_MB and len(body["examples"]) >= 3


def test_page_and_its_files_are_served_and_nothing_else(base):
    status, page = request(f"{base}/")
    assert status == 200 and b"/static/app.js" in page and b"file-input" in page
    assert b"http" not in page.replace(b"http-equiv", b"")  # no external resource
    for path in ("/static/app.js", "/static/style.css"):
        status, data = request(base + path)
        assert status == 200 and data and b"//cdn" not in data
    for url in request(f"{base}/api/models")[1]["examples"]:
        status, data = request(base + url)
        assert status == 200 and data.startswith(b"\x89PNG")
    for path in ("/static/../serve.py", "/static/%2e%2e/serve.py", "/etc/passwd",
                 "/static/"):
        assert request(base + path)[0] == 404, path
    assert request(f"{base}/api/caption")[0] == 405


def test_two_models_side_by_side_equal_generate(base, captioners, image_paths):
    path = image_paths[0]
    status, body = post_images(base, [("a.jpg", read(path))])
    assert status == 200, body
    assert body["images"] == [{"name": "a.jpg", "error": None}]
    assert [r["model"] for r in body["results"]] == ["clipcap_shapes", "wgan_shapes"]
    for result in body["results"]:
        captions, scores = expected(captioners[result["model"]], path)
        assert result["captions"] == captions and result["image"] == 0
        np.testing.assert_allclose(result["scores"], scores, rtol=1e-4, atol=1e-4)
        assert 0 < result["timing_ms"] <= body["timing_ms"]
    assert body["decoding"] == {"decoding": "greedy", "seed": 0}


def test_raw_bytes_body_and_one_model_with_beam(base, captioners, image_paths):
    path = image_paths[1]
    status, body = request(f"{base}/api/caption?model=clipcap_shapes&decoding=beam"
                           f"&beam_size=3&num_captions=2", read(path), "image/jpeg")
    assert status == 200, body
    result, = body["results"]
    captions, scores = expected(captioners["clipcap_shapes"], path, "beam", beam_size=3,
                                num_return_sequences=2)
    assert result["model"] == "clipcap_shapes" and result["captions"] == captions
    np.testing.assert_allclose(result["scores"], scores, rtol=1e-4, atol=1e-4)
    # settings as form fields work the same
    status, again = post_images(base, [("b.jpg", read(path))],
                                {"model": "clipcap_shapes", "decoding": "beam",
                                 "beam_size": "3", "num_captions": "2"})
    assert status == 200 and again["results"][0]["captions"] == captions


def test_nucleus_sampling_gives_the_asked_number_of_captions(base, image_paths):
    status, body = post_images(base, [("c.jpg", read(image_paths[2]))],
                               {"decoding": "top_p", "top_p": "0.8", "temperature": "0.7",
                                "num_captions": "3", "seed": "5"})
    assert status == 200, body
    assert all(len(r["captions"]) == 3 == len(r["scores"]) for r in body["results"])
    assert body["decoding"] == {"decoding": "top_p", "top_p": 0.8, "temperature": 0.7,
                                "num_captions": 3, "seed": 5}


def test_sampled_captions_do_not_depend_on_other_requests(base, captioners, image_paths):
    """A sampling request is decoded on its own, its images together in order: the same
    captions as generate (the caption command) with that seed, alone or under load."""
    paths = image_paths[4:7]
    fields = {"decoding": "top_p", "top_p": "0.95", "temperature": "1.5", "seed": "3"}
    want = {name: c.generate(paths, "top_p", top_p=0.95, temperature=1.5, seed=3)
            for name, c in captioners.items()}
    answers, barrier = {}, threading.Barrier(8)

    def client(i):  # client 0 sends the three images; the others send one other image
        barrier.wait(TIMEOUT)
        files = [(f"{k}.jpg", read(p)) for k, p in enumerate(paths)] if i == 0 else \
            [("other.jpg", read(image_paths[10 + i]))]
        answers[i] = post_images(base, files, fields)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    alone = post_images(base, [(f"{k}.jpg", read(p)) for k, p in enumerate(paths)], fields)
    for status, body in (answers[0], alone):
        assert status == 200, body
        for result in body["results"]:
            assert result["captions"] == [want[result["model"]][result["image"]]], result


def test_corrupt_and_text_uploads_fail_alone(base, captioners, image_paths):
    good = read(image_paths[3])
    files = [("notes.txt", b"just some text\n"), ("good.jpg", good),
             ("broken.jpg", good[:200]), ("empty.png", b"")]
    status, body = post_images(base, files)
    assert status == 400
    errors = [image["error"] for image in body["images"]]
    assert errors[1] is None
    assert errors[0].startswith("notes.txt: not a readable image (")
    assert errors[2].startswith("broken.jpg: not a readable image (")
    assert errors[3] == "empty.png: not a readable image (empty file)"
    for message in (errors[0], errors[2], errors[3]):
        assert message in body["error"]
    assert [(r["image"], r["model"]) for r in body["results"]] == [
        (1, "clipcap_shapes"), (1, "wgan_shapes")]
    for result in body["results"]:
        assert result["captions"] == expected(captioners[result["model"]], image_paths[3])[0]


def test_a_single_bad_upload_is_400(base):
    status, body = request(f"{base}/api/caption", b"not an image", "text/plain")
    assert status == 400 and body["results"] == []
    assert body["error"].startswith("image 1: not a readable image (")


def test_filenames_are_labels_only(base, image_paths):
    status, body = post_images(base, [("../../etc/passwd\x07", read(image_paths[4]))])
    assert status == 200 and body["images"][0]["name"] == "passwd"


@pytest.mark.parametrize("query, message", [
    ("?model=nope", "unknown model 'nope'; loaded models: clipcap_shapes, wgan_shapes"),
    ("?decoding=fast", "decoding must be one of"),
    ("?top_p=2&decoding=top_p", "top_p must be in (0, 1], got 2.0"),
    ("?beam_size=abc&decoding=beam", "beam_size must be an integer, got 'abc'"),
    ("?temperature=0&decoding=top_p", "temperature must be > 0"),
    ("?num_captions=2", "num_captions must be 1 for method 'greedy'"),
    ("?colour=red", "unknown field 'colour'"),
    ("?max_length=5000&model=clipcap_shapes", "model clipcap_shapes: max_length 5000"),
])
def test_bad_settings_are_400_naming_the_value(base, image_paths, query, message):
    status, body = request(f"{base}/api/caption{query}", read(image_paths[0]), "image/jpeg")
    assert status == 400 and message in body["error"], body


def test_empty_requests_are_400(base):
    for body, kind in ((b"", "image/jpeg"), multipart([], {"decoding": "greedy"})):
        status, answer = request(f"{base}/api/caption", body, kind)
        assert status == 400 and answer["error"].startswith("no image in the request")


def test_oversize_uploads_are_413(base):
    limit = int(MAX_UPLOAD_MB * 2 ** 20)
    status, body = request(f"{base}/api/caption", b"\xff" * (limit + 10), "image/jpeg")
    assert status == 413 and "over the 1 MB limit" in body["error"]
    files = [(f"{i}.png", os.urandom(limit // 3 + 10_000)) for i in range(3)]
    status, body = post_images(base, files)
    assert status == 413 and "over the 1 MB limit" in body["error"]
    # far over: refused from the headers, before any of the body is read
    host, port = base[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as connection:
        connection.sendall(f"POST /api/caption HTTP/1.1\r\nHost: {host}\r\n"
                           f"Content-Type: image/jpeg\r\nContent-Length: {100 * limit}"
                           f"\r\n\r\n".encode())
        assert connection.recv(4096).startswith(b"HTTP/1.1 413 ")


def test_uploads_are_never_written_to_disk(base, monkeypatch):
    """A 900 KB PNG (over werkzeug's and waitress's default in-memory sizes) is read
    with every temporary-file maker of the process failing."""
    def refuse(*args, **kwargs):
        raise AssertionError("an upload went to a temporary file")

    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile",
                 "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    noise = np.random.default_rng(0).integers(0, 256, (560, 560, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    assert 700_000 < len(buffer.getvalue()) < MAX_UPLOAD_MB * 2 ** 20
    status, body = post_images(base, [("noise.png", buffer.getvalue())])
    assert status == 200, body
    assert all(r["captions"][0] for r in body["results"])


def test_50_concurrent_requests_are_batched_and_never_mixed_up(served, captioners,
                                                               image_paths):
    base, models = served
    paths = image_paths[:50]
    assert len(paths) == 50
    want = {name: [expected(c, p)[0] for p in paths] for name, c in captioners.items()}
    before = {name: sum(m.batcher.batch_sizes.values()) for name, m in models.items()}
    answers, barrier = {}, threading.Barrier(len(paths))

    def client(i):
        barrier.wait(TIMEOUT)
        answers[i] = post_images(base, [(f"img{i}.jpg", read(paths[i]))])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(paths))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert sorted(answers) == list(range(50))
    for i, (status, body) in answers.items():
        assert status == 200, body
        assert body["images"][0]["name"] == f"img{i}.jpg"
        for result in body["results"]:
            assert result["captions"] == want[result["model"]][i], (i, result)
    for name, model in models.items():
        calls = sum(model.batcher.batch_sizes.values()) - before[name]
        assert calls < 50, (name, model.batcher.batch_sizes)  # requests were grouped


def test_background_warm_up_compiles_every_batch_size_then_reports_warm(shipped_captioners):
    path, captioner = shipped_captioners["wgan_shapes"]
    calls = []
    model = ServedModel("wgan_shapes", path, captioner, max_batch_size=4)
    process = model._process
    model._process = lambda key, images: calls.append(len(images)) or process(key, images)
    app = CaptionApp([model], max_upload_mb=MAX_UPLOAD_MB)
    try:
        with running_server(app, max_upload_mb=MAX_UPLOAD_MB, threads=4) as base:
            assert model.warm_up() >= 0 and calls == [1]
            model.warm_up_in_background()
            assert model.warm.wait(TIMEOUT)
            assert calls == [1, 2, 4] and model.buckets == [1, 2, 4]
            assert request(f"{base}/healthz")[1]["warm"] is True
    finally:
        model.close()
