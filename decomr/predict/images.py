"""Reading user images and turning every supported image type into one layout.

The predictor accepts file paths, PIL images, numpy arrays (H, W, 3) / (H, W) / (H, W, 4) in the
PIL/OpenCV layout (uint8 in 0..255 or float in [0, 1]; RGB order — convert OpenCV's BGR first) and
torch tensors (3, H, W) / (B, 3, H, W) float in [0, 1] or (H, W, 3) uint8. Internally every image
is a (3, H, W) tensor: float32 in [0, 1], or, where the caller asks for it (``keep_uint8``), uint8
as it was read — a 24-megapixel photo is then 72 MB instead of 288 MB until it is cropped.

>>> import numpy as np
>>> as_image_list(np.zeros((40, 60, 3), dtype=np.uint8))[0].shape
torch.Size([3, 40, 60])
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["IMAGE_SUFFIXES", "ImageReadError", "read_image", "list_images", "as_image_list"]

#: File suffixes treated as images in folder mode.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


class ImageReadError(ValueError):
    """An image file exists but cannot be decoded; the message names the file."""


#: Suffixes decoded by torchvision straight into one uint8 buffer (PIL's route holds ~3 copies
#: of a big photo at once: 230 MB vs 73 MB for 24 megapixels, measured).
_TORCHVISION_SUFFIXES = (".jpg", ".jpeg", ".png")


def _decode_torchvision(path: Path) -> np.ndarray | None:
    """(H, W, 3) uint8 via ``torchvision.io.decode_image`` (EXIF orientation applied), or None when
    torchvision cannot decode the file exactly as PIL would (16-bit PNG, an unusual JPEG): the
    caller falls back to PIL, which also gives the error message for corrupt files.

    torchvision 0.29 marks its image codecs deprecated (in favour of TorchCodec, which needs
    FFmpeg libraries); with the pinned version they work, and a torchvision without them only
    means PIL's route.
    """
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import ImageReadMode, decode_image, read_file

            t = decode_image(read_file(str(path)), mode=ImageReadMode.RGB, apply_exif_orientation=True)
    except (ImportError, RuntimeError, ValueError, OSError):
        return None
    if t.dtype != torch.uint8 or t.dim() != 3 or t.shape[0] != 3:
        return None
    return t.permute(1, 2, 0).numpy()  # torchvision decodes channels-last: a view, no copy


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB, applying its EXIF orientation (photos from phones).

    JPEG and PNG files are decoded by torchvision (one buffer, the same pixels as PIL's), other
    formats by PIL.

    Args:
        path: the file.

    Returns:
        (H, W, 3) uint8 numpy array.

    Raises:
        FileNotFoundError: no such file.
        ImageReadError: not an image PIL can decode (the message says which formats work).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    if path.suffix.lower() in _TORCHVISION_SUFFIXES:
        arr = _decode_torchvision(path)
        if arr is not None:
            return arr
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ImageReadError(f"{path}: cannot read this image ({type(err).__name__}: {err}); use a JPEG, PNG, BMP, "
                             "TIFF or WebP file") from err


def list_images(folder: str | Path) -> list[Path]:
    """The image files directly in ``folder`` (by suffix, sorted by name; hidden files skipped)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


_CHANNELS = (1, 3, 4)


def _check_layout(shape: tuple[int, ...], name: str, channels_last: bool) -> None:
    """Reject a 3D shape that reads as both (C, H, W) and (H, W, C), e.g. (3, 100, 3).

    Guessing would silently turn a 100 x 3 picture into a 3 x 100 one (or worse); the message
    names the shape the caller passed and how to say which layout is meant.
    """
    if len(shape) == 3 and shape[0] in _CHANNELS and shape[2] in _CHANNELS:
        kind = "numpy array" if channels_last else "tensor"
        raise ValueError(
            f"{name}: a {kind} of shape {tuple(shape)} is ambiguous: it reads as (channels, H, W) and as (H, W, "
            "channels). Pass numpy arrays as (H, W, 3) and tensors as (3, H, W) or (B, 3, H, W), with H and W "
            "larger than 4 (an image that small holds no person anyway).")


