"""A VisionEncoderDecoder checkpoint dir (random weights, the released key layout) loads
into VitGpt2Model with encoder states and logits equal to transformers' (1e-4), with and
without the encoder-to-decoder projection; wrong dirs fail naming the file or key."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file
from vit_gpt2_checkpoint import TOKEN, make_checkpoint

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.models.vit_gpt2.vit_gpt2_checkpoint import (SpecialTokens,
                                                            load_vision_encoder_decoder)


@pytest.mark.parametrize("decoder_width", [16, 24])  # 16: same width, no projection
def test_encoder_states_and_logits_equal_transformers(tmp_path, decoder_width):
    reference = make_checkpoint(tmp_path / "ckpt", decoder_width=decoder_width)
    model, tokens = load_vision_encoder_decoder(tmp_path / "ckpt")
    assert tokens == SpecialTokens(decoder_start=TOKEN, eos=TOKEN, pad=TOKEN)
    assert (model.projection is None) == (decoder_width == 16)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    ids = np.concatenate([np.full((2, 1), TOKEN), rng.integers(0, 19, (2, 5))], 1)
    with torch.no_grad():
        theirs = reference(pixel_values=torch.from_numpy(images.transpose(0, 3, 1, 2)),
                           decoder_input_ids=torch.from_numpy(ids).long())
    states = np.asarray(model.encoder(images))
    np.testing.assert_allclose(states, theirs.encoder_last_hidden_state.numpy(), atol=1e-4,
                               rtol=1e-4)
    logits = np.asarray(model.decode(model.encode(images), ids.astype("int32"),
                                     np.ones_like(ids, "int32")))
    np.testing.assert_allclose(logits, theirs.logits.numpy(), atol=1e-4, rtol=1e-4)


def test_teacher_forcing_loss_equals_transformers_labels_loss(tmp_path):
    """call() shifts the caption right after decoder_start (as HF does for ``labels``) and
    ignores padding: the masked mean cross-entropy equals HF's loss with -100 labels."""
    from tfcaption.training.caption_loss import caption_loss

    reference = make_checkpoint(tmp_path / "ckpt")
    model, _ = load_vision_encoder_decoder(tmp_path / "ckpt")
    rng = np.random.default_rng(2)
    images = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    ids = rng.integers(0, 19, (2, 6)).astype("int32")
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2], "int32")
    ids[1, 3] = TOKEN  # the second caption: 3 words, eos, padding
    labels = np.where(mask == 1, ids, -100)
    with torch.no_grad():
        theirs = reference(pixel_values=torch.from_numpy(images.transpose(0, 3, 1, 2)),
                           labels=torch.from_numpy(labels).long()).loss.item()
    logits = model({"images": images, "token_ids": ids, "padding_mask": mask})
    loss, _, count = caption_loss(logits, ids, mask.astype(bool))
    assert float(count) == 10
    assert float(loss) == pytest.approx(theirs, rel=1e-4)


def test_unknown_and_missing_keys_are_named(tmp_path):
    make_checkpoint(tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "model.safetensors"
    state = load_file(str(weights))
    state["extra_head.weight"] = np.zeros(2, np.float32)
    save_file(state, str(weights))
    with pytest.raises(CheckpointMismatchError, match="extra_head.weight"):
        load_vision_encoder_decoder(tmp_path / "ckpt")
    del state["extra_head.weight"], state["enc_to_dec_proj.bias"]
    save_file(state, str(weights))
    with pytest.raises(CheckpointMismatchError, match="enc_to_dec_proj.bias"):
        load_vision_encoder_decoder(tmp_path / "ckpt")


def test_other_architectures_are_named(tmp_path):
    make_checkpoint(tmp_path / "ckpt")
    config_file = tmp_path / "ckpt" / "config.json"
    config = json.loads(config_file.read_text())
    config["encoder"]["model_type"] = "swin"
    config_file.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config.json \(encoder\): model_type is 'swin'"):
        load_vision_encoder_decoder(tmp_path / "ckpt")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_vision_encoder_decoder(tmp_path / "nothing")


def test_the_model_config_round_trips(tmp_path):
    make_checkpoint(tmp_path / "ckpt")
    model, _ = load_vision_encoder_decoder(tmp_path / "ckpt")
    model.save_weights(str(tmp_path / "model.weights.h5"))
    again = type(model).from_config(json.loads(json.dumps(model.get_config())))
    again.load_weights(str(tmp_path / "model.weights.h5"))
    inputs = {"images": np.random.default_rng(1).normal(size=(1, 32, 32, 3)).astype("float32"),
              "token_ids": np.array([[TOKEN, 3, 4]], "int32"),
              "padding_mask": np.ones((1, 3), "int32")}
    np.testing.assert_array_equal(np.asarray(again(inputs)), np.asarray(model(inputs)))
    assert again.decoder_start_token_id == TOKEN
    assert again.encoder.get_config()["layer_norm_epsilon"] == 1e-12


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A checkpoint whose captions vary: some end early with eos, some run to the
    length limit, and beam search differs from greedy on some images (checked below)."""
    path = tmp_path_factory.mktemp("vit_gpt2") / "ckpt"
    reference = make_checkpoint(path, seed=4, scale=0.6)
    model, tokens = load_vision_encoder_decoder(path)
    images = np.random.default_rng(5).normal(size=(6, 32, 32, 3)).astype("float32")
    return reference, model, tokens, images


def _theirs(reference, images, **generate):
    with torch.no_grad():
        out = reference.generate(pixel_values=torch.from_numpy(images.transpose(0, 3, 1, 2)),
                                 **generate)
    return out.numpy()


def _ours(model, tokens, images, **decoding):
    result = model.generate_ids(model.encode(images), tokens.decoder_start,
                                dict(stop_token_ids=(tokens.eos,), **decoding))
    ids, lengths = result.token_ids.numpy(), result.lengths.numpy()
    return [list(ids[b, 0, :lengths[b, 0]]) for b in range(len(ids))]


def _strip(row, eos):
    """A transformers output row -> the generated ids after the start token, up to and
    including the first eos (the rest is padding)."""
    row = list(row[1:])
    return row[:row.index(eos) + 1] if eos in row else row


def test_greedy_tokens_equal_transformers_generate(converted):
    reference, model, tokens, images = converted
    theirs = _theirs(reference, images, max_length=16, num_beams=1, do_sample=False)
    ours = _ours(model, tokens, images, method="greedy", max_length=15)
    expected = [_strip(row, TOKEN) for row in theirs]
    assert ours == expected
    assert len({tuple(r) for r in expected}) > 1  # the images get different captions
    assert {len(r) for r in expected} > {15} and 15 in {len(r) for r in expected}


def test_beam_4_tokens_equal_transformers_generate(converted):
    reference, model, tokens, images = converted
    theirs = _theirs(reference, images, max_length=16, num_beams=4, do_sample=False)
    ours = _ours(model, tokens, images, method="beam", beam_size=4, max_length=15)
    assert ours == [_strip(row, TOKEN) for row in theirs]
    greedy = _ours(model, tokens, images, method="greedy", max_length=15)
    assert ours != greedy and any(r[-1] == TOKEN for r in ours)
