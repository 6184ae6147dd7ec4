"""Checks that an encoded image is complete and decodable before it enters a dataset."""

import io
import os
import warnings
from typing import Optional, Tuple

from PIL import Image

# Formats tf.io.decode_image reads; anything else is re-encoded as PNG.
TF_FORMATS = ("JPEG", "PNG", "GIF", "BMP")
# Modes that tf decoders turn into RGB correctly.
TF_MODES = ("1", "L", "LA", "P", "RGB", "RGBA")


def check_image(path: Optional[str] = None, data: Optional[bytes] = None,
                full: bool = True) -> Tuple[Optional[str], bool]:
    """Returns ``(reason, needs_reencode)``.

    ``reason`` is None for a good image, else one of ``missing_image``,
    ``empty_image``, ``corrupt_image``, ``truncated_image``. ``needs_reencode``
    is True when the image is valid but in a format or colour mode that
    TensorFlow cannot decode to RGB (e.g. WebP, TIFF, CMYK JPEG).
    """
    if data is None:
        if not os.path.isfile(path):
            return "missing_image", False
        if os.path.getsize(path) == 0:
            return "empty_image", False
        source = path
    else:
        if len(data) == 0:
            return "empty_image", False
        source = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(source) as im:
                fmt, mode = im.format, im.mode
                if full:
                    im.load()
                else:
                    im.verify()
    except OSError as e:
        if "truncated" in str(e):
            return "truncated_image", False
        return "corrupt_image", False
    except (SyntaxError, ValueError, Image.DecompressionBombError):
        return "corrupt_image", False
    return None, (fmt not in TF_FORMATS or mode not in TF_MODES)


def reencode_png(path: Optional[str] = None, data: Optional[bytes] = None) -> bytes:
    """Decodes any PIL-readable image and returns it as RGB(A) PNG bytes."""
    with Image.open(path if data is None else io.BytesIO(data)) as im:
        im = im.convert("RGBA" if "A" in im.mode else "RGB")
        out = io.BytesIO()
        im.save(out, format="PNG")
    return out.getvalue()
