"""ClipModel with ``vision_type="resnet"``: OpenAI's ModifiedResNet as the image tower."""

import numpy as np
import pytest
import torch

from tfcaption.backbones.clip_loader import load_clip, save_clip
from tfcaption.backbones.clip_model import ClipModel
from tfcaption.backbones.clip_resnet import ClipResNet
from tfcaption.backbones.clip_resnet_loader import assign_clip_resnet_weights
from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.data.image_preprocessor import ImagePreprocessor
from tfcaption.tokenizers.clip_tokenizer import ClipTokenizer
from test_clip_loader import write_clip_vocab
from torch_modified_resnet import ModifiedResNet, randomize

TINY = dict(vision_type="resnet", vision_stage_blocks=[1, 2, 1, 1], vision_width=8,
            vision_heads=4, vision_image_size=64, text_vocabulary_size=300,
            text_embedding_dim=32, text_hidden_dim=32, text_num_layers=1, text_num_heads=4,
            text_intermediate_dim=64, text_max_sequence_length=12, projection_dim=16,
            eos_token_id=299)


def _images(seed=0):
    return np.random.default_rng(seed).standard_normal((2, 64, 64, 3)).astype(np.float32)


def test_image_embedding_is_the_openai_modified_resnet_output():
    model = ClipModel(**TINY)
    assert isinstance(model.vision_encoder, ClipResNet)
    assert not hasattr(model, "visual_projection")  # the attention pool projects itself
    torch.manual_seed(0)
    reference = randomize(ModifiedResNet(layers=(1, 2, 1, 1), output_dim=16, heads=4,
                                         input_resolution=64, width=8), seed=3).eval()
    assign_clip_resnet_weights(model.vision_encoder,
                               {f"visual.{k}": v for k, v in reference.state_dict().items()})
    images = _images()
    with torch.no_grad():
        want = reference(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).numpy()
    got = np.asarray(model.encode_image(images))
    assert got.shape == (2, 16) and float(np.std(want)) > 0
    np.testing.assert_allclose(got, want, atol=1e-4 * float(np.abs(want).max()))
    out = model({"images": images, "token_ids": np.array([[1, 5, 299, 299]] * 3)})
    assert out["logits_per_image"].shape == (2, 3)


def test_config_and_model_dir_round_trip(tmp_path):
    model = ClipModel(**TINY)
    config = model.get_config()
    assert {k: config[k] for k in TINY} == TINY
    clone = ClipModel.from_config(config)
    assert clone.get_config() == config and clone.count_params() == model.count_params()
    tok = str(tmp_path / "tok")
    write_clip_vocab(tok)
    tokenizer = ClipTokenizer.from_directory(tok)
    config = dict(TINY, text_vocabulary_size=tokenizer.vocabulary_size(),
                  eos_token_id=tokenizer.end_token_id)
    model = ClipModel(**config)
    model.encode_image(_images(), training=True)  # moves the batch-norm statistics
    loaded = LoadedBackbone(model=model, model_type="clip", tokenizer=tokenizer, config=config,
                            preprocessor=ImagePreprocessor("clip", 64))
    again = load_clip(save_clip(loaded, str(tmp_path / "clip")))
    assert again.config == config and again.model.vision_type == "resnet"
    images = _images(1)
    np.testing.assert_array_equal(np.asarray(again.model.encode_image(images)),
                                  np.asarray(model.encode_image(images)))


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="vision_type 'cnn'"):
        ClipModel(**dict(TINY, vision_type="cnn"))
    with pytest.raises(ValueError, match="multiple of 32"):
        ClipModel(**dict(TINY, vision_image_size=48))
    with pytest.raises(ValueError, match="batch norms"):
        ClipModel(**TINY).vision_layer_norms()
