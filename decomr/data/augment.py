"""Training augmentation with the paper's settings (Sec. 4.1 / the official ``base_dataset.py``).

Per sample: a horizontal flip with probability 0.5, a per-channel colour scale ``U[0.6, 1.4]``,
an in-plane rotation ``clip(N(0, 30 deg), -60, 60)`` applied with probability 0.4 (otherwise 0),
a crop scale ``clip(N(1, 0.25), 0.75, 1.25)`` (> 1 zooms out), then the 224 x 224 crop.

One random draw (:class:`AugmentParams`) is applied consistently to every target:

* **2D** (normalised crop coordinates ``n``, :mod:`decomr.conventions`):
  ``n' = F R(-rot) n / scale`` with ``F = diag(-1, 1)`` when flipped, exactly the map of
  :func:`decomr.data.crop.crop_transform` relative to the un-augmented crop. Images are resampled
  with ``grid_sample`` (bilinear for RGB, nearest for masks, IUV and part labels).
* **3D** (camera frame): the in-plane rotation of the crop is a rotation of the camera frame
  about its z axis, ``X' = Rz X`` with ``(Rz X)_xy = R(-rot) X_xy``; the flip negates x. Both are
  applied to joints, vertices, the weak-perspective camera and the global orientation; the scale
  only changes the camera (``s' = s / scale``).
* **Mirroring** relabels left and right: vertices through ``body.mirror_map``, joints through
  ``SMPL_FLIP_PERM`` / ``LSP_FLIP_PERM``, part labels through ``LSP_PART_FLIP_PERM``, pose
  parameters through the bones' left/right permutation (rotation vectors ``(x, -y, -z)``). The
  IUV of a flipped image needs the (u, v) of each surface point's mirror: on the continuous
  (left/right symmetric) atlas that is ``u -> 1 - u`` (Sec. 4.1: "flip ... u -> 1-u"); for any
  other atlas :class:`UVMirror` builds a UV -> UV lookup table from the mirror map.

The synthetic data applies the same parameters *before* rendering (exact:
``SyntheticBatchGenerator.batch(..., augment=params)``); official data applies them to the crop
(:func:`augment_batch` on already cropped samples, or pass ``scale * params.scale``,
``params.rot`` and ``params.flip`` to :func:`decomr.data.crop.crop_image` at load time, which
fetches real pixels instead of black borders when zooming out or rotating).

Note on mirroring the 3D targets: flipping negates x and relabels; it does not re-centre on the
mirrored body's regressed pelvis (the Anny joint regressor is symmetric to about 2 mm).

Glossary: B batch, N points, J joints, V vertices, H x W image.

>>> import torch
>>> p = sample_augment_params(AugmentConfig(), 4, torch.Generator().manual_seed(0))
>>> p.flip.shape, p.rot.shape, p.scale.shape, p.color.shape
(torch.Size([4]), torch.Size([4]), torch.Size([4]), torch.Size([4, 3]))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from decomr.body.joints import LSP_FLIP_PERM, SMPL_FLIP_PERM
from decomr.body.parts import LSP_PART_FLIP_PERM
from decomr.data.backgrounds import map_params
from decomr.data.batch import Batch
from decomr.render import rasterize, uv_to_normalized

__all__ = [
    "AugmentConfig",
    "AugmentParams",
    "sample_augment_params",
    "rotation_2d",
    "camera_rotation",
    "augment_points_2d",
    "augment_points_3d",
    "augment_weak_camera",
    "augment_global_orient",
    "compose_axis_angle",
    "pose_flip_perm",
    "mirror_pose",
    "warp_images",
    "apply_color",
    "UVMirror",
    "augment_batch",
]


# --------------------------------------------------------------------------------------------
# Configuration and parameters
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings; defaults are the paper's (official ``constants.py``)."""

    flip_prob: float = 0.5  # probability of a horizontal flip
    color_noise: float = 0.4  # per-channel colour scale ~ U[1 - noise, 1 + noise]
    rot_std: float = 30.0  # rotation ~ N(0, rot_std) degrees ...
    rot_max: float = 60.0  # ... clipped to +-rot_max (2 x std in the official code) ...
    rot_prob: float = 0.4  # ... applied with this probability (0 otherwise)
    scale_std: float = 0.25  # crop scale ~ N(1, scale_std) ...
    scale_min: float = 0.75  # ... clipped to [scale_min, scale_max]
    scale_max: float = 1.25
    crop_size: int = 224  # output crop side, pixels

    def __post_init__(self):
        for name in ("flip_prob", "rot_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"AugmentConfig.{name}: expected a probability in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.color_noise < 1.0:
            raise ValueError(f"AugmentConfig.color_noise: expected a value in [0, 1), got {self.color_noise}")
        if self.rot_std < 0 or self.rot_max < 0 or self.scale_std < 0:
            raise ValueError("AugmentConfig: rot_std, rot_max and scale_std must be >= 0")
        if not 0 < self.scale_min <= 1.0 <= self.scale_max:
            raise ValueError(
                f"AugmentConfig: expected 0 < scale_min <= 1 <= scale_max, got {self.scale_min}, {self.scale_max}")
        if self.crop_size < 1:
            raise ValueError(f"AugmentConfig.crop_size: expected a positive int, got {self.crop_size}")

    @classmethod
    def none(cls) -> "AugmentConfig":
        """A configuration that draws the identity transform."""
        return cls(flip_prob=0.0, color_noise=0.0, rot_prob=0.0, scale_std=0.0)


@dataclass(frozen=True)
class AugmentParams:
    """One random transform per sample.

    Attributes:
        flip: (B,) bool, mirror left-right.
        rot: (B,) float32 degrees, counter-clockwise rotation of the crop's content (y down).
        scale: (B,) float32 crop-size factor (> 1 zooms out: the person looks smaller).
        color: (B, 3) float32 per-channel colour factors.
    """

    flip: Tensor
    rot: Tensor
    scale: Tensor
    color: Tensor

    def __post_init__(self):
        B = self.flip.shape[0] if self.flip.dim() == 1 else -1
        if (B < 0 or self.rot.shape != (B,) or self.scale.shape != (B,) or self.color.shape != (B, 3)):
            raise ValueError(
                "AugmentParams: expected flip (B,), rot (B,), scale (B,), color (B, 3), got "
                f"{tuple(self.flip.shape)}, {tuple(self.rot.shape)}, {tuple(self.scale.shape)}, {tuple(self.color.shape)}")
        if bool((self.scale <= 0).any()):
            raise ValueError("AugmentParams.scale: expected values > 0")

    def __len__(self) -> int:
        return int(self.flip.shape[0])

    @classmethod
    def identity(cls, n: int, device=None) -> "AugmentParams":
        """``n`` identity transforms."""
        return cls(flip=torch.zeros(n, dtype=torch.bool, device=device), rot=torch.zeros(n, device=device),
                   scale=torch.ones(n, device=device), color=torch.ones(n, 3, device=device))

    def to(self, device) -> "AugmentParams":
        return map_params(lambda t: t.to(device), self)

    def select(self, index) -> "AugmentParams":
        """The transforms of a subset of samples (``index``: a slice, list or index tensor)."""
        if isinstance(index, int):
            index = [index]
        return map_params(lambda t: t[index], self)


def sample_augment_params(config: AugmentConfig, n: int, generator: torch.Generator | None = None) -> AugmentParams:
    """Draw ``n`` transforms (official ``augm_params``).

    Args:
        config: :class:`AugmentConfig`.
        n: number of samples.
        generator: CPU generator (None: the global RNG).

    Returns:
        :class:`AugmentParams` on the CPU.
    """
    if n < 0:
        raise ValueError(f"n: expected a non-negative count, got {n}")
    g = generator
    flip = torch.rand(n, generator=g) < config.flip_prob
    color = 1.0 + config.color_noise * (2 * torch.rand(n, 3, generator=g) - 1)
    rot = (config.rot_std * torch.randn(n, generator=g)).clamp(-config.rot_max, config.rot_max)
    rot = torch.where(torch.rand(n, generator=g) < config.rot_prob, rot, torch.zeros(n))
    scale = (1.0 + config.scale_std * torch.randn(n, generator=g)).clamp(config.scale_min, config.scale_max)
    return AugmentParams(flip=flip, rot=rot, scale=scale, color=color)


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------
def rotation_2d(params: AugmentParams, dtype=torch.float32) -> Tensor:
    """(B, 2, 2) ``F R(-rot) / scale``: un-augmented -> augmented normalised crop coordinates
    (``F R(-rot)`` is the x, y block of :func:`camera_rotation`)."""
    return camera_rotation(params, dtype)[:, :2, :2] / params.scale.to(dtype)[:, None, None]


def camera_rotation(params: AugmentParams, dtype=torch.float32, with_flip: bool = True) -> Tensor:
    """(B, 3, 3) the camera-frame map of the augmentation: ``diag(f, 1, 1) Rz(-rot)``.

    ``Rz`` turns the camera frame about its optical axis so that ``(Rz X)_xy = R(-rot) X_xy``
    (a proper rotation); ``f = -1`` for flipped samples when ``with_flip`` (then a reflection).
    """
    r = torch.deg2rad(params.rot.to(dtype))
    c, s = torch.cos(r), torch.sin(r)
    z, o = torch.zeros_like(c), torch.ones_like(c)
    f = torch.where(params.flip, -1.0, 1.0).to(dtype) if with_flip else o
    return torch.stack([torch.stack([f * c, f * s, z], -1), torch.stack([-s, c, z], -1),
                        torch.stack([z, z, o], -1)], -2)  # (B, 3, 3)


def _relabel(x: Tensor, flip: Tensor, perm) -> Tensor:
    """Apply a left/right index permutation along dim 1 to flipped samples."""
    if perm is None or not bool(flip.any()):
        return x
    perm = torch.as_tensor(perm, dtype=torch.long, device=x.device)
    if perm.shape != (x.shape[1],):
        raise ValueError(f"flip permutation: expected {x.shape[1]} entries, got {tuple(perm.shape)}")
    return torch.where(flip.to(x.device).view(-1, *([1] * (x.dim() - 1))), x[:, perm], x)


def augment_points_2d(points: Tensor, params: AugmentParams, flip_perm: Sequence[int] | Tensor | None = None,
                      update_visibility: bool = True) -> Tensor:
    """Map normalised crop points (keypoints) to the augmented crop.

    Args:
        points: (B, N, 2) normalised coordinates, or (B, N, 3) with a visibility column.
        params: B transforms.
        flip_perm: (N,) left/right permutation applied to flipped samples (None: no relabelling).
        update_visibility: with 3 columns, zero the visibility of points leaving the crop.

    Returns:
        (B, N, 2|3), same dtype.
    """
    if points.dim() != 3 or points.shape[-1] not in (2, 3) or points.shape[0] != len(params):
        raise ValueError(f"points: expected (B, N, 2|3) with B = {len(params)}, got {tuple(points.shape)}")
    p = params.to(points.device)
    M = rotation_2d(p, points.dtype)
    xy = points[..., :2] @ M.transpose(1, 2)  # (B, N, 2)
    out = torch.cat([xy, points[..., 2:]], -1)
    if points.shape[-1] == 3 and update_visibility:
        inside = (xy.abs() <= 1).all(-1)
        out = torch.cat([xy, points[..., 2:] * inside[..., None].to(points.dtype)], -1)
    return _relabel(out, p.flip, flip_perm)


def augment_points_3d(points: Tensor, params: AugmentParams, flip_perm: Sequence[int] | Tensor | None = None) -> Tensor:
    """Rotate camera-frame points about the optical axis, mirror and relabel flipped samples.

    Args:
        points: (B, N, 3) camera frame (joints, vertices; pelvis-centred or not).
        params: B transforms (``scale`` is ignored: it only changes the camera).
        flip_perm: (N,) permutation for flipped samples: ``SMPL_FLIP_PERM``, ``LSP_FLIP_PERM`` or
            ``body.mirror_map`` for vertices.

    Returns:
        (B, N, 3).
    """
    if points.dim() != 3 or points.shape[-1] != 3 or points.shape[0] != len(params):
        raise ValueError(f"points: expected (B, N, 3) with B = {len(params)}, got {tuple(points.shape)}")
    p = params.to(points.device)
    out = points @ camera_rotation(p, points.dtype).transpose(1, 2)  # (B, N, 3)
    return _relabel(out, p.flip, flip_perm)


def augment_weak_camera(camera: Tensor, params: AugmentParams) -> Tensor:
    """Weak-perspective camera ``[s, tx, ty]`` of the augmented crop: ``s / scale``, ``F R(-rot) t``.

    Exact: ``F R(-rot) s (X + t) / scale = (s / scale) (X' + F R(-rot) t)`` with ``X'`` the
    augmented points.
    """
    if camera.dim() != 2 or camera.shape != (len(params), 3):
        raise ValueError(f"camera: expected ({len(params)}, 3), got {tuple(camera.shape)}")
    p = params.to(camera.device)
    t = (camera[:, None, 1:] @ (rotation_2d(p, camera.dtype) * p.scale[:, None, None].to(camera.dtype)).transpose(1, 2))[:, 0]
    return torch.cat([camera[:, :1] / p.scale[:, None].to(camera.dtype), t], -1)


def _aa_to_quat(aa: Tensor) -> Tensor:
    angle = aa.norm(dim=-1, keepdim=True)
    half = 0.5 * angle
    k = torch.where(angle > 1e-8, torch.sin(half) / angle.clamp_min(1e-12), 0.5 - angle**2 / 48)
    return torch.cat([torch.cos(half), aa * k], -1)  # (..., 4) w, x, y, z


def _quat_mul(a: Tensor, b: Tensor) -> Tensor:
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], -1)


