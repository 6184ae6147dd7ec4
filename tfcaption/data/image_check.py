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
    ``empty_image``, ``corrupt_image``, ``truncated_image`` or
    ``undecodable_image`` (PIL reads it, TensorFlow's decoder does not, e.g. a
    PNG cut before its end chunk). ``needs_reencode`` is True when the image is
    valid but in a format or colour mode that TensorFlow cannot decode to RGB
    correctly (e.g. WebP, TIFF, CMYK JPEG, paletted or 1-bit BMP).

    ``full`` decodes the whole image once, with the decoder the pipeline uses
    (PIL for images that will be re-encoded, and to tell why a decode failed);
    otherwise only the header is checked.
    """
    if data is None:
        if not os.path.isfile(path):
            return "missing_image", False
        if os.path.getsize(path) == 0:
            return "empty_image", False
    elif len(data) == 0:
        return "empty_image", False
    reason, fmt, mode = _pil_check(path, data, "header")
    if reason is not None:
        return reason, False
    reencode = (fmt not in TF_FORMATS or mode not in TF_MODES
                or (fmt == "BMP" and mode not in ("RGB", "RGBA")))
    if not full:
        return _pil_check(path, data, "verify")[0], reencode
    if reencode:
        return _pil_check(path, data, "load")[0], True
    if _tf_decodes(path, data):
        return None, False
    return _pil_check(path, data, "load")[0] or "undecodable_image", False


def _pil_check(path: Optional[str], data: Optional[bytes], how: str):
    """``(reason, format, mode)`` after opening with PIL and, per ``how``, verify or load."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path if data is None else io.BytesIO(data)) as im:
                fmt, mode = im.format, im.mode
                if how == "load":
                    im.load()
                elif how == "verify":
                    im.verify()
    except OSError as e:
        return ("truncated_image" if "truncated" in str(e) else "corrupt_image"), None, None
    except (SyntaxError, ValueError, Image.DecompressionBombError):
        return "corrupt_image", None, None
    return None, fmt, mode


def _tf_decodes(path: Optional[str], data: Optional[bytes]) -> bool:
    """Whether the pipeline's decoder (tfcaption.data.image_ops) reads the image."""
    import tensorflow as tf

    from tfcaption.data.image_ops import decode_image

    if data is None:
        with open(path, "rb") as f:
            data = f.read()
    try:
        decode_image(tf.constant(data))
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError):
        return False
    return True


def reencode_png(path: Optional[str] = None, data: Optional[bytes] = None) -> bytes:
    """Decodes any PIL-readable image and returns it as RGB(A) PNG bytes."""
    with Image.open(path if data is None else io.BytesIO(data)) as im:
        im = im.convert("RGBA" if "A" in im.mode else "RGB")
        out = io.BytesIO()
        im.save(out, format="PNG")
    return out.getvalue()
