"""The error of a corrupt dataset file, shared by the dataset loaders and the IUV image files, and
the image decoder that raises it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["CorruptDataError", "decode_image"]


class CorruptDataError(ValueError):
    """A corrupt image or a malformed record in an official dataset (the message says which)."""


def decode_image(path: str | Path, what: str, mode: str | None = None) -> tuple[np.ndarray, str]:
    """Decode an image file with PIL (now: truncated files fail here, not later).

    Args:
        path: the file.
        what: what it holds, for the error message (``"image"``, ``"IUV image"``, ...).
        mode: convert to this PIL mode (e.g. ``"RGB"``) first; None keeps the stored one.

    Returns:
        (H, W[, C]) writable array of the pixels, and the file's PIL mode (before conversion).

    Raises:
        FileNotFoundError: no such file.
        CorruptDataError: the file cannot be decoded ("<path>: cannot decode the <what> (<why>)").
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(str(path))
    try:
        with Image.open(path) as im:
            im.load()
            return np.array(im.convert(mode) if mode else im), im.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise CorruptDataError(f"{path}: cannot decode the {what} ({err})") from err