def _quat_to_aa(q: Tensor) -> Tensor:
    # Canonical sign: w > 0; for half-turns (w ~ 0) the first significant axis component > 0,
    # so that e.g. an upright person is (pi, 0, 0), not (-pi, 0, 0).
    big = q[..., 1:].abs() > 1e-6
    first = torch.where(big.any(-1), big.long().argmax(-1), 0)
    lead = q[..., 1:].gather(-1, first[..., None])
    neg = torch.where(q[..., :1].abs() > 1e-6, q[..., :1] < 0, lead < 0)
    q = torch.where(neg, -q, q)
    v = q[..., 1:]
    sin_half = v.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, q[..., :1])
    k = torch.where(sin_half > 1e-8, angle / sin_half.clamp_min(1e-12), 2.0 / q[..., :1].clamp_min(1e-12))
    return v * k


def compose_axis_angle(a: Tensor, b: Tensor) -> Tensor:
    """Rotation vector of ``R(a) @ R(b)`` (first ``b``, then ``a``); (..., 3) each, via quaternions."""
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(f"a, b: expected (..., 3), got {tuple(a.shape)} and {tuple(b.shape)}")
    dt = torch.promote_types(a.dtype, b.dtype)
    return _quat_to_aa(_quat_mul(_aa_to_quat(a.to(torch.float64)), _aa_to_quat(b.to(torch.float64)))).to(dt)


