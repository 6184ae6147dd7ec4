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