def _array_to_tensor(arr: np.ndarray, name: str, decoded: bool = False, keep_uint8: bool = False) -> torch.Tensor:
    """(H, W), (H, W, 1|3|4) numpy (uint8 or float in [0, 1]) -> (3, H, W) float32.

    ``decoded``: the array comes from an image file or a PIL image (surely channels-last), not
    from the caller, so its layout is not questioned. ``keep_uint8``: uint8 pixels come back as a
    (3, H, W) uint8 view of the array (channels-last in memory, no copy).
    """
    if not decoded:
        _check_layout(arr.shape, name, channels_last=True)
    if not decoded and arr.ndim == 3 and arr.shape[0] in _CHANNELS and arr.shape[2] not in _CHANNELS:
        raise ValueError(f"{name}: a numpy array of shape {arr.shape} looks channels-first; numpy images are "
                         "channels-last (H, W, 3): pass arr.transpose(1, 2, 0), or a torch tensor (3, H, W)")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"{name}: expected a numpy image (H, W), (H, W, 3) or (H, W, 4), got shape {arr.shape}")
    arr = arr[..., :3] if arr.shape[2] == 4 else np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
    if not arr.flags.writeable:
        arr = arr.copy()  # PIL's arrays are read-only; torch warns on those
    if arr.dtype == np.uint8 and keep_uint8:
        return torch.from_numpy(arr).permute(2, 0, 1)
    if arr.dtype == np.uint8:  # channels first while 1 byte a pixel, then one float copy scaled in place
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous().float().div_(255.0)
    if np.issubdtype(arr.dtype, np.floating):
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1).contiguous()
    raise ValueError(f"{name}: expected uint8 or float pixels, got dtype {arr.dtype}")


def _tensor_to_list(t: torch.Tensor, name: str, keep_uint8: bool = False) -> list[torch.Tensor]:
    _check_layout(tuple(t.shape), name, channels_last=False)
    if t.dtype == torch.uint8 and t.dim() == 3 and t.shape[-1] in (1, 3) and t.shape[0] not in (1, 3):
        return [_array_to_tensor(t.cpu().numpy(), name, decoded=True, keep_uint8=keep_uint8)]
    if t.dim() == 3:
        t = t[None]
    if t.dim() != 4 or t.shape[1] not in (1, 3):
        raise ValueError(f"{name}: expected a tensor (3, H, W) or (B, 3, H, W), got shape {tuple(t.shape)}")
    if t.dtype != torch.uint8 or not keep_uint8:
        t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    return list(t.unbind(0))


#: Smallest image side accepted (pixels): smaller images cannot be cropped into a person box.
MIN_IMAGE_SIDE = 8


def _check_size(t: torch.Tensor, name: str) -> torch.Tensor:
    h, w = t.shape[-2:]
    if h < MIN_IMAGE_SIDE or w < MIN_IMAGE_SIDE:
        raise ValueError(f"{name}: an image of {w} x {h} pixels (width x height) is too small; expected at least "
                         f"{MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE}")
    return t


def _check_range(t: torch.Tensor, name: str) -> torch.Tensor:
    _check_size(t, name)
    if t.dtype == torch.uint8:
        return t
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: contains NaN or inf")
    lo, hi = float(t.min()), float(t.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{name}: expected float pixels in [0, 1] (or uint8), got values in [{lo:.3g}, {hi:.3g}]; "
                         "divide by 255")
    return t


def as_image_list(images: Any, keep_uint8: bool = False) -> list[torch.Tensor]:
    """Any supported image input -> list of (3, H, W) float32 tensors in [0, 1].

    Args:
        images: one image or a list/tuple of images (paths, PIL images, numpy arrays, tensors),
            or a (B, 3, H, W) tensor.
        keep_uint8: images given as uint8 (files, PIL images, uint8 arrays and tensors) stay
            (3, H, W) uint8 in 0..255 — 4x less memory for big photos; float inputs stay float.

    Returns:
        list of (3, H, W) float32 tensors (uint8 where ``keep_uint8`` applies), on the input's
        device for tensors, else CPU.

    Raises:
        ValueError: unsupported type, shape or value range (the message names the image).
        FileNotFoundError, ImageReadError: a path that cannot be read.
    """
    items: Sequence[Any] = images if isinstance(images, (list, tuple)) else [images]
    if len(items) == 0:
        raise ValueError("images: expected at least one image, got an empty list")
    out: list[torch.Tensor] = []
    for k, item in enumerate(items):
        name = f"images[{k}]" if isinstance(images, (list, tuple)) else "images"
        if isinstance(item, (str, Path)):
            out.append(_check_size(_array_to_tensor(read_image(item), str(item), decoded=True, keep_uint8=keep_uint8),
                                   str(item)))
        elif isinstance(item, np.ndarray):
            out.append(_check_range(_array_to_tensor(item, name, keep_uint8=keep_uint8), name))
        elif torch.is_tensor(item):
            out.extend(_check_range(t, name) for t in _tensor_to_list(item, name, keep_uint8))
        elif hasattr(item, "convert") and hasattr(item, "size"):  # a PIL image
            out.append(_check_size(_array_to_tensor(np.asarray(item.convert("RGB"), dtype=np.uint8), name, decoded=True,
                                                    keep_uint8=keep_uint8), name))
        else:
            raise ValueError(f"{name}: expected a path, PIL image, numpy array or torch tensor, got {type(item).__name__}")
    return out