def augment_global_orient(global_orient: Tensor, params: AugmentParams) -> Tensor:
    """Global orientation (axis-angle, camera frame) after the augmentation.

    Rotation: ``Rz(-rot) R``; flip: the mirror ``F R F`` of a rotation has the rotation vector
    ``(x, -y, -z)``.

    Args:
        global_orient: (B, 3).
    """
    if global_orient.dim() != 2 or global_orient.shape != (len(params), 3):
        raise ValueError(f"global_orient: expected ({len(params)}, 3), got {tuple(global_orient.shape)}")
    p = params.to(global_orient.device)
    rz = torch.zeros_like(global_orient)
    rz[:, 2] = -torch.deg2rad(p.rot.to(global_orient.dtype))  # Rz(-rot) = rotation by -rot about z
    go = compose_axis_angle(rz, global_orient)
    mirrored = go * go.new_tensor([1.0, -1.0, -1.0])
    return torch.where(p.flip[:, None], mirrored, go)


def pose_flip_perm(body) -> tuple[int, ...]:
    """Left/right permutation of a body model's pose parameters (``pose[:, perm]`` = mirrored pose).

    Anny: from its bone names (``.L`` <-> ``.R``); SMPL: from ``SMPL_FLIP_PERM`` (pose index
    ``j - 1`` for joint ``j``).
    """
    labels = getattr(body, "bone_labels", None)
    if labels is not None:
        other = {".L": ".R", ".R": ".L"}

        def swap(name: str) -> str:  # the bone of the other side
            return name[:-2] + other[name[-2:]] if name[-2:] in other else name

        return tuple(labels.index(swap(n)) - 1 for n in labels[1:])
    if body.pose_dim == len(SMPL_FLIP_PERM) - 1:
        return tuple(j - 1 for j in SMPL_FLIP_PERM[1:])
    raise ValueError(f"body: no left/right pose permutation known for {getattr(body, 'name', body)!r}")


