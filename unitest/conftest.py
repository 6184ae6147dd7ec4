"""Shared fixtures: a small ``shapes`` dataset in the common form."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tfcaption.data import shapes  # noqa: E402
from tfcaption.data.dataset_writer import DatasetWriter  # noqa: E402


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory):
    """40 train / 8 val / 8 test shapes images at 64 px."""
    out = str(tmp_path_factory.mktemp("shapes"))
    DatasetWriter(out, "shapes").write(shapes.generate(40, 8, 8, image_size=64, seed=3),
                                       verbose=False)
    return out


@pytest.fixture(scope="session")
def shipped_captioners():
    """The shipped ``clipcap_shapes`` and ``wgan_shapes`` captioners (two families),
    loaded once: name -> ``(model dir, captioner)``."""
    from tfcaption.models.load_captioner import load_captioner

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "pretrained_models")
    dirs = {name: os.path.join(root, name) for name in ("clipcap_shapes", "wgan_shapes")}
    return {name: (path, load_captioner(path)) for name, path in dirs.items()}
