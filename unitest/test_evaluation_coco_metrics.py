"""COCO caption metrics equal pycocoevalcap's own numbers; inputs are checked; Java
processes are closed."""

import os
import threading

import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from tfcaption.evaluation import coco_metrics as coco_module
from tfcaption.evaluation import meteor_process
from tfcaption.evaluation.coco_metrics import METRIC_KEYS, coco_metrics
from tfcaption.evaluation.meteor_process import close_meteor, meteor_score
from tfcaption.evaluation.ptb_tokenize import ptb_tokenize
from tfcaption.evaluation.spice_availability import spice_unavailable_reason

PREDICTIONS = {
    "img_a": "A small red circle to the left of a blue square.",
    "img_b": "two green stars",
    7: "a yellow triangle, above a cross",
    "img_d": "a purple star",
}
REFERENCES = {
    "img_a": ["a small red circle left of a large blue square",
              "A red circle and a blue square.", "a circle beside a square"],
    "img_b": ["two green stars", "a pair of green stars on a grey background"],
    7: ["a yellow triangle above an orange cross", "a triangle and a cross"],
    "img_d": ["a large purple star in the middle", "one purple star"],
}
SCORED = ("Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr")


def _children():
    """Ids of this process's live (or zombie) child processes."""
    me, found = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.append(int(name))
    return found


@pytest.fixture(scope="module")
def computed():
    return coco_metrics(PREDICTIONS, REFERENCES, spice="auto", return_per_image=True)


def _pycocoevalcap_directly(predictions, references):
    """What pycocoevalcap's COCOEvalCap does, scorer by scorer."""
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({i: [{"caption": r} for r in references[i]] for i in predictions})
    res = tokenizer.tokenize({i: [{"caption": predictions[i]}] for i in predictions})
    corpus, per_image = {}, {i: {} for i in predictions}
    bleu, bleu_scores = Bleu(4).compute_score(gts, res)
    results = [(f"Bleu_{n + 1}", bleu[n], bleu_scores[n]) for n in range(4)]
    meteor = Meteor()
    results.append(("METEOR",) + tuple(meteor.compute_score(gts, res)))
    del meteor
    results.append(("ROUGE_L",) + tuple(Rouge().compute_score(gts, res)))
    results.append(("CIDEr",) + tuple(Cider().compute_score(gts, res)))
    for name, score, scores in results:
        corpus[name] = score
        for i, s in zip(gts.keys(), scores):
            per_image[i][name] = s
    return corpus, per_image


def test_numbers_are_identical_to_pycocoevalcap(computed):
    metrics, per_image = computed
    corpus, direct_per_image = _pycocoevalcap_directly(PREDICTIONS, REFERENCES)
    for name in SCORED:
        assert metrics[name] == corpus[name], name
        for i in PREDICTIONS:
            assert per_image[i][name] == direct_per_image[i][name], (i, name)
    assert metrics["num_images"] == 4


def test_scores_are_informative(computed):
    metrics, per_image = computed
    assert set(METRIC_KEYS) <= set(metrics)
    for name in SCORED:
        assert metrics[name] > 0, name
    # img_b repeats a reference word for word; img_d shares few words with its references.
    assert per_image["img_b"]["Bleu_1"] == pytest.approx(1.0, abs=1e-6)
    assert per_image["img_b"]["METEOR"] == 1.0
    assert per_image["img_b"]["CIDEr"] > per_image["img_d"]["CIDEr"]
    assert per_image["img_b"]["ROUGE_L"] > per_image["img_d"]["ROUGE_L"]


def test_spice_reported_as_on_this_machine(computed):
    metrics, _ = computed
    reason = spice_unavailable_reason()
    if reason is None:
        # the jars are there: a score, or the run's failure (SPICE 1.0 on Java 9+) named
        assert isinstance(metrics["SPICE"], float) or (
            metrics["SPICE"] is None and metrics["SPICE_unavailable"].startswith("SPICE failed"))
    else:
        assert metrics["SPICE"] is None
        assert metrics["SPICE_unavailable"] == reason
        assert "stanford-corenlp-3.6.0" in reason


def test_no_java_process_is_left_running(computed):
    assert _children() == []