def mirror_pose(pose: Tensor, perm: Sequence[int] | Tensor, flip: Tensor | None = None) -> Tensor:
    """Pose parameters of the mirrored body: swap left/right bones, rotation vectors ``(x, -y, -z)``.

    Args:
        pose: (B, P, 3) local axis-angle rotations.
        perm: (P,) from :func:`pose_flip_perm`.
        flip: optional (B,) bool; only those samples are mirrored.

    Note:
        Exact for SMPL-style kinematics on a symmetric rest pose; Anny's mirrored pose reproduces
        the mirrored mesh to about 3 mm (its shape blend is symmetric to ~0.5 mm and its pelvis
        bone is the left one).
    """
    if pose.dim() != 3 or pose.shape[-1] != 3:
        raise ValueError(f"pose: expected (B, P, 3), got {tuple(pose.shape)}")
    flip = torch.ones(pose.shape[0], dtype=torch.bool, device=pose.device) if flip is None else flip.to(pose.device)
    perm = torch.as_tensor(perm, dtype=torch.long, device=pose.device)
    mirrored = pose * pose.new_tensor([1.0, -1.0, -1.0])
    return _relabel(torch.where(flip[:, None, None], mirrored, pose), flip, perm)


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
def warp_images(images: Tensor, params: AugmentParams, mode: str = "bilinear") -> Tensor:
    """Resample square crops with the augmentation's 2D map (about the crop centre).

    Output pixel ``n'`` takes the input at ``n = scale R(rot) F n'`` (``grid_sample``,
    ``align_corners=False``; 0 outside the input). Flips without rotation or scale are exact
    pixel permutations.

    Args:
        images: (B, C, H, W) float, H == W.
        params: B transforms.
        mode: ``"bilinear"`` (RGB) or ``"nearest"`` (masks, IUV, labels).

    Returns:
        (B, C, H, W).
    """
    if images.dim() != 4 or images.shape[0] != len(params):
        raise ValueError(f"images: expected (B, C, H, W) with B = {len(params)}, got {tuple(images.shape)}")
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"images: expected square crops, got {tuple(images.shape[-2:])}")
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode: expected 'bilinear' or 'nearest', got {mode!r}")
    p = params.to(images.device)
    plain_flip = bool(((p.rot == 0) & (p.scale == 1)).all())
    if plain_flip:  # exact
        return torch.where(p.flip[:, None, None, None], images.flip(-1), images)
    A = torch.linalg.inv(rotation_2d(p, torch.float64))  # (B, 2, 2): augmented -> original
    theta = torch.cat([A, torch.zeros(len(p), 2, 1, dtype=torch.float64, device=images.device)], -1)
    grid = F.affine_grid(theta.to(images.dtype if images.is_floating_point() else torch.float32),
                         list(images.shape), align_corners=False)
    src = images if images.is_floating_point() else images.float()
    return F.grid_sample(src, grid.to(src.dtype), mode=mode, padding_mode="zeros", align_corners=False)


