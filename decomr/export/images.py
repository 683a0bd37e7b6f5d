"""PNG writers: plain RGB images and IUV images in a lossless-enough 8-bit encoding.

IUV PNG encoding (re-read by :func:`read_iuv_png`): an 8-bit RGB image with
``R = 255 * I`` (foreground), ``G = round(255 * u)``, ``B = round(255 * v)``, i.e. :mod:`decomr.conventions`'
IUV layout (mask, u, v) quantised to 1/255 (DensePose's IUV files use the same 0..255 scaling of
u and v). Background pixels are black.

>>> import torch, tempfile, os
>>> iuv = torch.zeros(3, 4, 4); iuv[:, 1, 1] = torch.tensor([1.0, 0.5, 0.25])
>>> path = write_iuv_png(os.path.join(tempfile.mkdtemp(), "iuv.png"), iuv)
>>> read_iuv_png(path)[:, 1, 1].tolist()
[1.0, 0.501960813999176, 0.250980406999588]
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from decomr.data.iuv_files import iuv_to_uint8, load_iuv_png, save_iuv_png, uint8_to_iuv
from decomr.paths import atomic_write_bytes

__all__ = ["write_png", "encode_iuv", "decode_iuv", "write_iuv_png", "read_iuv_png"]


def _to_uint8_hwc(image) -> np.ndarray:
    """(H, W, 3) float in [0, 1] / uint8, or (3, H, W) tensor -> (H, W, 3) uint8."""
    if torch.is_tensor(image):
        image = image.detach().cpu()
        if image.dim() == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
            image = image.permute(1, 2, 0)
        image = image.numpy()
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(f"image: expected (H, W, 3), (H, W) or (3, H, W), got {arr.shape}")
    if arr.dtype != np.uint8:
        if not np.isfinite(arr).all():
            raise ValueError("image: contains NaN or inf")
        arr = np.clip(np.round(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return arr[..., 0] if arr.shape[2] == 1 else arr


def write_png(path: str | Path, image) -> Path:
    """Write an RGB (or grey) image as PNG, atomically.

    Args:
        path: the ``.png`` file.
        image: (H, W, 3) float in [0, 1] or uint8, (H, W), or a (3, H, W) tensor.

    Returns:
        the path written.
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_to_uint8_hwc(image)).save(buf, format="PNG")
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


#: (3, H, W) IUV (mask, u, v) -> (H, W, 3) uint8: the one codec, :func:`decomr.data.iuv_files.iuv_to_uint8`.
encode_iuv = iuv_to_uint8
#: (H, W, 3) uint8 encoded IUV -> (3, H, W) float IUV (:func:`decomr.data.iuv_files.uint8_to_iuv`).
decode_iuv = uint8_to_iuv
#: Read a PNG written by :func:`write_iuv_png` -> (3, H, W) float (mask, u, v); clear errors for missing or
#: corrupt files (:func:`decomr.data.iuv_files.load_iuv_png`).
read_iuv_png = load_iuv_png


def write_iuv_png(path: str | Path, iuv: torch.Tensor) -> Path:
    """Write a (3, H, W) IUV image as an 8-bit RGB PNG, atomically (:func:`decomr.data.iuv_files.save_iuv_png`)."""
    return save_iuv_png(iuv, path)
