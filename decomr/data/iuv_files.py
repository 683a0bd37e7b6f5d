"""Files of the ground-truth IUV images (:mod:`decomr.data.render_gt`): the PNG format, where
they go, and how the loader reads them back.

**PNG format** (:func:`iuv_to_uint8`): 8-bit RGB, R = 255 * mask, G = round(255 u),
B = round(255 v), black background; u, v are exact to 0.5 / 255. It differs on purpose from the
official DecoMR files (written by OpenCV as B = mask in {0, 1}, G = u, R = v, in the official SMPL
UV layout), which decomr does not read: their UV layout is not one of decomr's atlases.

**Layout** (``root`` = the dataset folder, ``data/datasets/<name>``)::

    <root>/<name>_<split>_iuv_<atlas>.npz                 the dataset file + ``iuv_names``
    <root>/iuv_<atlas>/<imgname without extension>_<cx>_<cy>.png

>>> iuv = torch.zeros(3, 2, 2); iuv[:, 0, 1] = torch.tensor([1.0, 0.25, 0.5])
>>> iuv_to_uint8(iuv)[0, 1].tolist()
[255, 64, 128]
>>> relative_png_path("images/im0001.jpg", np.array([60.4, 81.6])).as_posix()
'images/im0001_60_82.png'
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from decomr.data.errors import CorruptDataError, decode_image
from decomr.paths import atomic_writer

__all__ = [
    "iuv_to_uint8",
    "save_iuv_png",
    "uint8_to_iuv",
    "load_iuv_png",
    "resize_iuv",
    "scaled_size",
    "iuv_npz_path",
    "relative_png_path",
]


def iuv_to_uint8(iuv: Tensor) -> np.ndarray:
    """(3, H, W) float IUV (:mod:`decomr.conventions`) -> (H, W, 3) uint8 RGB as stored: R = 255 mask, G, B = u, v.

    u and v are rounded to the nearest of 256 levels (error <= 0.5 / 255) and set to 0 outside
    the mask.
    """
    if not torch.is_tensor(iuv) or iuv.dim() != 3 or iuv.shape[0] != 3:
        raise ValueError(f"iuv: expected a (3, H, W) tensor, received {tuple(getattr(iuv, 'shape', ()))}")
    x = iuv.detach().float().cpu()
    mask = x[0] > 0.5  # (H, W)
    uv = torch.where(mask, x[1:].clamp(0, 1), torch.zeros_like(x[1:]))  # (2, H, W)
    out = torch.cat([mask[None].float(), uv]) * 255.0  # (3, H, W)
    return out.round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def save_iuv_png(iuv: Tensor, path: str | Path) -> Path:
    """Write a (3, H, W) IUV image as a PNG (format: :func:`iuv_to_uint8`), atomically."""
    path = Path(path)
    rgb = iuv_to_uint8(iuv)  # (H, W, 3) uint8; a bad input fails before any file is touched
    with atomic_writer(path) as fh:
        Image.fromarray(rgb).save(fh, format="PNG")
    return path


def load_iuv_png(path: str | Path) -> Tensor:
    """Read an IUV PNG written by :func:`save_iuv_png` (or ``decomr render-gt``).

    Returns:
        (3, H, W) float32: channel 0 the mask in {0, 1} (R >= 128), channels 1-2 (u, v) =
        G / 255, B / 255 inside the mask and 0 outside (the IUV image of :mod:`decomr.conventions`).

    Raises:
        FileNotFoundError: no such file.
        CorruptDataError: not decodable, or not an 8-bit RGB image.
    """
    arr, mode = decode_image(path, "IUV image")
    if mode != "RGB" or arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise CorruptDataError(f"{path}: expected an 8-bit RGB IUV image (R = mask, G = u, B = v) written by "
                               f"`decomr render-gt`, got mode {mode!r} with shape {arr.shape}")
    return uint8_to_iuv(arr)


def uint8_to_iuv(arr: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 RGB as stored -> (3, H, W) float32 IUV: the inverse of :func:`iuv_to_uint8`.

    The mask is ``R >= 128``; (u, v) = (G, B) / 255 inside it and 0 outside.
    """
    arr = np.asarray(arr)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"rgb: expected (H, W, 3) uint8, got {arr.shape} {arr.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float()  # (3, H, W)
    mask = (t[0] >= 128).float()  # (H, W)
    return torch.cat([mask[None], t[1:] / 255.0 * mask]).contiguous()  # (3, H, W)


def resize_iuv(iuv: Tensor, size: tuple[int, int]) -> Tensor:
    """Bring an IUV image rendered with a ``res`` cap back to its image's size (nearest pixel).

    Args:
        iuv: (3, h, w) float.
        size: (H, W) of the image.

    Returns:
        (3, H, W); ``iuv`` itself when the sizes agree.

    Raises:
        CorruptDataError: the aspect ratios disagree by more than a rounding pixel (an IUV image
            of another image).
    """
    h, w = int(iuv.shape[-2]), int(iuv.shape[-1])
    H, W = int(size[0]), int(size[1])
    if (h, w) == (H, W):
        return iuv
    if h > H or w > W or abs(h * W / w - H) > W / w + 1e-9 or abs(w * H / h - W) > H / h + 1e-9:
        raise CorruptDataError(f"IUV image of size {h}x{w} does not belong to an image of size {H}x{W} "
                               "(not the same aspect ratio, or larger): re-render it (decomr render-gt)")
    return F.interpolate(iuv[None], size=(H, W), mode="nearest-exact")[0]


def scaled_size(hw: tuple[int, int], res: int | None) -> tuple[int, int]:
    """(h, w): ``hw`` = (H, W) with its longer side capped at ``res`` (aspect kept, never enlarged).

    >>> scaled_size((1000, 500), 250), scaled_size((96, 128), None), scaled_size((96, 128), 500)
    ((250, 125), (96, 128), (96, 128))
    """
    H, W = hw
    if res is None or max(H, W) <= res:
        return H, W
    f = res / max(H, W)
    return max(1, round(H * f)), max(1, round(W * f))


def iuv_npz_path(root: str | Path, name: str, split: str, atlas: str) -> Path:
    """``<root>/<name>_<split>_iuv_<atlas>.npz``: the dataset file with ``iuv_names``."""
    return Path(root) / f"{name}_{split}_iuv_{atlas}.npz"


def relative_png_path(imgname: str, center: np.ndarray) -> PurePosixPath:
    """``<imgname without extension>_<cx>_<cy>.png``, cx, cy = the rounded crop centre (the official
    naming: it separates the people of one image); ``..`` and leading ``/`` are dropped so that
    the path stays inside the output folder."""
    parts = [p for p in PurePosixPath(str(imgname).replace("\\", "/")).parts if p not in ("/", "..", ".")]
    if not parts:
        parts = ["image"]
    stem = PurePosixPath(*parts).with_suffix("")
    cx, cy = (int(v) for v in np.round(center).astype(np.int64))
    return stem.with_name(f"{stem.name}_{cx}_{cy}.png")