def apply_color(image: Tensor, params: AugmentParams) -> Tensor:
    """Per-channel colour scale, clipped to [0, 1] (official ``rgb_processing``). (B, 3, H, W)."""
    if image.dim() != 4 or image.shape[:2] != (len(params), 3):
        raise ValueError(f"image: expected ({len(params)}, 3, H, W), got {tuple(image.shape)}")
    return (image * params.color.to(image.device, image.dtype)[:, :, None, None]).clamp(0.0, 1.0)


class UVMirror:
    """Maps the (u, v) of a surface point to the (u, v) of its left/right mirror point.

    For the continuous atlas (left/right symmetric by construction, Sec. 3.1) this is
    ``u -> 1 - u``. For any other atlas, :meth:`from_atlas` builds a lookup table: every UV pixel
    of an R x R grid is located in its UV triangle (face ``f``, barycentrics ``b``); the mirror
    point lies in the face ``f'`` whose corners are the mirrors of ``f``'s corners
    (``body.mirror_map``), at the same barycentrics, so its UV is ``sum_k b_k uv(f', mirror(corner_k))``.
    Pixels outside every triangle copy their nearest covered pixel. Lookups use the nearest table
    pixel (error about one table pixel, 1 / R, except at chart boundaries).

    Args:
        table: (2, R, R) float32 mirror UV per UV pixel (``align_corners=True`` grid), or None for
            the symmetric map.
    """

    def __init__(self, table: Tensor | None = None):
        if table is not None and (table.dim() != 3 or table.shape[0] != 2 or table.shape[1] != table.shape[2]):
            raise ValueError(f"table: expected (2, R, R), got {tuple(table.shape)}")
        self.table = table

    @property
    def symmetric(self) -> bool:
        return self.table is None

    @classmethod
    def symmetric_map(cls) -> "UVMirror":
        """The ``u -> 1 - u`` mirror of a left/right symmetric atlas."""
        return cls(None)

    @classmethod
    def from_atlas(cls, atlas, body, resolution: int = 512, tol: float = 1e-4) -> "UVMirror":
        """The mirror of an atlas: ``u -> 1 - u`` when the atlas is symmetric, else a lookup table.

        Args:
            atlas: a :class:`decomr.uv.UVAtlas`.
            body: its body model (``faces``, ``mirror_map``).
            resolution: R of the lookup table.
            tol: symmetry tolerance (UV units) for choosing ``u -> 1 - u``.
        """
        faces = body.faces.detach().cpu().long()
        mirror = body.mirror_map.detach().cpu().long()
        uv = atlas.uv.float()
        mface, pos, ok = _mirror_faces(faces, mirror)
        corner_m = uv[atlas.faces_uv.long()[mface.clamp_min(0)].gather(1, pos)]  # (F, 3, 2) mirror corner UVs
        # Symmetric atlas: the corners of each face's mirror face have UV (1 - u, v).
        flipped = atlas.corner_uv().float() * torch.tensor([-1.0, 1.0]) + torch.tensor([1.0, 0.0])
        if bool(ok.all()) and float((corner_m - flipped).abs().max()) < tol:
            return cls(None)
        # Mirror UV from the mirror face (exact); fallback: the mirror vertices' first UV copies.
        corner = torch.where(ok[:, None, None], corner_m, uv[atlas.first_copy()[mirror[faces]]])  # (F, 3, 2)
        return cls(_mirror_table(atlas, corner, int(resolution)))

    def __call__(self, uv: Tensor) -> Tensor:
        """Mirror UV values.

        Args:
            uv: (..., 2) float in [0, 1].

        Returns:
            (..., 2) the mirror points' UV.
        """
        if uv.shape[-1] != 2:
            raise ValueError(f"uv: expected (..., 2), got {tuple(uv.shape)}")
        if self.table is None:
            return torch.stack([1.0 - uv[..., 0], uv[..., 1]], -1)
        R = self.table.shape[-1]
        t = self.table.to(uv.device)
        j = (uv[..., 0] * (R - 1)).round().long().clamp(0, R - 1)
        i = (uv[..., 1] * (R - 1)).round().long().clamp(0, R - 1)
        return t[:, i, j].movedim(0, -1).to(uv.dtype)

    def flip_iuv(self, iuv: Tensor, flip: Tensor | None = None) -> Tensor:
        """Mirror the (u, v) channels of IUV images on the foreground (spatial flip not included).

        Args:
            iuv: (B, 3, H, W) (mask, u, v).
            flip: optional (B,) bool, which samples to change (default all).

        Returns:
            (B, 3, H, W).
        """
        if iuv.dim() != 4 or iuv.shape[1] != 3:
            raise ValueError(f"iuv: expected (B, 3, H, W), got {tuple(iuv.shape)}")
        fg = iuv[:, :1] > 0.5
        uv = self(iuv[:, 1:].permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, 2, H, W)
        new = torch.cat([iuv[:, :1], torch.where(fg, uv, torch.zeros_like(uv))], 1)
        if flip is None:
            return new
        return torch.where(flip.to(iuv.device)[:, None, None, None], new, iuv)


