"""The person crop of the official pipeline: box -> (center, scale) -> affine crop to res x res.

DecoMR (like CMR and SPIN, whose ``utils/imutils.py`` it copies) never sees a full image: each
sample is a square crop of side ``200 * scale`` pixels around ``center``, resized to
``res x res`` (224, Sec. 4), optionally rotated and mirrored for augmentation. The same crop is
used by the synthetic dataset, the official dataset loaders (:mod:`decomr.data.official`), the
LSP segmentation evaluation (Table 4, which pastes the predicted crop back into the image) and
the predictor (box or mask of a user image -> crop -> mesh -> back to the image).

Conventions (:mod:`decomr.conventions`):

* **Image pixel coordinates** ``(x, y)``: x = column, y = row, the centre of pixel (row i, col j)
  is at ``(x, y) = (j, i)`` (index coordinates, like OpenCV and the official keypoint
  annotations). ``center`` and box corners are in these coordinates.
* **Crop** of ``center = (cx, cy)`` and ``scale = s``: the square
  ``[cx - 100 s, cx + 100 s] x [cy - 100 s, cy + 100 s]`` (continuous extent) resampled to
  ``res x res``. Rotation ``rot`` (degrees) turns the crop's *content* counter-clockwise on the
  screen (y down), like the official ``rgb_processing``/``get_transform``; ``flip`` mirrors the
  crop left-right after the rotation.
* **Normalised crop coordinates** ``[-1, 1]``: crop pixel ``(row i, col j)`` of an ``H x W`` crop
  has its centre at ``x = (2 j + 1) / W - 1``, ``y = (2 i + 1) / H - 1`` (``grid_sample(...,
  align_corners=False)`` semantics), so that normalised = ``F R(-rot) (p - center) / (100 s)``
  with ``F = diag(-1, 1)`` when flipped. The crop is sampled with ``affine_grid``/``grid_sample``
  (``align_corners=False``), which is exactly this mapping.

Differences from the official code, on purpose: the official keypoint transform truncates to
integer pixels and is half a pixel off the image sampling grid (``transform(pt + 1) ... + 1`` and
PyTorch 1.1's implicit ``align_corners=True``). Here points and images share one exact mapping,
so a dot drawn at a keypoint lands on the keypoint after cropping (tested). Flipping only
mirrors coordinates: swapping left/right joint *labels* (``LSP_FLIP_PERM``, ...) is the
caller's job.

>>> import torch
>>> cs = bbox_to_center_scale(torch.tensor([10., 20., 110., 220.]), rescale=1.2)
>>> cs.center.tolist(), round(cs.scale.item(), 6)
([60.0, 120.0], 1.2)
>>> crop_image(torch.zeros(240, 320, 3, dtype=torch.uint8), cs.center, cs.scale, res=224).shape
torch.Size([3, 224, 224])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from decomr.render.cameras import normalized_to_pixel, pixel_to_normalized

__all__ = [
    "CenterScale",
    "BBOX_RESCALE",
    "bbox_to_center_scale",
    "mask_to_center_scale",
    "points_to_center_scale",
    "crop_transform",
    "invert_affine",
    "apply_affine",
    "transform_points",
    "uncrop_points",
    "pixels_to_normalized",
    "normalized_to_pixels",
    "crop_image",
    "crop_labels",
    "uncrop_image",
]

#: Box padding of the official preprocessing (``scaleFactor = 1.2`` in DecoMR/CMR/SPIN's
#: ``datasets/preprocess/{lsp_dataset,up_3d,pw3d,surreal}.py``): the crop side is 1.2 x the
#: longer side of the person's box. (The official H36M files use 1.0 on the mask box.)
BBOX_RESCALE = 1.2

#: The crop side is ``PIXELS_PER_SCALE * scale`` image pixels (the official "scale = size / 200").
PIXELS_PER_SCALE = 200.0

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence[float], float]


@dataclass(frozen=True)
class CenterScale:
    """A crop in the official ``(center, scale)`` format.

    Attributes:
        center: (2,) or (B, 2) float64, the crop centre ``(x, y)`` in image pixels.
        scale: () or (B,) float64, the crop side divided by 200 pixels.
    """

    center: torch.Tensor
    scale: torch.Tensor

    def __iter__(self):
        """Allow ``center, scale = bbox_to_center_scale(box)``."""
        return iter((self.center, self.scale))


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------
def _as_tensor(value: ArrayLike, name: str, dtype=torch.float64) -> torch.Tensor:
    """A CPU tensor (crop parameters are tiny; maps are moved to the data's device when used)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(device="cpu", dtype=dtype)
    try:
        return torch.as_tensor(np.array(value), dtype=dtype)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected a number or an array, got {type(value).__name__}") from err


def _crop_params(center, scale, rot, flip):
    """Broadcast crop parameters to a batch.

    Returns:
        center (B, 2), scale (B,), rot (B,) float64 CPU tensors; flip (B,) bool; batched (bool)
        whether any parameter carried a batch dimension.
    """
    c = _as_tensor(center, "center")
    if c.dim() not in (1, 2) or c.shape[-1] != 2:
        raise ValueError(f"center: expected shape (2,) or (B, 2), got {tuple(c.shape)}")
    s = _as_tensor(scale, "scale")
    if s.dim() > 1:
        raise ValueError(f"scale: expected a scalar or shape (B,), got {tuple(s.shape)}")
    r = _as_tensor(rot, "rot")
    if r.dim() > 1:
        raise ValueError(f"rot: expected a scalar or shape (B,), got {tuple(r.shape)}")
    f = _as_tensor(flip, "flip", dtype=torch.bool)
    if f.dim() > 1:
        raise ValueError(f"flip: expected a bool or shape (B,), got {tuple(f.shape)}")
    sizes = {t.shape[0] for t, batch_dim in ((c, 2), (s, 1), (r, 1), (f, 1)) if t.dim() == batch_dim}
    batched = bool(sizes)
    if len(sizes) > 1:
        raise ValueError(f"center/scale/rot/flip: batch sizes disagree, got {sorted(sizes)}")
    B = sizes.pop() if sizes else 1
    c = c.reshape(-1, 2).expand(B, 2)
    s, r, f = (t.reshape(-1).expand(B) for t in (s, r, f))
    if not torch.isfinite(c).all():
        raise ValueError("center: contains NaN or inf")
    if not (torch.isfinite(s).all() and (s > 0).all()):
        raise ValueError(f"scale: expected finite values > 0, got {s.tolist()}")
    if not torch.isfinite(r).all():
        raise ValueError("rot: contains NaN or inf")
    return c, s, r, f, batched


def _res_hw(res: int | Sequence[int], name: str = "res") -> tuple[int, int]:
    """``res`` as (H, W): an int is a square."""
    if isinstance(res, (int, np.integer)):
        hw = (int(res), int(res))
    else:
        hw = tuple(int(v) for v in res)
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(f"{name}: expected a positive int or (H, W), got {res!r}")
    return hw


def _rotation_2d(deg: torch.Tensor) -> torch.Tensor:
    """(B,) degrees -> (B, 2, 2) matrices ``[[cos, -sin], [sin, cos]]`` (x right, y down)."""
    rad = torch.deg2rad(deg)
    c, s = torch.cos(rad), torch.sin(rad)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (B, 2, 2)


def _flip_matrix(flip: torch.Tensor) -> torch.Tensor:
    """(B,) bool -> (B, 2, 2) ``diag(-1, 1)`` where flipped, identity elsewhere."""
    d = torch.ones(flip.shape[0], 2, dtype=torch.float64, device=flip.device)
    d[:, 0] = torch.where(flip, -1.0, 1.0)
    return torch.diag_embed(d)


# --------------------------------------------------------------------------------------------
# Boxes -> (center, scale)
# --------------------------------------------------------------------------------------------
def bbox_to_center_scale(box: ArrayLike, rescale: float = BBOX_RESCALE) -> CenterScale:
    """Official crop parameters of a person box.

    ``center`` is the box midpoint and ``scale = rescale * max(width, height) / 200``, so the
    crop is a square of side ``rescale`` times the longer box side (the padding keeps limbs
    that stick out of a tight box; 1.2 in the official preprocessing of LSP, UP-3D, 3DPW and
    SURREAL).

    Args:
        box: (4,) or (B, 4) ``(x_min, y_min, x_max, y_max)`` in image pixels.
        rescale: padding factor (> 0).

    Returns:
        :class:`CenterScale` with center (2,)/(B, 2) and scale ()/(B,), float64.

    Raises:
        ValueError: wrong shape, non-finite values, ``x_max < x_min``, an empty box or
            ``rescale <= 0``.
    """
    b = _as_tensor(box, "box")
    if b.dim() not in (1, 2) or b.shape[-1] != 4:
        raise ValueError(f"box: expected shape (4,) or (B, 4) as (x_min, y_min, x_max, y_max), got {tuple(b.shape)}")
    if not torch.isfinite(b).all():
        raise ValueError("box: contains NaN or inf")
    if not rescale > 0:
        raise ValueError(f"rescale: expected > 0, got {rescale}")
    wh = b[..., 2:] - b[..., :2]  # (..., 2)
    if (wh < 0).any():
        raise ValueError(f"box: expected x_max >= x_min and y_max >= y_min, got {b.tolist()}")
    size = wh.max(dim=-1).values
    if (size <= 0).any():
        raise ValueError(f"box: expected a non-empty box, got {b.tolist()}")
    return CenterScale(center=(b[..., :2] + b[..., 2:]) / 2, scale=rescale * size / PIXELS_PER_SCALE)


def points_to_center_scale(points: ArrayLike, rescale: float = BBOX_RESCALE,
                           visible: ArrayLike | None = None) -> CenterScale:
    """Crop parameters from the box around 2D points (the official recipe for keypoints).

    Args:
        points: (N, 2) image pixels (x, y).
        rescale: padding factor.
        visible: optional (N,) weights/flags; only points with ``visible > 0`` count.

    Returns:
        :class:`CenterScale` (center (2,), scale ()).
    """
    p = _as_tensor(points, "points")
    if p.dim() != 2 or p.shape[-1] != 2:
        raise ValueError(f"points: expected shape (N, 2), got {tuple(p.shape)}")
    if visible is not None:
        v = _as_tensor(visible, "visible")
        if v.shape != p.shape[:1]:
            raise ValueError(f"visible: expected shape ({p.shape[0]},), got {tuple(v.shape)}")
        p = p[v > 0]
    if p.shape[0] == 0:
        raise ValueError("points: no visible point to build a box from")
    box = torch.cat([p.min(0).values, p.max(0).values])
    return bbox_to_center_scale(box, rescale)


def mask_to_center_scale(mask: ArrayLike, rescale: float = BBOX_RESCALE) -> CenterScale:
    """Crop parameters of a person mask (e.g. a user segmentation, or H36M's GT masks).

    The box spans the foreground pixels' full extent: columns ``j_min .. j_max`` cover
    ``[j_min - 0.5, j_max + 0.5]`` in index coordinates, so the centre is ``(j_min + j_max) / 2``
    and the side ``j_max - j_min + 1`` (likewise for rows).

    Args:
        mask: (H, W) bool / {0, 1} / uint8 (non-zero = person).
        rescale: padding factor (the official H36M files use 1.0 on the mask box).

    Returns:
        :class:`CenterScale` (center (2,), scale ()).

    Raises:
        ValueError: not 2D, or no foreground pixel.
    """
    m = mask if isinstance(mask, torch.Tensor) else torch.from_numpy(np.array(mask))
    if m.dim() != 2:
        raise ValueError(f"mask: expected shape (H, W), got {tuple(m.shape)}")
    rows, cols = torch.nonzero(m != 0, as_tuple=True)
    if rows.numel() == 0:
        raise ValueError("mask: has no foreground pixel, cannot build a crop")
    box = torch.stack([cols.min(), rows.min(), cols.max(), rows.max()]).double()
    box = box + torch.tensor([-0.5, -0.5, 0.5, 0.5], dtype=torch.float64)
    return bbox_to_center_scale(box, rescale)


# --------------------------------------------------------------------------------------------
# Affine maps between image pixels and crop pixels
# --------------------------------------------------------------------------------------------
def crop_transform(center: ArrayLike, scale: ArrayLike, res: int | Sequence[int],
                   rot: ArrayLike = 0.0, flip: ArrayLike = False) -> torch.Tensor:
    """The affine map from image pixels to crop pixels (the official ``get_transform``).

    ``crop = A[:, :2] @ p + A[:, 2]`` with
    ``A[:, :2] = (res / (200 s)) F R(-rot)`` and ``A[:, 2] = (res - 1) / 2 - A[:, :2] @ center``.

    Args:
        center: (2,) or (B, 2) image pixels.
        scale: () or (B,), crop side / 200 px.
        res: crop size, int or (H, W).
        rot: () or (B,) degrees, counter-clockwise content rotation.
        flip: bool or (B,) bool, mirror left-right after rotating.

    Returns:
        (2, 3) or (B, 2, 3) float64 affine matrix (B when any argument is batched).
    """
    H, W = _res_hw(res)
    c, s, r, f, batched = _crop_params(center, scale, rot, flip)
    size = torch.tensor([W, H], dtype=torch.float64)  # (2,) x uses W, y uses H
    lin = _flip_matrix(f) @ _rotation_2d(-r)  # (B, 2, 2)
    lin = lin * (size[None, :, None] / (PIXELS_PER_SCALE * s[:, None, None]))  # rows scaled
    t = (size - 1) / 2 - (lin @ c[..., None])[..., 0]  # (B, 2)
    A = torch.cat([lin, t[..., None]], dim=-1)  # (B, 2, 3)
    return A if batched else A[0]


def invert_affine(A: torch.Tensor) -> torch.Tensor:
    """Inverse of a (…, 2, 3) affine map (as a (…, 2, 3) matrix)."""
    if A.shape[-2:] != (2, 3):
        raise ValueError(f"A: expected shape (..., 2, 3), got {tuple(A.shape)}")
    lin_inv = torch.linalg.inv(A[..., :2])  # (..., 2, 2)
    return torch.cat([lin_inv, -(lin_inv @ A[..., 2:])], dim=-1)


def apply_affine(A: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``A[:, :2] @ p + A[:, 2]`` for (…, N, 2) points and a (2, 3) or (B, 2, 3) map."""
    if points.shape[-1] != 2:
        raise ValueError(f"points: expected shape (..., N, 2), got {tuple(points.shape)}")
    if A.dim() == 3 and points.dim() == 2:
        points = points.expand(A.shape[0], *points.shape)
    if A.dim() == 3 and points.dim() != 3:
        raise ValueError(f"points: expected (B, N, 2) for a batched map, got {tuple(points.shape)}")
    A = A.to(device=points.device, dtype=points.dtype)
    lin, t = A[..., :2], A[..., 2]
    if A.dim() == 3:
        return points @ lin.transpose(1, 2) + t[:, None, :]  # (B, N, 2)
    return points @ lin.T + t


def _map_points(points: ArrayLike, crop: tuple, inverse: bool = False) -> torch.Tensor:
    """``points`` through :func:`crop_transform` ``(*crop)`` (its inverse when ``inverse``), in float64,
    returned in the dtype of ``points`` (float64 for integer input)."""
    p = points if isinstance(points, torch.Tensor) else torch.from_numpy(np.array(points))
    if p.dim() not in (2, 3) or p.shape[-1] != 2:
        raise ValueError(f"points: expected shape (N, 2) or (B, N, 2), got {tuple(p.shape)}")
    A = crop_transform(*crop)
    out = apply_affine(invert_affine(A) if inverse else A, p.double())
    return out.to(p.dtype if p.is_floating_point() else torch.float64)


def transform_points(points: ArrayLike, center: ArrayLike, scale: ArrayLike,
                     res: int | Sequence[int], rot: ArrayLike = 0.0,
                     flip: ArrayLike = False) -> torch.Tensor:
    """Map image pixel coordinates to crop pixel coordinates.

    Args:
        points: (N, 2) or (B, N, 2) image pixels (x, y).
        center, scale, res, rot, flip: the crop (see :func:`crop_transform`).

    Returns:
        (N, 2) or (B, N, 2) crop pixels, the dtype of ``points`` (float64 for integer input).
        Use :func:`pixels_to_normalized` for [-1, 1] coordinates.
    """
    return _map_points(points, (center, scale, res, rot, flip))


def uncrop_points(points: ArrayLike, center: ArrayLike, scale: ArrayLike,
                  res: int | Sequence[int], rot: ArrayLike = 0.0,
                  flip: ArrayLike = False) -> torch.Tensor:
    """Map crop pixel coordinates back to the original image (inverse of :func:`transform_points`).

    Args:
        points: (N, 2) or (B, N, 2) crop pixels (x, y).
        center, scale, res, rot, flip: the crop that produced them.

    Returns:
        (N, 2) or (B, N, 2) image pixels.
    """
    return _map_points(points, (center, scale, res, rot, flip), inverse=True)


def pixels_to_normalized(points: torch.Tensor, res: int | Sequence[int]) -> torch.Tensor:
    """Crop pixels -> normalised [-1, 1] coordinates: ``x_n = (2 x + 1) / W - 1``.

    Args:
        points: (..., 2) pixel coordinates (x, y) in an image of size ``res`` (int or (H, W)).

    Returns:
        (..., 2) normalised coordinates (:mod:`decomr.conventions`, ``align_corners=False``).

    >>> pixels_to_normalized(torch.tensor([[0.0, 223.0]]), 224)
    tensor([[-0.9955,  0.9955]])
    """
    hw = _res_hw(res)
    if points.shape[-1] != 2:
        raise ValueError(f"points: expected shape (..., 2), got {tuple(points.shape)}")
    return pixel_to_normalized(points, hw)


def normalized_to_pixels(points: torch.Tensor, res: int | Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`pixels_to_normalized`: ``x = ((x_n + 1) W - 1) / 2``.

    Args:
        points: (..., 2) normalised coordinates.
        res: image size, int or (H, W).

    Returns:
        (..., 2) pixel coordinates (x, y).
    """
    hw = _res_hw(res)
    if points.shape[-1] != 2:
        raise ValueError(f"points: expected shape (..., 2), got {tuple(points.shape)}")
    return normalized_to_pixel(points, hw)


# --------------------------------------------------------------------------------------------
# Image crops
# --------------------------------------------------------------------------------------------
def _as_image_batch(img) -> tuple[torch.Tensor, bool, bool]:
    """Any supported image layout -> (B, C, H, W) tensor, was_batched, was_uint8.

    numpy arrays are (H, W, C) / (H, W) (PIL, OpenCV layout); torch uint8 tensors of shape
    (H, W, 3) or (H, W, 1) too; every other torch tensor is (C, H, W) or (B, C, H, W).
    """
    if isinstance(img, np.ndarray):
        if img.ndim == 2:
            img = img[..., None]
        if img.ndim != 3:
            raise ValueError(f"img: expected a numpy array (H, W) or (H, W, C), got {img.shape}")
        if not (img.flags.writeable and img.flags.c_contiguous):
            img = np.array(img)  # torch needs a writable array
        t = torch.from_numpy(img).permute(2, 0, 1)[None]
        return t, False, img.dtype == np.uint8
    if not isinstance(img, torch.Tensor):
        raise ValueError(f"img: expected a numpy array or torch.Tensor, got {type(img).__name__}")
    if img.dtype == torch.uint8 and img.dim() == 3 and img.shape[-1] in (1, 3) and img.shape[0] not in (1, 3):
        return img.permute(2, 0, 1)[None], False, True
    if img.dim() == 3:
        return img[None], False, img.dtype == torch.uint8
    if img.dim() == 4:
        return img, True, img.dtype == torch.uint8
    raise ValueError(f"img: expected (H, W, 3) uint8, (C, H, W) or (B, C, H, W), got {tuple(img.shape)}")


def _sampling_theta(center, scale, rot, flip, in_hw, B, what: str = "images") -> torch.Tensor:
    """(B, 2, 3) float64 ``affine_grid`` theta: normalised crop coords -> normalised image coords
    (``in_hw`` = the image's (H, W); B crops, one crop shared by all when unbatched)."""
    c, s, r, f, _ = _crop_params(center, scale, rot, flip)
    if c.shape[0] == 1 and B > 1:
        c, s, r, f = c.expand(B, 2), s.expand(B), r.expand(B), f.expand(B)
    if c.shape[0] != B:
        raise ValueError(f"center/scale: batch size {c.shape[0]} does not match the {B} {what}")
    H, W = in_hw
    D = torch.diag(torch.tensor([2.0 / W, 2.0 / H], dtype=torch.float64))  # pixels -> normalised
    e = torch.tensor([1.0 / W - 1, 1.0 / H - 1], dtype=torch.float64)
    # p = c + 100 s R(rot) F n_out  (inverse of n = F R(-rot) (p - c) / (100 s))
    lin = D @ (_rotation_2d(r) @ _flip_matrix(f)) * (PIXELS_PER_SCALE / 2 * s)[:, None, None]
    t = c @ D.T + e  # (B, 2)
    return torch.cat([lin, t[..., None]], -1)


def crop_image(img, center: ArrayLike, scale: ArrayLike, res: int | Sequence[int] = 224,
               rot: ArrayLike = 0.0, flip: ArrayLike = False,
               mode: str = "bilinear") -> torch.Tensor:
    """Crop, resize, rotate and mirror an image (the official ``rgb_processing``).

    Pixels outside the source image are 0 (black).

    Args:
        img: (H, W, 3) uint8 (numpy or torch, PIL layout), (C, H, W) or (B, C, H, W) tensor.
        center: (2,) or (B, 2) image pixels.
        scale: () or (B,) crop side / 200 px.
        res: output size, int or (H, W).
        rot: () or (B,) degrees (counter-clockwise content rotation).
        flip: bool or (B,) bool (mirror left-right).
        mode: ``"bilinear"`` or ``"nearest"`` (``grid_sample`` modes).

    Returns:
        (C, res, res) or (B, C, res, res) float32 (uint8 input is scaled to [0, 1]), on the
        image's device.
    """
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"mode: expected 'bilinear', 'nearest' or 'bicubic', got {mode!r}")
    x, batched, is_uint8 = _as_image_batch(img)
    x = x.float() / 255.0 if is_uint8 else x.float()
    Hr, Wr = _res_hw(res)
    theta = _sampling_theta(center, scale, rot, flip, x.shape[-2:], x.shape[0]).to(x.device, torch.float32)
    grid = F.affine_grid(theta, [x.shape[0], x.shape[1], Hr, Wr], align_corners=False)
    out = F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
    return out if batched else out[0]


def crop_labels(labels, center: ArrayLike, scale: ArrayLike, res: int | Sequence[int] = 224,
                rot: ArrayLike = 0.0, flip: ArrayLike = False) -> torch.Tensor:
    """Crop an integer label map (mask, part segmentation) with nearest-neighbour sampling.

    Args:
        labels: (H, W) or (B, H, W) integer array/tensor.
        center, scale, res, rot, flip: the crop (see :func:`crop_image`).

    Returns:
        (res, res) or (B, res, res) int64; 0 outside the source image.
    """
    lab = labels if isinstance(labels, torch.Tensor) else torch.from_numpy(np.array(labels))
    if lab.dim() not in (2, 3) or lab.is_floating_point():
        raise ValueError(f"labels: expected an integer (H, W) or (B, H, W) map, got {lab.dtype} {tuple(lab.shape)}")
    x = lab[:, None] if lab.dim() == 3 else lab[None, None]
    out = crop_image(x.double(), center, scale, res, rot, flip, mode="nearest")
    out = out.round().long()[:, 0]
    return out if lab.dim() == 3 else out[0]


def uncrop_image(crop: torch.Tensor, center: ArrayLike, scale: ArrayLike,
                 orig_shape: Sequence[int], rot: ArrayLike = 0.0, flip: ArrayLike = False,
                 mode: str = "nearest") -> torch.Tensor:
    """Paste a crop back into an image of the original size (the official ``uncrop``).

    Used by the LSP segmentation evaluation (Table 4): the mask/parts rendered in the crop are
    mapped back to the original image and compared with the ground truth there.

    Args:
        crop: (C, r, r) or (B, C, r, r) tensor (any dtype; integer labels stay integers when
            ``mode="nearest"``).
        center, scale, rot, flip: the crop that produced it.
        orig_shape: (H, W) of the original image.
        mode: ``"nearest"`` (labels) or ``"bilinear"``.

    Returns:
        (C, H, W) or (B, C, H, W), the dtype of ``crop``; 0 outside the crop.
    """
    if crop.dim() not in (3, 4):
        raise ValueError(f"crop: expected (C, r, r) or (B, C, r, r), got {tuple(crop.shape)}")
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode: expected 'bilinear' or 'nearest', got {mode!r}")
    batched = crop.dim() == 4
    x = crop if batched else crop[None]
    H, W = _res_hw(tuple(orig_shape), "orig_shape")
    B = x.shape[0]
    # the inverse of crop_image's map: normalised image coords -> normalised crop coords
    theta = invert_affine(_sampling_theta(center, scale, rot, flip, (H, W), B, "crops"))  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.device, torch.float32), [B, x.shape[1], H, W], align_corners=False)
    src = x.double() if not x.is_floating_point() else x
    out = F.grid_sample(src, grid.to(src.dtype), mode=mode, padding_mode="zeros", align_corners=False)
    if not crop.is_floating_point():
        out = out.round().to(crop.dtype)
    return out if batched else out[0]
