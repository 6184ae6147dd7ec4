"""A Pix2Struct checkpoint dir (random weights, the released key layout) loads into
Pix2StructModel with encoder states and logits equal to transformers' (1e-4), greedy and
beam tokens equal to ``generate`` from each side's own preprocessing of the same images;
wrong dirs fail naming the file or key."""

import json

import numpy as np
import pytest
import torch
from pix2struct_checkpoint import EOS, hf_patches, make_checkpoint, photo_like
from safetensors.numpy import load_file, save_file

from tfcaption.backbones.checkpoint_mismatch_error import CheckpointMismatchError
from tfcaption.models.pix2struct.pix2struct_checkpoint import (SpecialTokens,
                                                               load_pix2struct_checkpoint)
from tfcaption.data.pix2struct_patches import flattened_patches

MAX_PATCHES = 24
SIZES = [(40, 90), (120, 30), (50, 50), (7, 200), (64, 48), (33, 61)]


def _images(seed=0):
    return [photo_like(h, w, seed + i) for i, (h, w) in enumerate(SIZES)]


def test_encoder_states_and_logits_equal_transformers(tmp_path):
    reference = make_checkpoint(tmp_path / "ckpt")
    model, tokens = load_pix2struct_checkpoint(tmp_path / "ckpt")
    assert tokens == SpecialTokens(decoder_start=0, eos=EOS, pad=0)
    patches, mask = hf_patches(_images()[:3], MAX_PATCHES)
    assert mask.min() == 0  # some images have padding patches
    rng = np.random.default_rng(0)
    ids = np.concatenate([np.zeros((3, 1), int), rng.integers(2, 40, (3, 6))], 1)
    with torch.no_grad():
        theirs = reference(flattened_patches=torch.from_numpy(patches),
                           attention_mask=torch.from_numpy(mask),
                           decoder_input_ids=torch.from_numpy(ids).long())
    states = np.asarray(model.encode(patches, mask))
    np.testing.assert_allclose(states, theirs.encoder_last_hidden_state.numpy(), atol=1e-4,
                               rtol=1e-4)
    logits = np.asarray(model.decode(states, mask, ids, np.ones_like(ids)))
    np.testing.assert_allclose(logits, theirs.logits.numpy(), atol=1e-4, rtol=1e-4)


def test_teacher_forcing_loss_equals_transformers_labels_loss(tmp_path):
    """call() shifts the caption right after decoder_start (as HF does for ``labels``);
    the masked mean cross-entropy equals HF's loss with -100 labels."""
    from tfcaption.training.caption_loss import caption_loss

    reference = make_checkpoint(tmp_path / "ckpt", seed=1)
    model, _ = load_pix2struct_checkpoint(tmp_path / "ckpt")
    patches, patch_mask = hf_patches(_images(1)[:2], MAX_PATCHES)
    ids = np.random.default_rng(2).integers(2, 40, (2, 6)).astype("int32")
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2], "int32")
    ids[:, -1], ids[1, 3] = EOS, EOS  # eos always ends a caption
    labels = np.where(mask == 1, ids, -100)
    with torch.no_grad():
        theirs = reference(flattened_patches=torch.from_numpy(patches),
                           attention_mask=torch.from_numpy(patch_mask),
                           labels=torch.from_numpy(labels).long()).loss.item()
    logits = model({"patches": patches, "patch_mask": patch_mask, "token_ids": ids,
                    "padding_mask": mask})
    loss, _, count = caption_loss(logits, ids, mask.astype(bool))
    assert float(count) == 10
    assert float(loss) == pytest.approx(theirs, rel=1e-4)