def _mirror_faces(faces: Tensor, mirror: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For each face, the face made of its corners' mirrors.

    Returns:
        mface: (F,) int64 mirror face (-1 when none), pos: (F, 3) int64 corner of ``mface`` that
        is the mirror of corner k, ok: (F,) bool.
    """
    V = int(mirror.shape[0])
    key = lambda tri: (lambda s: (s[:, 0] * V + s[:, 1]) * V + s[:, 2])(tri.sort(1).values)  # noqa: E731
    k_faces = key(faces)
    order = torch.argsort(k_faces)
    sorted_keys = k_faces[order]
    mtri = mirror[faces]  # (F, 3)
    k_m = key(mtri)
    at = torch.searchsorted(sorted_keys, k_m).clamp(max=len(order) - 1)
    ok = sorted_keys[at] == k_m
    mface = torch.where(ok, order[at], -1)
    target = faces[mface.clamp_min(0)]  # (F, 3)
    pos = (target[:, None, :] == mtri[:, :, None]).long().argmax(-1)  # (F, 3)
    return mface, pos, ok


def _mirror_table(atlas, corner: Tensor, R: int) -> Tensor:
    """(2, R, R) the mirror UV of each UV-grid pixel, from ``corner`` (F, 3, 2), the mirror UV of each face corner."""
    from scipy import ndimage

    # UV-grid pixel (i, j) (u = j / (R - 1)) on the rasteriser's pixel centre.
    verts = torch.cat([uv_to_normalized(atlas.uv.float(), R), torch.ones(atlas.num_uv, 1)], -1)[None]  # (1, T, 3)
    frags = rasterize(verts, atlas.faces_uv.long(), (R, R))
    face = frags.face_idx[0]  # (R, R)
    covered = face >= 0
    table = (frags.bary[0][..., None] * corner[face.clamp_min(0)]).sum(-2)  # (R, R, 2)
    if not bool(covered.all()):
        _, (ii, jj) = ndimage.distance_transform_edt(~covered.numpy(), return_indices=True)
        table = table[torch.from_numpy(ii), torch.from_numpy(jj)]
    return table.permute(2, 0, 1).contiguous()


# --------------------------------------------------------------------------------------------
# Whole samples
# --------------------------------------------------------------------------------------------
_IUV_KEYS = ("iuv", "iuv_default")


def augment_batch(batch: Batch | Mapping[str, Tensor], params: AugmentParams, body=None,
                  uv_mirrors: Mapping[str, UVMirror] | None = None,
                  keypoint_flip_perm: Sequence[int] = SMPL_FLIP_PERM) -> Batch | dict[str, Tensor]:
    """Apply one transform per sample consistently to every target of already-cropped samples.

    Fields handled when present (others pass through unchanged): ``image`` (bilinear + colour),
    ``mask`` (nearest), ``iuv``, ``iuv_default`` (nearest, then UV mirror on
    flipped samples), ``parts`` (nearest, labels swapped), ``keypoints``/``joints3d``/
    ``joints3d_conf`` (``keypoint_flip_perm``), ``lsp_keypoints``/``lsp_joints3d``
    (``LSP_FLIP_PERM``), ``vertices`` (``body.mirror_map``), ``camera``, ``global_orient``,
    ``pose`` (``body``'s bone permutation), ``scale`` (times ``params.scale``).

    Args:
        batch: a :class:`~decomr.data.batch.Batch` of B samples (synthetic or official), or a
            dict of its batched tensors.
        params: B transforms.
        body: the body model (needed to flip ``vertices`` and ``pose``).
        uv_mirrors: {IUV key: :class:`UVMirror`} (needed to flip IUV keys); e.g.
            ``{"iuv": UVMirror.from_atlas(atlas, body)}``.
        keypoint_flip_perm: left/right permutation of ``keypoints`` and ``joints3d``
            (``SMPL_FLIP_PERM`` for the 24 SMPL-like joints).

    Returns:
        A new :class:`~decomr.data.batch.Batch` (a new dict for a dict).

    Raises:
        ValueError: a key needs ``body``/``uv_mirrors`` for flipped samples and none was given.
    """
    if isinstance(batch, Batch):
        return Batch.from_dict(augment_batch(batch.to_dict(), params, body, uv_mirrors, keypoint_flip_perm))
    if not isinstance(batch, Mapping):
        raise ValueError(f"batch: expected a Batch or a dict of tensors, got {type(batch).__name__}")
    any_flip = bool(params.flip.any())
    out = dict(batch)
    if "image" in batch:
        out["image"] = apply_color(warp_images(batch["image"], params, "bilinear"), params)
    if "mask" in batch:
        out["mask"] = warp_images(batch["mask"], params, "nearest").to(batch["mask"].dtype)
    for key in _IUV_KEYS:
        if key in batch:
            iuv = warp_images(batch[key], params, "nearest")
            if any_flip:
                if uv_mirrors is None or key not in uv_mirrors:
                    raise ValueError(f"uv_mirrors: flipping {key!r} needs a UVMirror for it (UVMirror.from_atlas)")
                iuv = uv_mirrors[key].flip_iuv(iuv, params.flip)
            out[key] = iuv
    if "parts" in batch:
        parts = batch["parts"]
        warped = warp_images(parts[:, None].float(), params, "nearest")[:, 0].round().long()
        if any_flip:
            lut = torch.arange(256, device=parts.device)
            lut[: len(LSP_PART_FLIP_PERM)] = torch.tensor(LSP_PART_FLIP_PERM, device=parts.device)
            warped = torch.where(params.flip.to(parts.device)[:, None, None], lut[warped.clamp(0, 255)], warped)
        out["parts"] = warped.to(parts.dtype)
    for key, augment, perm in (("keypoints", augment_points_2d, keypoint_flip_perm),
                               ("lsp_keypoints", augment_points_2d, LSP_FLIP_PERM),
                               ("joints3d", augment_points_3d, keypoint_flip_perm),
                               ("lsp_joints3d", augment_points_3d, LSP_FLIP_PERM)):
        if key in batch:
            out[key] = augment(batch[key], params, perm)
    if "joints3d_conf" in batch:
        out["joints3d_conf"] = _relabel(batch["joints3d_conf"], params.flip.to(batch["joints3d_conf"].device),
                                        keypoint_flip_perm)
    if "vertices" in batch:
        if any_flip and body is None:
            raise ValueError("body: flipping 'vertices' needs the body model (its mirror_map)")
        perm = body.mirror_map if body is not None else None
        out["vertices"] = augment_points_3d(batch["vertices"], params, perm)
    for key, augment in (("camera", augment_weak_camera), ("global_orient", augment_global_orient)):
        if key in batch:
            out[key] = augment(batch[key], params)
    if "pose" in batch and any_flip:
        if body is None:
            raise ValueError("body: flipping 'pose' needs the body model (its bone permutation)")
        out["pose"] = mirror_pose(batch["pose"], pose_flip_perm(body), params.flip)
    if "scale" in batch:
        out["scale"] = batch["scale"] * params.scale.to(batch["scale"].device, batch["scale"].dtype)
    return out
