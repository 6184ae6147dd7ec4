import io
import json
import os
import re
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from PIL import Image

from tfcaption.data import charts
from tfcaption.data.charts_captions import make_captions
from tfcaption.data.charts_scorer import (chart_types_named, copied_tokens,
                                          reference_ocr_copy_rate, score_caption,
                                          score_dataset, tokens, trends_named)
from tfcaption.data.charts_summary import summarize
from tfcaption.data.dataset_writer import DatasetWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(out, seed=4, **kwargs):
    DatasetWriter(str(out), "charts").write(charts.generate(8, 2, 2, seed=seed, **kwargs),
                                            verbose=False)
    with open(os.path.join(out, "captions.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def charts_dir(tmp_path_factory):
    """8 train / 2 val / 2 test charts at the default 160 x 120 px."""
    out = tmp_path_factory.mktemp("charts")
    _write(out)
    return str(out)


def _records(data_dir):
    with open(os.path.join(data_dir, "captions.jsonl")) as f:
        return [json.loads(line) for line in f]


def _sampled(n=300, seed=0):
    """Charts and their references from the generator's sampling alone (no rendering)."""
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        chart = charts.sample_chart(rng)
        out.append({"image_id": str(i), "chart": chart, "captions": make_captions(chart, rng)})
    return out


def test_same_seed_gives_identical_files_and_another_seed_does_not(charts_dir, tmp_path):
    again = _write(tmp_path / "again")
    assert open(os.path.join(charts_dir, "captions.jsonl"), "rb").read() == \
        open(tmp_path / "again" / "captions.jsonl", "rb").read()
    for rec in again:
        with open(os.path.join(charts_dir, rec["image"]), "rb") as a, \
                open(tmp_path / "again" / rec["image"], "rb") as b:
            assert a.read() == b.read(), rec["image"]
    other = _write(tmp_path / "other", seed=5)
    assert [r["captions"] for r in other] != [r["captions"] for r in again]


def test_splits_counts_and_image_sizes(charts_dir):
    recs = _records(charts_dir)
    assert [sum(r["split"] == s for r in recs) for s in ("train", "val", "test")] == [8, 2, 2]
    assert [r["image_id"] for r in recs][8:] == ["val_00000", "val_00001", "test_00000",
                                                 "test_00001"]
    for r in recs:
        assert r["image"] == f"images/{r['split']}/{r['image_id']}.png"
        im = Image.open(os.path.join(charts_dir, r["image"]))
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (160, 120)
        assert not im.info, im.info  # no metadata chunks
        pixels = np.asarray(im).reshape(-1, 3).astype(int)
        assert (pixels.max(axis=1) < 60).sum() > 200  # text and axes
        blue = np.abs(pixels - [31, 119, 180]).max(axis=1) < 30
        assert blue.sum() > 10  # the (first) series colour
        assert len(r["captions"]) == charts.NUM_CAPTIONS == len(set(r["captions"]))


def test_image_size_sets_the_width_and_a_too_small_one_is_an_error():
    rec = next(charts.generate(1, 0, 0, image_size=320, seed=1))
    assert Image.open(io.BytesIO(rec.image_bytes)).size == (320, 240)
    with pytest.raises(ValueError, match="charts image_size must be at least 96 px, got 80"):
        next(charts.generate(1, 0, 0, image_size=80))
    with pytest.raises(ValueError, match="charts num_val must be >= 0, got -1"):
        next(charts.generate(1, -1, 0))


def test_images_do_not_depend_on_order_workers_or_the_users_matplotlib_style():
    full = list(charts.generate(6, 2, 3, seed=7))
    charts._CANVASES.clear()  # a fresh figure, and render the test split alone
    only = list(charts.generate(6, 2, 3, seed=7, splits=("test",)))
    assert [r.image_id for r in only] == ["test_00000", "test_00001", "test_00002"]
    assert [r.image_bytes for r in only] == [r.image_bytes for r in full if r.split == "test"]
    backwards = [charts.make_record(7, i, "train", i, 160) for i in reversed(range(6))][::-1]
    assert [r.image_bytes for r in backwards] == [r.image_bytes for r in full[:6]]
    charts._CANVASES.clear()
    with matplotlib.rc_context({"axes.grid": True, "font.size": 20, "lines.linewidth": 4,
                                "axes.facecolor": "black", "figure.facecolor": "red"}):
        styled = list(charts.generate(6, 0, 0, seed=7))
    assert [r.image_bytes for r in styled] == [r.image_bytes for r in full[:6]]



POOLED = """import hashlib, json, sys
from tfcaption.data import charts

if __name__ == "__main__":
    records = charts.generate(6, 2, 3, seed=7, num_workers=2)
    json.dump([[hashlib.sha256(r.image_bytes).hexdigest(), r.captions, r.extra]
               for r in records], sys.stdout)
"""


def test_rendering_in_worker_processes_gives_the_same_records(tmp_path):
    """In a process of its own: a process pool leaves multiprocessing's resource tracker
    running as a child of the process that made it."""
    import hashlib

    script = tmp_path / "pooled.py"
    script.write_text(POOLED)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    pooled = json.loads(done.stdout)
    full = list(charts.generate(6, 2, 3, seed=7))
    assert [p[0] for p in pooled] == [hashlib.sha256(r.image_bytes).hexdigest() for r in full]
    assert [p[1] for p in pooled] == [r.captions for r in full]
    assert [p[2] for p in pooled] == [json.loads(json.dumps(r.extra)) for r in full]


def _trend_of(y, span):
    """The trend a reader sees in a line, judged from its data alone."""
    y = np.asarray(y)
    total, late = y[-1] - y[0], y[-1] - y[len(y) // 2]
    if abs(total) < 0.1 * span and np.ptp(y) < 0.15 * span:
        return "stays flat"
    assert abs(total) > 0.4 * span, y
    word = "rises" if total > 0 else "falls"
    if abs(late) < 0.2 * abs(total):
        return word + " then levels off"
    assert late / total > 0.3, y
    return word


def test_ground_truth_matches_the_plotted_data():
    kinds = set()
    for rec in _sampled(300):
        c = rec["chart"]
        kinds.add((c["type"], c["num_series"]))
        span = c["y_ticks"][-1] - c["y_ticks"][0]
        assert c["x_label"] in (*charts.X_VARIABLES, "method")
        assert c["y_label"] in charts.Y_VARIABLES
        ys = [v for s in c["series"] for v in s["y"]]
        assert c["y_ticks"][0] <= min(ys) and max(ys) <= c["y_ticks"][-1]
        assert c["texts"] == ([c["title"], c["x_label"].capitalize(), c["y_label"].capitalize()]
                              + c["x_tick_labels"] + c["y_tick_labels"]
                              + [s["name"] for s in c["series"] if s.get("name")])
        assert [float(t) for t in c["y_tick_labels"]] == pytest.approx(c["y_ticks"])
        if c["type"] == "line":
            assert len(c["series"]) == c["num_series"] == len(c["trends"]) in (1, 2)
            assert len(set(c["trends"])) == len(c["trends"])
            for s, trend in zip(c["series"], c["trends"]):
                assert s["trend"] == trend == _trend_of(s["y"], span)
        elif c["type"] == "bar":
            values = c["series"][0]["y"]
            top = int(np.argmax(values))
            assert c["highest"] == c["categories"][top] == f"method {'ABCDE'[top]}"
            assert sorted(values)[-1] - sorted(values)[-2] > 0.1 * span  # clearly highest
            assert c["trends"] == [] and 3 <= len(values) <= 5
        else:
            r = np.corrcoef(c["series"][0]["x"], c["series"][0]["y"])[0, 1]
            expected = "positive" if r > 0.6 else "negative" if r < -0.6 else "none"
            assert abs(r) > 0.6 or abs(r) < 0.25
            assert c["correlation"] == expected
    assert kinds == {("line", 1), ("line", 2), ("bar", 1), ("scatter", 1)}


def test_references_describe_the_chart_and_quote_none_of_its_text():
    variables = {t for v in (*charts.X_VARIABLES, *charts.Y_VARIABLES, "method")
                 for t in tokens(v)}
    for rec in _sampled(300, seed=1):
        c = rec["chart"]
        assert len(rec["captions"]) == 5 and len(set(rec["captions"])) == 5
        title_words = set(tokens(c["title"])) - variables
        for cap in rec["captions"]:
            assert not re.search(r"\d", cap), cap  # no tick numbers, no title number
            assert not title_words & set(tokens(cap)), (cap, c["title"])
            assert score_caption(cap, c) == {"chart_type": 1.0, "trend": 1.0}, (cap, c)
    assert reference_ocr_copy_rate(_sampled(300, seed=1)) == 0.0


LINE = {"type": "line", "trends": ["rises then levels off"], "num_series": 1}


def test_chart_type_words():
    assert chart_types_named("a line plot of accuracy") == {"line"}
    assert chart_types_named("two curves") == {"line"}
    assert chart_types_named("a bar graph of loss") == {"bar"}
    assert chart_types_named("a scatterplot") == chart_types_named("scattered points") \
        == {"scatter"}
    assert chart_types_named("a chart of accuracy") == set()
    assert chart_types_named("a line and bar chart") == {"line", "bar"}
    assert score_caption("a line and bar chart", LINE)["chart_type"] == 0.0
    assert score_caption("a graph in which accuracy rises then levels off", LINE) \
        == {"chart_type": 0.0, "trend": 1.0}


def test_trend_phrases():
    assert trends_named("accuracy rises and then levels off") == {"rises then levels off"}
    assert trends_named("loss drops quickly, then plateaus") == {"falls then levels off"}
    assert trends_named("accuracy rises over the number of epochs") == {"rises"}
    assert trends_named("error stays flat") == {"stays flat"}
    assert trends_named("method a rises, method b falls and then levels off") == \
        {"rises", "falls then levels off"}
    assert trends_named("a line chart of accuracy") == set()
    assert score_caption("a line chart where accuracy rises", LINE)["trend"] == 0.0
    two = {"type": "line", "trends": ["rises", "stays flat"], "num_series": 2}
    assert score_caption("a line chart: method a rises, method b stays flat", two)["trend"] == 1
    assert score_caption("a line chart: method a rises", two)["trend"] == 0.0
    assert score_caption("a line chart: both rise, then one falls", two)["trend"] == 0.0


def test_correlation_and_highest_bar():
    scatter = {"type": "scatter", "correlation": "none"}
    assert score_caption("a scatter plot with no clear correlation", scatter)["trend"] == 1.0
    assert score_caption("a scatter plot where x and y are uncorrelated", scatter)["trend"] == 1
    assert score_caption("a scatter plot with a positive correlation", scatter)["trend"] == 0.0
    negative = {"type": "scatter", "correlation": "negative"}
    assert score_caption("a scatter plot: y is negatively correlated with x",
                         negative) == {"chart_type": 1.0, "trend": 1.0}
    bar = {"type": "bar", "categories": ["method A", "method B", "method C"],
           "highest": "method C"}
    assert score_caption("a bar chart in which method c is highest", bar)["trend"] == 1.0
    assert score_caption("a bar chart in which method b is highest", bar)["trend"] == 0.0
    assert score_caption("a bar chart of three methods", bar)["trend"] == 0.0
    assert score_caption("method c is above method a in a bar chart", bar)["trend"] == 0.0


RECORD = {
    "image_id": "x",
    "captions": ["a line chart in which accuracy rises over the number of epochs",
                 "a line plot of accuracy against epochs, where accuracy rises"],
    "chart": {"type": "line", "trends": ["rises"], "num_series": 1,
              "texts": ["Trial 42: SVHN", "Epochs", "Accuracy", "0", "25", "50",
                        "0.2", "0.5", "0.8"]},
}


def test_ocr_copy_rate_counts_printed_tokens_that_no_reference_uses():
    copied, n = copied_tokens("trial 42 svhn accuracy 0.2 0.5 0.8", RECORD["chart"]["texts"],
                              RECORD["captions"])
    assert copied == ["trial", "42", "svhn", "0.2", "0.5", "0.8"] and n == 7
    assert copied_tokens("a line chart in which accuracy rises over the epochs",
                         RECORD["chart"]["texts"], RECORD["captions"]) == ([], 10)
    assert tokens("Accuracy at 0.25, step 1000!") == ["accuracy", "at", "0.25", "step", "1000"]
    copying = score_dataset({"x": "trial 42 svhn accuracy 0.2 0.5 0.8"}, [RECORD])
    assert copying["ocr_copy_rate"] == pytest.approx(6 / 7)
    assert copying["ocr_copy_caption_rate"] == 1.0
    assert copying["chart_type_accuracy"] == copying["trend_accuracy"] == 0.0
    describing = score_dataset({"x": "a line chart in which accuracy rises"}, [RECORD])
    assert describing["ocr_copy_rate"] == describing["ocr_copy_caption_rate"] == 0.0
    assert describing["chart_type_accuracy"] == describing["trend_accuracy"] == 1.0


def test_reference_rate_leaves_each_reference_out():
    rec = dict(RECORD, captions=["accuracy rises over epochs", "accuracy rises",
                                 "the accuracy rises"])
    # "epochs" is printed and only the first reference uses it: 1 copied of 9 tokens
    assert reference_ocr_copy_rate([rec]) == pytest.approx(1 / 9)
    assert reference_ocr_copy_rate([dict(RECORD, captions=["epochs"])]) == 0.0
    scores = score_dataset({"x": "accuracy rises"}, [rec])
    assert scores["reference_ocr_copy_rate"] == pytest.approx(1 / 9)


def test_score_dataset_averages_per_type_and_rejects_no_match():
    recs = _sampled(30, seed=2)
    perfect = score_dataset({r["image_id"]: r["captions"][0] for r in recs}, recs)
    assert perfect["chart_type_accuracy"] == perfect["trend_accuracy"] == 1.0
    assert perfect["ocr_copy_rate"] == 0.0 and perfect["num_images"] == 30
    assert {k for k in perfect if k.startswith("trend_accuracy_")} == {
        f"trend_accuracy_{t}" for t in {r["chart"]["type"] for r in recs}}
    # a caption that only reads the title scores nothing and copies all of it
    titles = score_dataset({r["image_id"]: r["chart"]["title"] for r in recs[:10]}, recs)
    assert titles["num_images"] == 10 and titles["ocr_copy_rate"] == 1.0
    assert titles["chart_type_accuracy"] == 0.0
    with pytest.raises(ValueError, match="no prediction"):
        score_dataset({"nope": "a bar chart"}, recs)


def test_evaluation_adds_the_charts_scores(charts_dir, shapes_dir):
    from tfcaption.evaluation.evaluate_model import dataset_scores

    recs = _records(charts_dir)
    scores = dataset_scores({r["image_id"]: r["captions"][1] for r in recs}, recs)
    assert list(scores) == ["charts"]
    assert scores["charts"]["trend_accuracy"] == 1.0 and scores["charts"]["num_images"] == 12
    shape_recs = _records(shapes_dir)
    assert list(dataset_scores({r["image_id"]: "x" for r in shape_recs}, shape_recs)) == \
        ["shapes"]


def test_summary_names_types_and_examples(charts_dir):
    text = summarize(charts_dir)
    assert text.startswith("chart types: ")
    assert "caption length: mean" in text and "images/train/train_00000.png: " in text


def test_prepare_command_generates_charts(tmp_path):
    out = tmp_path / "charts"
    res = subprocess.run(
        [sys.executable, "-m", "tfcaption.prepare", "--dataset=charts", f"--out_dir={out}",
         "--num_train=3", "--num_val=1", "--num_test=1", "--image_size=128", "--seed=2"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "dataset charts: 5 images kept" in res.stdout and "chart types: " in res.stdout
    recs = _records(out)
    assert [r["split"] for r in recs] == ["train"] * 3 + ["val", "test"]
    assert Image.open(out / recs[0]["image"]).size == (128, 96)
    same = [charts.make_record(2, 0, "train", 0, 128)][0]
    assert (out / recs[0]["image"]).read_bytes() == same.image_bytes
    assert recs[0]["captions"] == same.captions and recs[0]["chart"] == same.extra["chart"]
