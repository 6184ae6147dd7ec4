"""ClipCap training end to end on a tiny shapes set: cache, fit, resume, evaluate, save."""

import json
import os

import pytest
from fit_callbacks import CrashAfterFirstEpoch, EpochsSeen

from tfcaption.hparams import apply_overrides, load_hparams
from tfcaption.models.clipcap.clipcap_model_dir import load_clipcap
from tfcaption.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HPARAMS = os.path.join(ROOT, "hparams")


def _tiny(data_dir, epochs=2):
    return apply_overrides(load_hparams(os.path.join(HPARAMS, "clipcap_shapes.json")), [
        f"data.dir={data_dir}", f"train.epochs={epochs}", "train.batch_size=8",
        "train.warmup_steps=2", "train.verbose=0", "train.sample_every=1",
        f"model.clip={os.path.join(ROOT, 'pretrained_models', 'clip_shapes')}",
        "model.prefix_length=3", "model.gpt2.num_layers=1", "model.gpt2.hidden_dim=32",
        "model.gpt2.intermediate_dim=64", "tokenizer.vocab_size=300",
        'eval.decoding={"method": "greedy", "max_length": 12}', "data.max_length=24"])


def test_trains_resumes_evaluates_and_saves_a_captioner(shapes_dir, tmp_path, capsys):
    from tfcaption.models.clipcap import clipcap_training

    hparams = _tiny(shapes_dir, epochs=3)
    workdir = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated crash"):
        clipcap_training.run(hparams, workdir, extra_callbacks=[CrashAfterFirstEpoch()])
    epochs = EpochsSeen()
    metrics = clipcap_training.run(hparams, workdir, extra_callbacks=[epochs])
    assert epochs.seen == [1, 2]  # resumed after the completed first epoch

    printed = capsys.readouterr().out
    assert "epoch 3 sample" in printed and "(reference: " in printed
    assert metrics["num_images"] == 8
    assert set(metrics["shapes"]) == {"object_recall", "all_correct", "hallucination_rate",
                                      "num_images"}
    assert metrics["final_loss"] > 0 and "final_val_loss" in metrics
    assert len(metrics["samples"]) == 5 and all(s["reference"] for s in metrics["samples"])
    assert json.load(open(os.path.join(workdir, "metrics.json"))) == metrics
    predictions = [json.loads(x) for x in open(os.path.join(workdir, "predictions.jsonl"))]
    assert len(predictions) == 8 and all(len(p["references"]) == 5 for p in predictions)
    for name in ("features/features_meta.json", "tokenizer/vocab.json",
                 "checkpoints/last.weights.h5", "model/image_encoder/config.json"):
        assert os.path.isfile(os.path.join(workdir, name)), name

    captioner = load_clipcap(os.path.join(workdir, "model"))
    assert captioner.model.prefix_length == 3 and captioner.image_encoder is not None
    test = [json.loads(x) for x in open(os.path.join(shapes_dir, "captions.jsonl"))
            if '"test"' in x]
    paths = [os.path.join(shapes_dir, r["image"]) for r in test]
    # end to end from image files equals the two-stage (cached embedding) captions
    by_id = {p["image_id"]: p["caption"] for p in predictions}
    assert captioner.generate(paths, max_length=12) == [by_id[r["image_id"]] for r in test]


def test_train_entry_point_runs_clipcap(shapes_dir, tmp_path):
    hparams = _tiny(shapes_dir, epochs=1)
    metrics = train(hparams, str(tmp_path / "run"))
    assert metrics == json.load(open(tmp_path / "run" / "metrics.json"))
    with pytest.raises(ValueError, match=r"^hparams: unknown setting\(s\) "
                                         r"\['model.prefix_len'\]; known in model: "):
        bad = json.loads(json.dumps(hparams))
        bad["model"]["prefix_len"] = 3
        train(bad, str(tmp_path / "other"))
    assert not (tmp_path / "other").exists()  # reported before any work


@pytest.mark.parametrize("name", ["clipcap_shapes", "clipcap_mlp_coco",
                                  "clipcap_transformer_coco"])
def test_hparams_files_are_complete(name):
    hparams = load_hparams(os.path.join(HPARAMS, f"{name}.json"))
    assert hparams["model"]["type"] == "clipcap"
    assert "python -m tfcaption.train" in hparams["description"]
    assert {"dir", "train_split", "val_split", "test_split", "max_length"} <= set(hparams["data"])
    assert {"batch_size", "epochs", "learning_rate", "warmup_steps"} <= set(hparams["train"])


def test_coco_recipes_match_the_official_settings():
    mlp = load_hparams(os.path.join(HPARAMS, "clipcap_mlp_coco.json"))
    transformer = load_hparams(os.path.join(HPARAMS, "clipcap_transformer_coco.json"))
    for h in (mlp, transformer):
        assert (h["train"]["batch_size"], h["train"]["learning_rate"],
                h["train"]["warmup_steps"], h["train"]["epochs"]) == (40, 2e-5, 5000, 10)
    assert (mlp["model"]["mapping_type"], mlp["model"]["prefix_length"],
            mlp["model"]["only_prefix"], mlp["model"]["normalize_prefix"]) == \
        ("mlp", 10, False, False)
    assert (transformer["model"]["mapping_type"], transformer["model"]["prefix_length"],
            transformer["model"]["clip_length"], transformer["model"]["num_layers"],
            transformer["model"]["only_prefix"], transformer["model"]["normalize_prefix"]) == \
        ("transformer", 40, 40, 8, True, True)
    assert "RN50x4" in transformer["model"]["clip"] and "vit" in mlp["model"]["clip"].lower()