def test_close_meteor_ends_the_process_even_with_its_lock_held():
    meteor = Meteor()
    proc = meteor.meteor_p
    assert proc.poll() is None
    meteor.lock.acquire()  # what a failed compute_score leaves behind
    close_meteor(meteor)
    assert proc.returncode is not None and not os.path.exists(f"/proc/{proc.pid}")
    assert proc.stdout.closed and proc.stderr.closed
    # pycocoevalcap's __del__ takes the lock: it must not block now.
    finalizer = threading.Thread(target=meteor.__del__, daemon=True)
    finalizer.start()
    finalizer.join(timeout=20)
    assert not finalizer.is_alive()
    close_meteor(meteor)  # idempotent


def test_a_dead_meteor_process_raises_with_its_stderr(monkeypatch):
    class BrokenMeteor(Meteor):
        def __init__(self):
            self.meteor_cmd = ["java", "-jar", "no-such-meteor.jar"]
            import subprocess
            self.meteor_p = subprocess.Popen(self.meteor_cmd, stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.lock = threading.Lock()

    monkeypatch.setattr(meteor_process, "Meteor", BrokenMeteor)
    with pytest.raises(RuntimeError, match="no-such-meteor.jar"):
        meteor_score({1: ["a dog"]}, {1: ["a dog"]})
    assert _children() == []


def test_ptb_tokenize_keeps_captions_on_their_image():
    out = ptb_tokenize({1: ["A dog,\rrunning.", "c\u2028d"], "x": ["E\x0cf"], 3: ["G!"]})
    assert out == {1: ["a dog running", "c d"], "x": ["e f"], 3: ["g"]}


@pytest.mark.parametrize("predictions, references, error, message", [
    ({"a": "x", "b": "y"}, {"a": ["x"]}, ValueError, "'b'"),
    ({"a": "x"}, {"a": ["x"], "zzz": ["y"]}, ValueError, "'zzz'"),
    ({"a": "x", 5: "y"}, {"a": ["x"], 5: []}, ValueError, r"references\[5\] is an empty"),
    ({"a": "x", "b": None}, {"a": ["x"], "b": ["y"]}, TypeError, r"predictions\['b'\]"),
    ({"a": "x"}, {"a": ["x", 3]}, TypeError, r"references\['a'\]\[1\]"),
    ({"a": "x"}, {"a": "x"}, TypeError, r"references\['a'\] is a str"),
    ({}, {}, ValueError, "empty"),
])
def test_bad_inputs_name_the_image(predictions, references, error, message):
    with pytest.raises(error, match=message):
        coco_metrics(predictions, references)


def test_spice_argument_is_checked():
    with pytest.raises(ValueError, match="spice"):
        coco_metrics({"a": "x"}, {"a": ["x"]}, spice="yes")
    with pytest.raises(ValueError, match="spice"):
        coco_metrics({"a": "x"}, {"a": ["x"]}, spice=1)


def test_required_spice_that_is_unavailable_raises_before_any_work(monkeypatch):
    monkeypatch.setattr(coco_module, "spice_unavailable_reason",
                        lambda: "missing /x/lib/stanford-corenlp-3.6.0-models.jar")
    monkeypatch.setattr(coco_module, "ptb_tokenize", pytest.fail)
    with pytest.raises(RuntimeError, match="stanford-corenlp-3.6.0-models.jar"):
        coco_metrics({"a": "x"}, {"a": ["x"]}, spice=True)


def test_spice_false_is_not_run_and_says_so(monkeypatch):
    def no_check():
        raise AssertionError("availability must not be checked for spice=False")

    monkeypatch.setattr(coco_module, "spice_unavailable_reason", no_check)
    monkeypatch.setattr(coco_module, "meteor_score",
                        lambda gts, res: (0.5, [0.5] * len(gts)))
    metrics = coco_metrics({"a": "a red circle", "b": "a blue cross"},
                           {"a": ["a red circle"], "b": ["a green star"]}, spice=False)
    assert metrics["SPICE"] is None
    assert "spice=False" in metrics["SPICE_unavailable"]
    assert metrics["Bleu_1"] > 0 and metrics["CIDEr"] > 0
