"""The checks every captioner family passes (the captioner contract), as one helper.

``run_family_conformance(family_name, model_dir, shapes_dir, work_dir)`` takes a tiny model
dir of the family (random weights are fine; it must have an image encoder) and checks:

1. ``load_captioner`` dispatches to the registered family, and the model dir round-trips:
   saved again by the family's saver, it reloads with the same config and captions;
2. the model's Keras config round-trips (``from_config(get_config())``);
3. batch invariance: the captions of a batch are the captions of its images one by one;
4. greedy decoding equals beam search with one beam (captions and scores);
5. ``python -m tfcaption.caption`` on image files with one corrupt file: one error line
   naming it, exit status 1, the others captioned as the Python API captions them;
6. ``python -m tfcaption.evaluate`` on the tiny test split writes metrics and one
   prediction per image, equal to the API's captions;
7. ``python -m tfcaption.export``, reloaded in a process where only TensorFlow can be
   imported, gives the CLI's captions, and ``""`` / ``-inf`` for the corrupt image.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
from test_export import RELOAD

from tfcaption.data.captions_file import read_captions_jsonl
from tfcaption.models.families import families
from tfcaption.models.load_captioner import load_captioner, model_dir_family

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _run(args, cwd):
    return subprocess.run([sys.executable, "-m"] + args, cwd=cwd, capture_output=True,
                          text=True, timeout=600, env=ENV)


def _test_images(shapes_dir, count=4):
    records = read_captions_jsonl(os.path.join(shapes_dir, "captions.jsonl"), "test")
    return [os.path.join(shapes_dir, r["image"]) for r in records[:count]]


def run_family_conformance(family_name, model_dir, shapes_dir, work_dir):
    """Runs every check of the module doc; fails with the first broken one."""
    work_dir = str(work_dir)
    family, = [f for f in families() if f.name == family_name]

    # 1. dispatch and model-dir round trip
    assert model_dir_family(model_dir) is not None
    assert model_dir_family(model_dir).name == family_name
    captioner = load_captioner(model_dir, jit_compile=False)
    assert captioner.model_type in family.model_types
    images = _test_images(shapes_dir)
    expected = captioner.generate(images, return_scores=True)
    assert len(expected["captions"]) == len(images)
    again = family.save(captioner, os.path.join(work_dir, "saved_again"))
    reloaded = load_captioner(again, jit_compile=False)
    with open(os.path.join(model_dir, "config.json")) as a, \
            open(os.path.join(again, "config.json")) as b:
        first, second = json.load(a), json.load(b)
    # "files" (the weights checksums) may differ: Keras stores auto-generated layer names
    # such as "dropout_3", which depend on the process, in the .weights.h5 file
    assert set(first.pop("files")) == set(second.pop("files")) == {"model.weights.h5"}
    assert first == second
    assert reloaded.generate(images) == expected["captions"]

    # 2. the Keras config round trip
    model = captioner.model if hasattr(captioner, "model") else captioner.generator
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()

    # 3. batch invariance (XLA, as the commands decode)
    compiled = load_captioner(model_dir)
    together = compiled.generate(images, batch_size=len(images))
    assert together == [compiled.generate(images[i:i + 1])[0] for i in range(len(images))]
    assert together == expected["captions"]

    # 4. greedy = beam search with one beam
    beam = captioner.generate(images, "beam", beam_size=1, length_penalty=0.0,
                              return_scores=True)
    assert beam["captions"] == expected["captions"]
    np.testing.assert_allclose(beam["scores"], expected["scores"], rtol=1e-5, atol=1e-5)

    # 5. the caption command with a corrupt file
    corrupt = os.path.join(work_dir, "corrupt.jpg")
    with open(corrupt, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not a jpeg")
    files = images[:2] + [corrupt] + images[2:]
    done = _run(["tfcaption.caption", f"--model={model_dir}", "--json"] + files, ROOT)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1, done.stderr
    assert len(errors) == 1 and corrupt in errors[0], done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [p["path"] for p in printed] == images
    cli_captions = [p["captions"][0] for p in printed]
    assert cli_captions == expected["captions"]

    # 6. evaluate on the tiny test split
    out = os.path.join(work_dir, "eval", "metrics.json")
    done = _run(["tfcaption.evaluate", f"--model={model_dir}", f"--data={shapes_dir}",
                 "--split=test", f"--out={out}", "--max_images=4"], ROOT)
    assert done.returncode == 0, done.stderr
    metrics = json.load(open(out))
    assert metrics["num_images"] == len(images) and 0 <= metrics["coco"]["Bleu_4"] <= 1
    assert metrics["shapes"]["num_images"] == len(images)
    predictions = [json.loads(line) for line in
                   open(os.path.join(work_dir, "eval", "metrics.predictions.jsonl"))]
    assert [p["caption"] for p in predictions] == expected["captions"]

    # 7. the SavedModel in a TensorFlow-only process equals the command line
    export_dir = os.path.join(work_dir, "export", "1")
    done = _run(["tfcaption.export", f"--model={model_dir}", f"--export_dir={export_dir}"],
                ROOT)
    assert done.returncode == 0, done.stderr
    request = os.path.join(work_dir, "request.json")
    with open(request, "w") as f:
        json.dump({"files": files, "raw_hex": [], "exports": {"greedy": export_dir}}, f)
    script = os.path.join(work_dir, "reload.py")
    with open(script, "w") as f:
        f.write(RELOAD)
    done = subprocess.run([sys.executable, script, request], capture_output=True, text=True,
                          timeout=600, env=ENV, cwd=work_dir)
    assert done.returncode == 0, done.stderr
    served = json.loads(done.stdout.splitlines()[-1])
    assert served["imported"] == []
    captions = served["greedy"]["captions"]
    assert captions[:2] + captions[3:] == cli_captions
    assert captions[2] == "" and served["greedy"]["scores"][2] == float("-inf")
    keras.backend.clear_session()
