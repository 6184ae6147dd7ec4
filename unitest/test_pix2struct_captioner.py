"""A released-layout Pix2Struct dir converts into a captioner that reads the processor's
patch settings and the SentencePiece tokenizer, and captions image files with the token
ids transformers' ``generate`` gives from its own processor's patches of the same files."""

import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from pix2struct_checkpoint import EOS, hf_patches, make_tiny_hf_pix2struct, photo_like

from tfcaption.data.patch_preprocessor import PatchPreprocessor
from tfcaption.models.pix2struct.pix2struct_convert import (convert_pix2struct,
                                                            read_patch_processor)

SIZES = [(40, 90), (120, 30), (64, 48)]


@pytest.fixture(scope="module")
def hf_dir(shapes_dir, tmp_path_factory):
    return make_tiny_hf_pix2struct(str(tmp_path_factory.mktemp("p2s") / "hf"), shapes_dir,
                                   seed=4)


def test_captions_of_image_files_equal_transformers_generate(hf_dir, tmp_path):
    from transformers import Pix2StructForConditionalGeneration

    captioner = convert_pix2struct(hf_dir, jit_compile=False)
    assert captioner.preprocessor.get_config() == PatchPreprocessor(24, 16).get_config()
    images = [photo_like(h, w, seed=10 + i) for i, (h, w) in enumerate(SIZES)]
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    ours = captioner.generate(paths, return_ids=True, max_length=10)["token_ids"]
    reference = Pix2StructForConditionalGeneration.from_pretrained(hf_dir).eval()
    patches, mask = hf_patches(images, 24)
    with torch.no_grad():
        theirs = reference.generate(flattened_patches=torch.from_numpy(patches),
                                    attention_mask=torch.from_numpy(mask), max_new_tokens=10,
                                    do_sample=False, num_beams=1).numpy()
    for row, their_row in zip(ours, theirs):
        their_row = list(their_row[1:])
        their_row = their_row[:their_row.index(EOS) + 1] if EOS in their_row else their_row
        assert list(row[0]) == their_row
    texts = captioner.generate(paths, max_length=10)
    tokenizer = captioner.tokenizer
    assert texts == [t.decode() for t in tokenizer.detokenize(
        [[i for i in r[0] if i != EOS] for r in ours]).numpy()]


def test_processor_settings_in_both_layouts_and_refusals(hf_dir, tmp_path):
    assert read_patch_processor(hf_dir).max_patches == 24
    new = tmp_path / "new"
    new.mkdir()
    (new / "processor_config.json").write_text(json.dumps(
        {"image_processor": {"max_patches": 512, "patch_size": {"height": 8, "width": 8},
                             "do_normalize": False}}))
    assert read_patch_processor(new).get_config() == PatchPreprocessor(512, 8, False)\
        .get_config()
    assert read_patch_processor(tmp_path).max_patches == 2048  # no file: HF's defaults
    (new / "processor_config.json").write_text(json.dumps({"is_vqa": True}))
    with pytest.raises(ValueError, match="processor_config.json: is_vqa"):
        read_patch_processor(new)
    (new / "processor_config.json").write_text(json.dumps(
        {"patch_size": {"height": 16, "width": 8}}))
    with pytest.raises(ValueError, match="not square"):
        read_patch_processor(new)


def test_a_dir_whose_patches_or_tokenizer_do_not_fit_is_named(hf_dir, tmp_path):
    copy = str(tmp_path / "copy")
    shutil.copytree(hf_dir, copy)
    with open(os.path.join(copy, "preprocessor_config.json")) as f:
        settings = json.load(f)
    settings["patch_size"] = {"height": 8, "width": 8}
    with open(os.path.join(copy, "preprocessor_config.json"), "w") as f:
        json.dump(settings, f)
    with pytest.raises(ValueError, match="patches of 8 px have 192 values but the encoder "
                                         "projects 768"):
        convert_pix2struct(copy)
    os.remove(os.path.join(copy, "spiece.model"))
    with pytest.raises(FileNotFoundError, match="spiece.model"):
        convert_pix2struct(copy)


def test_images_arrays_give_the_patches_of_their_files(hf_dir, tmp_path):
    captioner = convert_pix2struct(hf_dir, jit_compile=False)
    image = photo_like(50, 70, seed=3)
    Image.fromarray(image).save(tmp_path / "x.png")
    from_file = captioner.feature_inputs([str(tmp_path / "x.png")])
    from_array = captioner.feature_inputs(image[None].astype("float32"))
    np.testing.assert_allclose(from_array.numpy(), from_file.numpy(), atol=1e-5)
    assert from_file.shape == (1, 24, 2 + 16 * 16 * 3)
