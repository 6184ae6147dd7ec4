import os
import stat

import numpy as np
import pytest
from PIL import Image

from tfcaption.evaluation.attention_figure import save_attention_figure

PANEL = 160  # 2 inches at 80 dpi


def _gray(size=64, value=128):
    return np.full((size, size, 3), value, dtype=np.uint8)


def _uniform(t, h=4, w=4):
    return np.full((t, h, w), 1.0 / (h * w))


def _peaked(i, j, h=4, w=4):
    m = np.zeros((h, w))
    m[i, j] = 1.0
    return m


def _pixels(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def test_writes_png_sized_by_panels_and_columns(tmp_path):
    words3 = ["a", "red", "square"]
    words8 = ["a", "small", "red", "square", "above", "a", "circle", "<end>"]
    p3 = save_attention_figure(_gray(), words3, _uniform(3), str(tmp_path / "sub" / "d" / "3.png"))
    p8 = save_attention_figure(_gray(), words8, _uniform(8), str(tmp_path / "8.png"))
    p3c2 = save_attention_figure(_gray(), words3, _uniform(3), str(tmp_path / "3c2.png"),
                                 columns=2)
    assert p3 == str(tmp_path / "sub" / "d" / "3.png")
    assert os.path.getsize(p3) > 0 and os.path.getsize(p8) > 0
    a3, a8, a3c2 = _pixels(p3), _pixels(p8), _pixels(p3c2)
    # 4 panels in one row; 9 panels in two rows of 5; 4 panels in two rows of 2
    assert a3.shape[:2] == (PANEL, 4 * PANEL)
    assert a8.shape[:2] == (2 * PANEL, 5 * PANEL)
    assert a3c2.shape[:2] == (2 * PANEL, 2 * PANEL)
    assert a8.shape[0] > a3.shape[0] and a8.shape[1] > a3.shape[1]
    # no temporary file left behind, and the figure has the usual file permissions
    assert sorted(os.listdir(tmp_path / "sub" / "d")) == ["3.png"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(p3).st_mode) == 0o666 & ~mask


def test_overlay_follows_the_attention(tmp_path):
    words = ["a", "red", "square"]
    rest = _uniform(2)
    top_left = np.concatenate([_peaked(0, 0)[None], rest])
    bottom_right = np.concatenate([_peaked(3, 3)[None], rest])
    a = _pixels(save_attention_figure(_gray(), words, top_left, str(tmp_path / "tl.png")))
    b = _pixels(save_attention_figure(_gray(), words, bottom_right, str(tmp_path / "br.png")))
    assert a.shape == b.shape
    differs = np.any(a != b, axis=2)
    assert differs.sum() > 1000
    # only the first word's map changed: only the second panel differs
    cols = np.flatnonzero(differs.any(axis=0))
    assert cols.min() >= PANEL and cols.max() < 2 * PANEL
    # inside the region that changed (the second panel's image), the attended corner
    # is red ("jet" high) and the opposite corner blue ("jet" low)
    rows = np.flatnonzero(differs.any(axis=1))
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    assert bottom - top > PANEL // 2 and right - left > PANEL // 2
    qh, qw = (bottom - top) // 4, (right - left) // 4

    def corner(img, r, c):
        y0 = top if r == 0 else bottom - qh
        x0 = left if c == 0 else right - qw
        return img[y0:y0 + qh, x0:x0 + qw].reshape(-1, 3).mean(axis=0)

    red, blue = 0, 2
    a_tl, a_br, b_tl, b_br = corner(a, 0, 0), corner(a, 1, 1), corner(b, 0, 0), corner(b, 1, 1)
    assert a_tl[red] > a_br[red] + 40 and a_br[blue] > a_tl[blue] + 20
    assert b_br[red] > b_tl[red] + 40 and b_tl[blue] > b_br[blue] + 20
    # the attended corner of one looks like the attended corner of the other
    assert np.abs(a_tl - b_br).max() < 10 and np.abs(a_br - b_tl).max() < 10


def test_mismatched_lengths_name_both_numbers(tmp_path):
    out = tmp_path / "x.png"
    with pytest.raises(ValueError, match=r"3 words.*4 maps"):
        save_attention_figure(_gray(), ["a", "b", "c"], _uniform(4), str(out))
    with pytest.raises(ValueError, match=r"rank 3.*\(3, 16\)"):
        save_attention_figure(_gray(), ["a", "b", "c"], np.full((3, 16), 1 / 16), str(out))
    with pytest.raises(ValueError, match="columns"):
        save_attention_figure(_gray(), ["a"], _uniform(1), str(out), columns=0)
    assert not out.exists()


def test_accepts_a_path_or_an_array_alike(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    src = tmp_path / "img.png"
    Image.fromarray(img).save(src)
    att = rng.random((2, 3, 4))
    att /= att.sum(axis=(1, 2), keepdims=True)
    words = ["dog", "<end>"]
    from_path = _pixels(save_attention_figure(str(src), words, att, str(tmp_path / "p.png")))
    from_array = _pixels(save_attention_figure(img, words, att, str(tmp_path / "a.png")))
    from_float = _pixels(save_attention_figure(img.astype(np.float32), words, att,
                                               str(tmp_path / "f.png"), title="a dog"))
    np.testing.assert_array_equal(from_path, from_array)
    assert from_float.shape == from_array.shape
    # a different title changes the first panel only (its title), not the overlays
    assert np.any(from_float[:, :PANEL] != from_array[:, :PANEL])
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        save_attention_figure(img[..., 0], words, att, str(tmp_path / "g.png"))