def test_unknown_missing_and_mis_shaped_keys_are_named(tmp_path):
    make_checkpoint(tmp_path / "ckpt")
    path = tmp_path / "ckpt" / "model.safetensors"
    state = load_file(path)
    state["decoder.extra.weight"] = np.zeros(3, "float32")
    del state["decoder.layer.1.mlp.DenseReluDense.wi_1.weight"]
    state["encoder.layernorm.weight"] = np.zeros(5, "float32")
    save_file(state, path)
    with pytest.raises(CheckpointMismatchError) as error:
        load_pix2struct_checkpoint(tmp_path / "ckpt")
    message = str(error.value)
    for key in ("decoder.extra.weight", "decoder.layer.1.mlp.DenseReluDense.wi_1.weight",
                "encoder.layernorm.weight"):
        assert key in message


def test_settings_it_cannot_reproduce_are_named(tmp_path):
    make_checkpoint(tmp_path / "ckpt")
    config_file = tmp_path / "ckpt" / "config.json"
    config = json.loads(config_file.read_text())
    config["text_config"]["dense_act_fn"] = "relu"
    config["is_vqa"] = False
    config_file.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="dense_act_fn='relu'"):
        load_pix2struct_checkpoint(tmp_path / "ckpt")
    config["model_type"] = "t5"
    config_file.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="model_type is 't5'"):
        load_pix2struct_checkpoint(tmp_path / "ckpt")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A checkpoint whose captions vary: some end early with eos, some run to the length
    limit, and beam search differs from greedy on some images (checked below)."""
    path = tmp_path_factory.mktemp("pix2struct") / "ckpt"
    reference = make_checkpoint(path, seed=4, scale=0.5, vocab_size=12)
    model, tokens = load_pix2struct_checkpoint(path)
    images = _images(7)
    return reference, model, tokens, images


def _theirs(reference, images, **generate):
    patches, mask = hf_patches(images, MAX_PATCHES)
    with torch.no_grad():
        out = reference.generate(flattened_patches=torch.from_numpy(patches),
                                 attention_mask=torch.from_numpy(mask), **generate)
    return [_strip(row) for row in out.numpy()]


def _ours(model, tokens, images, **decoding):
    pairs = [flattened_patches(image, MAX_PATCHES) for image in images]
    patches = np.stack([p for p, _ in pairs])
    mask = np.stack([m for _, m in pairs])
    result = model.generate_ids(model.encode(patches, mask), mask, tokens.decoder_start,
                                dict(stop_token_ids=(tokens.eos,), **decoding))
    ids, lengths = result.token_ids.numpy(), result.lengths.numpy()
    return [list(ids[b, 0, :lengths[b, 0]]) for b in range(len(ids))]


def _strip(row):
    """A transformers output row -> the generated ids after the start token, up to and
    including the first eos (the rest is padding)."""
    row = list(row[1:])
    return row[:row.index(EOS) + 1] if EOS in row else row


def test_greedy_tokens_equal_transformers_generate(converted):
    reference, model, tokens, images = converted
    theirs = _theirs(reference, images, max_new_tokens=12, num_beams=1, do_sample=False)
    assert _ours(model, tokens, images, method="greedy", max_length=12) == theirs
    assert len({tuple(r) for r in theirs}) > 1  # the images get different captions
    assert min(len(r) for r in theirs) < 12 <= max(len(r) for r in theirs)


def test_beam_4_tokens_equal_transformers_generate(converted):
    reference, model, tokens, images = converted
    theirs = _theirs(reference, images, max_new_tokens=12, num_beams=4, do_sample=False)
    ours = _ours(model, tokens, images, method="beam", beam_size=4, max_length=12)
    assert ours == theirs
    assert ours != _ours(model, tokens, images, method="greedy", max_length=12)


def test_the_model_config_round_trips(tmp_path):
    import keras

    make_checkpoint(tmp_path / "ckpt")
    model, _ = load_pix2struct_checkpoint(tmp_path / "ckpt")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert again.decoder.get_config() == model.decoder.get_config()
    assert again.encoder.get_config() == model.encoder.get_config()
    assert len(again.weights) == len(model.weights)
