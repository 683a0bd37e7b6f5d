"""Cameras: weak-perspective (the paper's) and pinhole, in decomr's image conventions.

Conventions (:mod:`decomr.conventions`):

- Camera frame: OpenCV, x right, y down, z away from the camera (metres).
- Normalised image coordinates: x, y in [-1, 1] over the image, x right, y down; the centre of
  pixel (row i, col j) of an H x W image is at ``x = (2 j + 1) / W - 1``, ``y = (2 i + 1) / H - 1``
  (``grid_sample(..., align_corners=False)``).
- Pixel coordinates: ``(u, v) = (column, row)`` with pixel centres at integers (OpenCV), so
  ``x = (2 u + 1) / W - 1``.
- Focal lengths "in normalised units" are ``2 f_px / W`` (x) and ``2 f_px / H`` (y): a point at
  ``X / Z = 1`` lands ``focal`` normalised units from the principal point.

The weak-perspective camera ``c = [s, tx, ty]`` (Sec. 3.2, "camera parameters") maps
``x_2d = s * (X[..., :2] + [tx, ty])``, as CMR/SPIN's ``orthographic_projection``. It is the
pinhole camera with focal ``f`` seen from depth ``tz = f / s`` when the body is thin compared to
``tz`` (:func:`weak_perspective_to_translation`).

Example:
    >>> import torch
    >>> points = torch.tensor([[[0.1, -0.2, 0.3]]])
    >>> weak_perspective_project(points, torch.tensor([[2.0, 0.0, 0.1]]))
    tensor([[[ 0.2000, -0.2000]]])
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "weak_perspective_project",
    "fit_weak_perspective",
    "weak_perspective_vertices",
    "perspective_project",
    "perspective_vertices",
    "PerspectiveCamera",
    "pixel_to_normalized",
    "normalized_to_pixel",
    "uv_to_normalized",
    "focal_pixels_to_normalized",
    "intrinsics_to_normalized",
    "weak_perspective_to_translation",
]


def _shape(x) -> object:
    return tuple(x.shape) if torch.is_tensor(x) else type(x).__name__


def _check_points(points: Tensor, name: str = "points", dims: str = "(B, N, 3)") -> None:
    if not torch.is_tensor(points) or points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"{name}: expected a {dims} tensor, received {_shape(points)}")
    if not points.is_floating_point():
        raise ValueError(f"{name}: expected a floating-point tensor, received dtype {points.dtype}")


def _check_batch(name: str, value: Tensor, batch: int, trailing: tuple[int, ...]) -> None:
    expected = (batch,) + trailing
    if not torch.is_tensor(value) or tuple(value.shape) != expected:
        dims = ", ".join(["B"] + [str(t) for t in trailing])
        raise ValueError(f"{name}: expected shape ({dims}) = {expected}, received {_shape(value)}")


def weak_perspective_project(points: Tensor, camera: Tensor) -> Tensor:
    """Project with the weak-perspective camera ``c = [s, tx, ty]`` (CMR/SPIN convention).

    Args:
        points: (B, N, 3) float, camera frame (metres).
        camera: (B, 3) float, ``[s, tx, ty]``: scale (normalised units per metre) and
            translation (metres, added before scaling).

    Returns:
        (B, N, 2) normalised image coordinates ``s * (points[..., :2] + [tx, ty])``.
    """
    _check_points(points)
    _check_batch("camera", camera, points.shape[0], (3,))
    scale = camera[:, None, 0:1]  # (B, 1, 1)
    shift = camera[:, None, 1:3]  # (B, 1, 2)
    return scale * (points[..., :2] + shift)  # (B, N, 2)


def fit_weak_perspective(points: Tensor, projected: Tensor, weights: Tensor | None = None) -> Tensor:
    """The weak-perspective camera that best maps 3D points onto their 2D positions (the one fit
    used by the synthetic data, the training targets and ``decomr render-gt``).

    Minimises ``sum_i w_i |s (X_i[:2] + t) - x_i|^2`` over ``(s, t)``. It is linear in ``(s, s t)``,
    so the optimum is closed-form with weighted means ``X_m``, ``x_m``:
    ``s = sum w (X - X_m) . (x - x_m) / sum w |X - X_m|^2`` and ``t = x_m / s - X_m``.

    Args:
        points: (B, N, 3) camera-frame points (only x, y are used).
        projected: (B, N, 2) their 2D positions (normalised coordinates or pixels: ``s`` follows).
        weights: optional (B, N) non-negative weights (e.g. keypoint visibility); default all 1.
            With all weights 0 the fit is ``[0, 0, 0]``.

    Returns:
        (B, 3) ``[s, tx, ty]`` in ``points``' dtype (computed in float64).

    >>> X = torch.tensor([[[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 2.0, 1.0]]])
    >>> fit_weak_perspective(X, 3 * (X[..., :2] + torch.tensor([1.0, -1.0]))).round(decimals=5).tolist()
    [[3.0, 1.0, -1.0]]
    """
    if points.dim() != 3 or points.shape[-1] != 3 or tuple(projected.shape) != tuple(points.shape[:2]) + (2,):
        raise ValueError(f"points, projected: expected (B, N, 3) and (B, N, 2), got {_shape(points)}, {_shape(projected)}")
    X = points[..., :2].double()  # (B, N, 2)
    x = projected.double().to(X.device)
    w = torch.ones(X.shape[:2], dtype=torch.float64, device=X.device) if weights is None else \
        weights.double().to(X.device).clamp(min=0)
    if tuple(w.shape) != tuple(X.shape[:2]):
        raise ValueError(f"weights: expected shape {tuple(X.shape[:2])}, got {_shape(weights)}")
    n = w.sum(1).clamp_min(1e-12)[:, None]  # (B, 1)
    Xm, xm = (w[..., None] * X).sum(1) / n, (w[..., None] * x).sum(1) / n  # (B, 2)
    dX, dx = X - Xm[:, None], x - xm[:, None]
    s = (w * (dX * dx).sum(-1)).sum(1) / (w * dX.square().sum(-1)).sum(1).clamp_min(1e-12)  # (B,)
    s_safe = torch.where(s.abs() > 1e-12, s, torch.ones_like(s))
    t = torch.where((s.abs() > 1e-12)[:, None], xm / s_safe[:, None] - Xm, torch.zeros_like(Xm))  # (B, 2)
    return torch.cat([s[:, None], t], dim=1).to(points.dtype)


def weak_perspective_vertices(points: Tensor, camera: Tensor) -> Tensor:
    """Rasteriser-ready vertices for the weak-perspective camera.

    Args:
        points: (B, N, 3) float, camera frame (metres).
        camera: (B, 3) float, ``[s, tx, ty]``.

    Returns:
        (B, N, 3): x, y from :func:`weak_perspective_project`, z = ``points[..., 2]`` (depth).
    """
    xy = weak_perspective_project(points, camera)
    return torch.cat([xy, points[..., 2:3]], dim=-1)  # (B, N, 3)


def _focal_principal(points: Tensor, focal: Tensor, principal: Tensor | None) -> tuple[Tensor, Tensor]:
    batch = points.shape[0]
    if not torch.is_tensor(focal) or focal.dim() not in (1, 2) or focal.shape[0] != batch or (
        focal.dim() == 2 and focal.shape[1] != 2
    ):
        raise ValueError(f"focal: expected shape (B,) or (B, 2) with B = {batch}, received {_shape(focal)}")
    focal = focal[:, None].expand(batch, 2) if focal.dim() == 1 else focal  # (B, 2)
    if principal is None:
        principal = focal.new_zeros(batch, 2)
    _check_batch("principal", principal, batch, (2,))
    return focal, principal


def perspective_project(points: Tensor, focal: Tensor, principal: Tensor | None = None) -> Tensor:
    """Project with a pinhole camera in the OpenCV camera frame.

    Args:
        points: (B, N, 3) float, camera frame (metres), z > 0 in front of the camera.
        focal: (B,) or (B, 2) float, focal length(s) ``(fx, fy)`` in normalised units
            (``2 f_px / W``, ``2 f_px / H``; see :func:`focal_pixels_to_normalized`).
        principal: (B, 2) float, principal point in normalised coordinates; None = image centre.

    Returns:
        (B, N, 2) normalised image coordinates ``focal * X[..., :2] / Z + principal``.
    """
    _check_points(points)
    focal, principal = _focal_principal(points, focal, principal)
    return focal[:, None] * points[..., :2] / points[..., 2:3] + principal[:, None]  # (B, N, 2)


def perspective_vertices(points: Tensor, focal: Tensor, principal: Tensor | None = None) -> Tensor:
    """Rasteriser-ready vertices for a pinhole camera (rasterise with ``perspective_correct=True``).

    Args:
        points: (B, N, 3) float, camera frame (metres).
        focal: (B,) or (B, 2) float, normalised units.
        principal: (B, 2) float or None.

    Returns:
        (B, N, 3): x, y from :func:`perspective_project`, z = ``points[..., 2]`` (depth).
    """
    xy = perspective_project(points, focal, principal)
    return torch.cat([xy, points[..., 2:3]], dim=-1)  # (B, N, 3)


@dataclass(frozen=True)
class PerspectiveCamera:
    """A batch of pinhole cameras (for :func:`decomr.render.images.render_body`).

    Attributes:
        focal: (B,) or (B, 2) float, normalised units.
        principal: (B, 2) float, normalised coordinates, or None for the image centre.
    """

    focal: Tensor
    principal: Tensor | None = None

    def project(self, points: Tensor) -> Tensor:
        """(B, N, 3) camera-frame points -> (B, N, 2) normalised image coordinates."""
        return perspective_project(points, self.focal, self.principal)

    def vertices(self, points: Tensor) -> Tensor:
        """(B, N, 3) camera-frame points -> (B, N, 3) rasteriser-ready vertices."""
        return perspective_vertices(points, self.focal, self.principal)


def _check_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if len(image_size) != 2 or any(int(s) != s or s < 1 for s in image_size):
        raise ValueError(f"image_size: expected (H, W) with positive integers, received {image_size}")
    return int(image_size[0]), int(image_size[1])


def _check_xy(name: str, xy: Tensor) -> None:
    if not torch.is_tensor(xy) or xy.dim() < 1 or xy.shape[-1] != 2:
        raise ValueError(f"{name}: expected a (..., 2) tensor, received {_shape(xy)}")


def pixel_to_normalized(uv: Tensor, image_size: tuple[int, int] | int) -> Tensor:
    """Pixel coordinates ``(u, v) = (col, row)`` (centres at integers) -> normalised ``(x, y)``.

    Args:
        uv: (..., 2) float, pixel coordinates.
        image_size: (H, W) or one int.

    Returns:
        (..., 2) normalised coordinates ``(2 u + 1) / W - 1``, ``(2 v + 1) / H - 1``.
    """
    _check_xy("uv", uv)
    height, width = _check_size(image_size)
    size = uv.new_tensor([width, height])
    return (2.0 * uv + 1.0) / size - 1.0


def normalized_to_pixel(xy: Tensor, image_size: tuple[int, int] | int) -> Tensor:
    """Normalised ``(x, y)`` -> pixel coordinates ``(u, v) = (col, row)``; inverse of the above.

    Args:
        xy: (..., 2) float, normalised coordinates.
        image_size: (H, W) or one int.

    Returns:
        (..., 2) pixel coordinates ``((x + 1) W - 1) / 2``, ``((y + 1) H - 1) / 2``.
    """
    _check_xy("xy", xy)
    height, width = _check_size(image_size)
    size = xy.new_tensor([width, height])
    return ((xy + 1.0) * size - 1.0) / 2.0


def uv_to_normalized(uv: Tensor, resolution: int) -> Tensor:
    """UV coordinates of a UV map (``align_corners=True``) -> normalised image coordinates.

    A UV map of resolution R has pixel (i, j) centred at ``u = j / (R - 1)``, ``v = i / (R - 1)``
    (:mod:`decomr.conventions`); this returns the coordinates at which :func:`decomr.render.rasterize` puts that
    pixel centre, so UV triangles can be rasterised into an R x R map.

    Args:
        uv: (..., 2) float in [0, 1].
        resolution: R >= 2.

    Returns:
        (..., 2) normalised ``(2 u (R - 1) + 1) / R - 1`` (same for v).
    """
    _check_xy("uv", uv)
    if int(resolution) != resolution or resolution < 2:
        raise ValueError(f"resolution: expected an integer >= 2, received {resolution}")
    return pixel_to_normalized(uv * (resolution - 1), (int(resolution), int(resolution)))


def focal_pixels_to_normalized(focal_px: Tensor, image_size: tuple[int, int] | int) -> Tensor:
    """Focal length(s) in pixels -> normalised units.

    Args:
        focal_px: (B,) (same focal on both axes) or (B, 2) ``(fx, fy)`` float, pixels.
        image_size: (H, W) or one int.

    Returns:
        (B, 2) ``(2 fx / W, 2 fy / H)``.
    """
    height, width = _check_size(image_size)
    if not torch.is_tensor(focal_px) or focal_px.dim() not in (1, 2) or (
        focal_px.dim() == 2 and focal_px.shape[1] != 2
    ):
        raise ValueError(f"focal_px: expected shape (B,) or (B, 2), received {_shape(focal_px)}")
    if focal_px.dim() == 1:
        focal_px = focal_px[:, None].expand(-1, 2)
    return 2.0 * focal_px / focal_px.new_tensor([width, height])


def intrinsics_to_normalized(K: Tensor, image_size: tuple[int, int] | int) -> tuple[Tensor, Tensor]:
    """OpenCV intrinsics ``K`` (pixels) -> ``(focal, principal)`` in normalised units.

    Args:
        K: (B, 3, 3) float, ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` (skew ignored).
        image_size: (H, W) or one int.

    Returns:
        focal (B, 2) and principal (B, 2), ready for :func:`perspective_project`.
    """
    if not torch.is_tensor(K) or K.dim() != 3 or tuple(K.shape[1:]) != (3, 3):
        raise ValueError(f"K: expected shape (B, 3, 3), received {_shape(K)}")
    focal = focal_pixels_to_normalized(torch.stack([K[:, 0, 0], K[:, 1, 1]], dim=-1), image_size)
    principal = pixel_to_normalized(torch.stack([K[:, 0, 2], K[:, 1, 2]], dim=-1), image_size)
    return focal, principal


def weak_perspective_to_translation(camera: Tensor, focal: Tensor | float) -> Tensor:
    """The camera translation of a pinhole camera equivalent to ``c = [s, tx, ty]``.

    A pinhole camera with focal ``f`` (normalised units) looking at the body translated by
    ``t = [tx, ty, f / s]`` projects it like the weak-perspective camera when the body's depth
    extent is small compared to ``f / s`` (SPIN's ``2 f / (s W)`` with ``f`` in pixels).

    Args:
        camera: (B, 3) float, ``[s, tx, ty]`` with s > 0.
        focal: (B,) float or a float, normalised units.

    Returns:
        (B, 3) translation (metres) to add to the points before :func:`perspective_project`.
    """
    if not torch.is_tensor(camera) or camera.dim() != 2 or camera.shape[1] != 3:
        raise ValueError(f"camera: expected shape (B, 3), received {_shape(camera)}")
    focal = torch.as_tensor(focal, dtype=camera.dtype, device=camera.device)
    if focal.dim() > 1 or (focal.dim() == 1 and focal.shape[0] != camera.shape[0]):
        raise ValueError(f"focal: expected a float or shape (B,) = ({camera.shape[0]},), received {_shape(focal)}")
    depth = focal / camera[:, 0]  # (B,)
    return torch.stack([camera[:, 1], camera[:, 2], depth], dim=-1)  # (B, 3)
