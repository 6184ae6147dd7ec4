"""Every registered captioner family passes the captioner contract (``family_conformance``)."""

import pytest
from family_conformance import run_family_conformance
from pix2struct_checkpoint import make_tiny_pix2struct_dir
from tiny_attend_gan import make_tiny_attend_gan_dir
from tiny_captioner import make_tiny_clipcap_dir
from tiny_gru_captioner import make_tiny_gru_dir
from tiny_show_tell import make_tiny_show_tell_dir
from vit_gpt2_checkpoint import make_tiny_vit_gpt2_dir

from tfcaption.models.families import families

# One tiny model-dir builder per family: a new family adds its own here.
TINY_MODEL_DIRS = {"clipcap": make_tiny_clipcap_dir, "wgan_gru": make_tiny_gru_dir,
                   "show_tell": make_tiny_show_tell_dir, "vit_gpt2": make_tiny_vit_gpt2_dir,
                   "pix2struct": make_tiny_pix2struct_dir, "attend_gan": make_tiny_attend_gan_dir}


def test_every_registered_family_has_a_conformance_run():
    assert sorted(TINY_MODEL_DIRS) == sorted(f.name for f in families())


@pytest.mark.parametrize("family", sorted(TINY_MODEL_DIRS))
def test_family_conformance(family, shapes_dir, tmp_path):
    model_dir = TINY_MODEL_DIRS[family](str(tmp_path / "model"), shapes_dir)
    run_family_conformance(family, model_dir, shapes_dir, tmp_path)
