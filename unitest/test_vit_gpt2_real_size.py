"""ViT-GPT2 at the real size of nlpconnect/vit-gpt2-image-captioning (ViT-B/16 at 224 px
with LayerNorm eps 1e-12, GPT-2 124M with cross-attention; random weights in the released
file layout): converted, its encoder states and logits equal transformers' within 1e-4, and
its greedy and beam-4 tokens (the model card's max_length 16) equal ``generate``'s."""

import json

import numpy as np
import pytest
import torch
from transformers import (GPT2Config, ViTConfig, VisionEncoderDecoderConfig,
                          VisionEncoderDecoderModel)

from tfcaption.models.vit_gpt2.vit_gpt2_checkpoint import load_vision_encoder_decoder

pytestmark = pytest.mark.slow
END = 50256


def _real_size(path, decoder_scale):
    torch.manual_seed(0)
    decoder = GPT2Config(add_cross_attention=True, is_decoder=True, bos_token_id=END,
                         eos_token_id=END, pad_token_id=END, decoder_start_token_id=END)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        ViTConfig(layer_norm_eps=1e-12, qkv_bias=True), decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = END
    reference = VisionEncoderDecoderModel(config).eval()
    with torch.no_grad():
        for parameter in reference.decoder.parameters():
            parameter.mul_(decoder_scale)
    reference.save_pretrained(path)
    assert json.loads((path / "config.json").read_text())["encoder"]["hidden_size"] == 768
    model, tokens = load_vision_encoder_decoder(path)
    images = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype("float32")
    return reference, model, tokens, images


@pytest.fixture(scope="module")
def real_size(tmp_path_factory):
    """As initialised by transformers (logits of a few units)."""
    return _real_size(tmp_path_factory.mktemp("vit_gpt2_real") / "ckpt", 1.0)


@pytest.fixture(scope="module")
def sharp(tmp_path_factory):
    """The decoder's weights x3: sharper next-token distributions, so captions vary and
    end before the length limit."""
    return _real_size(tmp_path_factory.mktemp("vit_gpt2_sharp") / "ckpt", 3.0)


def test_parameters_encoder_states_and_logits(real_size):
    reference, model, _, images = real_size
    assert model.projection is None  # both 768 wide
    pooler = sum(p.numel() for p in reference.encoder.pooler.parameters())  # unused
    assert model.count_params() == sum(p.numel() for p in reference.parameters()) - pooler
    ids = np.array([[END, 64, 2068, 7586], [END, 318, 257, 3797]])
    with torch.no_grad():
        theirs = reference(pixel_values=torch.from_numpy(images.transpose(0, 3, 1, 2)),
                           decoder_input_ids=torch.from_numpy(ids))
    states = np.asarray(model.encoder(images))
    np.testing.assert_allclose(states, theirs.encoder_last_hidden_state.numpy(), atol=1e-4,
                               rtol=1e-4)
    logits = np.asarray(model.decode(model.encode(images), ids.astype("int32"),
                                     np.ones_like(ids, "int32")))
    np.testing.assert_allclose(logits, theirs.logits.numpy(), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("num_beams", [1, 4])
def test_generated_tokens_equal_transformers(sharp, num_beams):
    reference, model, tokens, images = sharp
    with torch.no_grad():
        theirs = reference.generate(
            pixel_values=torch.from_numpy(images.transpose(0, 3, 1, 2)), max_length=16,
            num_beams=num_beams, do_sample=False).numpy()
    decoding = ({"method": "greedy"} if num_beams == 1
                else {"method": "beam", "beam_size": num_beams})
    result = model.generate_ids(model.encode(images), tokens.decoder_start,
                                {**decoding, "max_length": 15, "stop_token_ids": (END,)})
    ours = [list(result.token_ids.numpy()[b, 0, :result.lengths.numpy()[b, 0]])
            for b in range(len(images))]
    expected = []
    for row in theirs:
        row = list(row[1:])
        expected.append(row[:row.index(END) + 1] if END in row else row)
    assert ours == expected
    assert len({tuple(row) for row in expected}) == 2  # the two images differ
