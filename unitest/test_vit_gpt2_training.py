"""The ViT-GPT2 trainer end to end on the tiny shapes set: from scratch (crashed after an
epoch and resumed), and fine-tuning a converted checkpoint; the settings checks."""

import json

import numpy as np
import pytest
from fit_callbacks import CrashAfterFirstEpoch, EpochsSeen
from vit_gpt2_checkpoint import make_tiny_hf_vit_gpt2

from tfcaption.models.load_captioner import load_captioner
from tfcaption.models.vit_gpt2 import vit_gpt2_training
from tfcaption.models.vit_gpt2.vit_gpt2_checkpoint import convert_vision_encoder_decoder


def _hparams(shapes_dir, **model):
    return {"model": {"type": "vit_gpt2", "image_size": 32, "patch_size": 8,
                      "encoder_layers": 1, "encoder_heads": 2, "encoder_width": 16,
                      "encoder_mlp": 32, "decoder_layers": 1, "decoder_heads": 2,
                      "decoder_width": 16, "max_positions": 40, "dropout": 0.0,
                      "max_length": 12, **model},
            "tokenizer": {"vocab_size": 300},
            "data": {"dir": shapes_dir, "max_length": 24},
            "train": {"batch_size": 16, "epochs": 2, "learning_rate": 1e-3,
                      "jit_compile": False, "verbose": 0, "sample_every": 0},
            "eval": {"max_images": 4}}


def test_from_scratch_resumes_and_its_model_dir_captions_as_evaluated(shapes_dir, tmp_path):
    workdir = str(tmp_path / "run")
    hparams = _hparams(shapes_dir)
    with pytest.raises(RuntimeError, match="simulated crash"):
        vit_gpt2_training.run(json.loads(json.dumps(hparams)), workdir,
                              extra_callbacks=[CrashAfterFirstEpoch()])
    epochs = EpochsSeen()
    metrics = vit_gpt2_training.run(json.loads(json.dumps(hparams)), workdir,
                                    extra_callbacks=[epochs])
    assert epochs.seen == [1]  # the first epoch was not trained again
    assert metrics["num_images"] == 4 and np.isfinite(metrics["final_loss"])
    captioner = load_captioner(f"{workdir}/model", jit_compile=False)
    assert captioner.tokens.eos == captioner.tokenizer.end_token_id
    predictions = [json.loads(line) for line in open(f"{workdir}/predictions.jsonl")]
    images = [f"{shapes_dir}/images/test/{p['image_id']}.jpg" for p in predictions]
    assert captioner.generate(images) == [p["caption"] for p in predictions]


def test_fine_tunes_a_converted_checkpoint(shapes_dir, tmp_path):
    hf_dir = make_tiny_hf_vit_gpt2(tmp_path / "ckpt", shapes_dir)
    before = convert_vision_encoder_decoder(hf_dir, jit_compile=False).model
    hparams = _hparams(shapes_dir, checkpoint=hf_dir)
    hparams["train"]["epochs"] = 1
    metrics = vit_gpt2_training.run(hparams, str(tmp_path / "run"))
    after = load_captioner(str(tmp_path / "run" / "model"), jit_compile=False)
    assert metrics["num_images"] == 4
    # the ViT is trained with the decoder: every weight moves, but the attention key
    # biases, whose gradient is zero (q.(k + b) shifts every score of a query alike)
    still = [w.path for w, a in zip(before.encoder.weights, after.model.encoder.get_weights())
             if np.allclose(w.numpy(), a)]
    assert still and all(path.endswith("/key/bias") for path in still), still
    assert after.tokens == convert_vision_encoder_decoder(hf_dir).tokens


@pytest.mark.parametrize("override, message", [
    ({"image_size": 30}, "model.image_size 30 is not a multiple of model.patch_size 8"),
    ({"decoder_width": 15}, "model.decoder_width 15 is not divisible into"),
    ({"max_length": 40}, "model.max_length 40 must be less than model.max_positions 40"),
])
def test_bad_values_are_named(shapes_dir, tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        vit_gpt2_training.run(_hparams(shapes_dir, **override), str(tmp_path / "run"))
