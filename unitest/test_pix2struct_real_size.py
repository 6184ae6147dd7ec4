"""Pix2Struct at the size of google/pix2struct-base (12 + 12 layers of 768, vocabulary 50244;
random weights in the released file layout): converted with every parameter placed, its
encoder states and logits equal transformers' within 1e-4, and its greedy and beam-4 tokens
equal ``generate``'s, each side from its own preprocessing of the same images (256 patches
per image here, to keep the test short; the patch count is an input, not a weight)."""

import numpy as np
import pytest
import torch
from pix2struct_checkpoint import EOS, hf_patches, photo_like
from transformers import Pix2StructConfig, Pix2StructForConditionalGeneration

from tfcaption.data.pix2struct_patches import flattened_patches
from tfcaption.models.pix2struct.pix2struct_checkpoint import load_pix2struct_checkpoint

pytestmark = pytest.mark.slow
MAX_PATCHES = 256
SHARPEN = 30.0  # lm_head x this: sharper next-token distributions, captions end early


@pytest.fixture(scope="module")
def base_size(tmp_path_factory):
    path = tmp_path_factory.mktemp("pix2struct_base") / "ckpt"
    torch.manual_seed(0)
    reference = Pix2StructForConditionalGeneration(Pix2StructConfig()).eval()
    with torch.no_grad():
        reference.decoder.lm_head.weight.mul_(SHARPEN)
    reference.save_pretrained(path)
    model, tokens = load_pix2struct_checkpoint(path)
    images = [photo_like(90, 200, seed=1), photo_like(240, 120, seed=2)]
    return reference, model, tokens, images


def test_parameters_encoder_states_and_logits(base_size):
    reference, model, _, images = base_size
    assert model.decoder.vocabulary_size == 50244 and model.encoder.hidden_dim == 768
    assert model.count_params() == sum(p.numel() for p in reference.parameters())
    patches, mask = hf_patches(images, MAX_PATCHES)
    ids = np.array([[0, 37, 1001, 50000], [0, 5, 9, 12]])
    with torch.no_grad():
        theirs = reference(flattened_patches=torch.from_numpy(patches),
                           attention_mask=torch.from_numpy(mask),
                           decoder_input_ids=torch.from_numpy(ids))
    states = np.asarray(model.encode(patches, mask))
    np.testing.assert_allclose(states, theirs.encoder_last_hidden_state.numpy(), atol=1e-4,
                               rtol=1e-4)
    logits = np.asarray(model.decode(states, mask, ids, np.ones_like(ids)))
    # the logits of the initialised (unsharpened) head: both sides' divided by SHARPEN
    np.testing.assert_allclose(logits / SHARPEN, theirs.logits.numpy() / SHARPEN, atol=1e-4,
                               rtol=1e-4)


@pytest.mark.parametrize("num_beams", [1, 4])
def test_generated_tokens_equal_transformers(base_size, num_beams):
    reference, model, tokens, images = base_size
    patches, mask = hf_patches(images, MAX_PATCHES)
    with torch.no_grad():
        theirs = reference.generate(flattened_patches=torch.from_numpy(patches),
                                    attention_mask=torch.from_numpy(mask), max_new_tokens=8,
                                    num_beams=num_beams, do_sample=False).numpy()
    ours_patches = np.stack([flattened_patches(x, MAX_PATCHES)[0] for x in images])
    ours_mask = (ours_patches.sum(-1) != 0).astype("float32")
    decoding = ({"method": "greedy"} if num_beams == 1
                else {"method": "beam", "beam_size": num_beams})
    result = model.generate_ids(model.encode(ours_patches, ours_mask), ours_mask,
                                tokens.decoder_start,
                                {**decoding, "max_length": 8, "stop_token_ids": (EOS,)})
    ours = [list(result.token_ids.numpy()[b, 0, :result.lengths.numpy()[b, 0]])
            for b in range(len(images))]
    expected = []
    for row in theirs:
        row = list(row[1:])
        expected.append(row[:row.index(EOS) + 1] if EOS in row else row)
    assert ours == expected
    assert len({tuple(row) for row in expected}) == 2  # the two images differ
