"""Errors between bodies (Sec. 4, Tables 2, 3 and 5), as pure batched torch functions.

* :func:`mpjpe` — mean per-joint position error after root alignment (Tables 2 and 5, "MPJPE").
* :func:`similarity_procrustes` / :func:`pa_mpjpe` — error after the best similarity transform
  (scale, rotation, translation; Umeyama 1991, SPIN/CMR ``compute_similarity_transform``):
  "MPJPE-PA" / reconstruction error of Tables 2 and 5.
* :func:`per_vertex_error` — SURREAL surface error (Table 3): mean vertex distance after aligning
  the hip midpoints.
* :func:`facing_error` — the angle between the directions two skeletons face.

They sit with the body models because training (its validation), evaluation and the notebooks
all use them; :mod:`decomr.eval.metrics` adds the segmentation counts of Table 4.

All functions keep the input units (the official numbers are millimetres: multiply metres by
1000) and dtype; the Procrustes solve runs in float64 internally.

>>> import torch
>>> gt = torch.randn(2, 14, 3, dtype=torch.float64)
>>> mpjpe(gt + 1.0, gt).shape
torch.Size([2])
>>> bool(mpjpe(gt + 1.0, gt).max() < 1e-12)   # a translation vanishes after root alignment
True
>>> bool(pa_mpjpe(3 * gt, gt).max() < 1e-12)
True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence, Union

import numpy as np
import torch

from decomr.body.joints import LSP_HIPS

__all__ = [
    "LSP_HIP_INDICES",
    "root_joint",
    "mpjpe",
    "SimilarityTransform",
    "similarity_transform",
    "similarity_procrustes",
    "pa_mpjpe",
    "per_vertex_error",
    "facing_direction",
    "facing_error",
]

#: Right and left hip among the 14 LSP joints (order of :data:`decomr.body.joints.LSP_JOINT_NAMES`).
#: DecoMR's evaluation centres both skeletons on their midpoint (official ``eval.py``).
LSP_HIP_INDICES: tuple[int, int] = LSP_HIPS

Root = Union[int, Literal["hips"], None]


def _check_points(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape (B, N, 3), got {type(x).__name__}")
    if x.dim() != 3 or x.shape[-1] != 3:
        raise ValueError(f"{name}: expected shape (B, N, 3), got {tuple(x.shape)}")


def _check_pair(pred: torch.Tensor, gt: torch.Tensor) -> None:
    _check_points("pred", pred)
    _check_points("gt", gt)
    if pred.shape != gt.shape:
        raise ValueError(f"gt: expected the shape of pred {tuple(pred.shape)}, got {tuple(gt.shape)}")


def root_joint(joints: torch.Tensor, root: Root = "hips",
               hips: Sequence[int] = LSP_HIP_INDICES) -> torch.Tensor:
    """The root used to align a skeleton.

    Args:
        joints: (B, J, 3).
        root: ``"hips"`` (midpoint of ``joints[:, hips]``, DecoMR's convention on the 14 LSP
            joints), a joint index (e.g. 0 = the H36M/SMPL pelvis, CMR/SPIN's convention) or
            ``None`` (no alignment: the origin).
        hips: indices of the two hips for ``root="hips"``.

    Returns:
        (B, 1, 3) root positions (zeros for ``root=None``).
    """
    _check_points("joints", joints)
    J = joints.shape[1]
    if root is None:
        return joints.new_zeros(joints.shape[0], 1, 3)
    if root == "hips":
        if len(hips) != 2 or not all(-J <= h < J for h in hips):
            raise ValueError(f"hips: expected two joint indices in [0, {J}), got {tuple(hips)}")
        return joints[:, list(hips)].mean(dim=1, keepdim=True)
    if isinstance(root, (int, np.integer)) and not isinstance(root, bool):
        if not -J <= root < J:
            raise ValueError(f"root: expected a joint index in [0, {J}), got {root}")
        return joints[:, [int(root)]]
    raise ValueError(f"root: expected 'hips', a joint index or None, got {root!r}")


def mpjpe(pred: torch.Tensor, gt: torch.Tensor, root: Root = "hips",
          hips: Sequence[int] = LSP_HIP_INDICES) -> torch.Tensor:
    """Mean per-joint position error after root alignment (Tables 2, 5: "MPJPE").

    Each skeleton is translated so that its own root is at the origin, then the Euclidean joint
    distances are averaged.

    Args:
        pred: (B, J, 3) predicted joints.
        gt: (B, J, 3) ground-truth joints, same units.
        root: see :func:`root_joint` (``"hips"`` for the DecoMR protocol, ``0`` for the H36M
            pelvis of the CMR/SPIN protocol, ``None`` for no alignment).
        hips: hip indices for ``root="hips"`` (LSP order by default).

    Returns:
        (B,) per-sample error in the input units.
    """
    _check_pair(pred, gt)
    p = pred - root_joint(pred, root, hips)
    g = gt - root_joint(gt, root, hips)
    return torch.linalg.norm(p - g, dim=-1).mean(dim=-1)


@dataclass(frozen=True)
class SimilarityTransform:
    """``x -> scale * R x + t`` that best maps one point set onto another.

    Attributes:
        scale: (B,) scale factors (>= 0).
        rotation: (B, 3, 3) proper rotations (det = +1).
        translation: (B, 3).
    """

    scale: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """Transform (B, N, 3) points; returns (B, N, 3) in the points' dtype."""
        _check_points("points", points)
        s = self.scale.to(points.dtype)[:, None, None]
        R = self.rotation.to(points.dtype)
        t = self.translation.to(points.dtype)[:, None, :]
        return s * points @ R.transpose(1, 2) + t  # (B, N, 3)


def similarity_transform(pred: torch.Tensor, gt: torch.Tensor, eps: float = 1e-12) -> SimilarityTransform:
    """Least-squares similarity transform from ``pred`` to ``gt`` (Umeyama; SPIN's
    ``compute_similarity_transform``).

    Minimises ``sum_i |s R p_i + t - g_i|^2`` over s >= 0, R in SO(3) and t. The reflection that
    an unconstrained orthogonal Procrustes may return is fixed by flipping the sign of the
    smallest singular direction. Solved in float64.

    Args:
        pred: (B, N, 3) source points.
        gt: (B, N, 3) target points.
        eps: a degenerate ``pred`` (all points equal, variance <= eps) gets scale 0, i.e. it is
            mapped onto the centroid of ``gt``.

    Returns:
        :class:`SimilarityTransform` (float64).
    """
    _check_pair(pred, gt)
    if pred.shape[1] < 1:
        raise ValueError("pred: expected at least one point")
    X = pred.double()
    Y = gt.double()
    mu_x, mu_y = X.mean(dim=1, keepdim=True), Y.mean(dim=1, keepdim=True)  # (B, 1, 3)
    Xc, Yc = X - mu_x, Y - mu_y
    var_x = (Xc ** 2).sum(dim=(1, 2))  # (B,)
    K = Xc.transpose(1, 2) @ Yc  # (B, 3, 3) = sum_i x_i y_i^T
    U, _, Vh = torch.linalg.svd(K)
    V = Vh.transpose(1, 2)
    # Z = diag(1, 1, sign(det(V U^T))) makes det(R) = +1 (the reflection fix).
    d = torch.where(torch.linalg.det(V @ U.transpose(1, 2)) < 0, -1.0, 1.0).to(X.dtype)
    Z = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = V @ Z @ U.transpose(1, 2)  # (B, 3, 3), maps x to y
    trace = torch.diagonal(R @ K, dim1=1, dim2=2).sum(-1)
    degenerate = var_x <= eps
    scale = torch.where(degenerate, torch.zeros_like(var_x), trace / var_x.clamp_min(eps))
    t = mu_y[:, 0] - scale[:, None] * (mu_x @ R.transpose(1, 2))[:, 0]
    return SimilarityTransform(scale=scale, rotation=R, translation=t)


def similarity_procrustes(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """``pred`` after the best similarity transform onto ``gt`` (Procrustes alignment).

    Args:
        pred: (B, N, 3).
        gt: (B, N, 3).

    Returns:
        (B, N, 3) aligned ``pred``, in ``pred``'s dtype.
    """
    return similarity_transform(pred, gt).apply(pred.double()).to(pred.dtype)


def pa_mpjpe(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Procrustes-aligned MPJPE (Tables 2 and 5: "MPJPE-PA", a.k.a. reconstruction error).

    Args:
        pred: (B, J, 3) predicted joints.
        gt: (B, J, 3) ground-truth joints.

    Returns:
        (B,) per-sample error in the input units (root alignment is irrelevant: the similarity
        transform includes a translation).
    """
    aligned = similarity_procrustes(pred, gt)
    return torch.linalg.norm(aligned - gt.to(aligned.dtype), dim=-1).mean(dim=-1)


def facing_direction(lsp_joints: torch.Tensor) -> torch.Tensor:
    """Unit vector the torso faces, from 14 LSP joints (not a paper metric: a diagnostic).

    ``forward = normalize(left x up)`` with ``left`` = (left hip - right hip) + (left shoulder -
    right shoulder) and ``up`` = neck - hip midpoint: perpendicular to the shoulders and hips, in
    the direction the chest faces.

    Args:
        lsp_joints: (B, 14, 3) LSP joints (order of :data:`decomr.body.joints.LSP_JOINT_NAMES`).

    Returns:
        (B, 3) unit vectors.
    """
    _check_points("lsp_joints", lsp_joints)
    if lsp_joints.shape[1] != 14:
        raise ValueError(f"lsp_joints: expected (B, 14, 3), got {tuple(lsp_joints.shape)}")
    j = lsp_joints
    left = (j[:, 3] - j[:, 2]) + (j[:, 9] - j[:, 8])  # (B, 3)
    up = j[:, 12] - 0.5 * (j[:, 2] + j[:, 3])
    return torch.nn.functional.normalize(torch.linalg.cross(left, up), dim=-1, eps=1e-12)


def facing_error(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Angle between the predicted and the true facing directions, degrees (0..180).

    Tells whether a model knows which way a person faces: a model that cannot tell front from
    back scores ~90 on average over people facing every direction, and predicts squashed
    bodies (the average over orientations).

    Args:
        pred: (B, 14, 3) predicted LSP joints. gt: (B, 14, 3) true LSP joints (same frame).

    Returns:
        (B,) degrees.

    >>> j = torch.zeros(1, 14, 3); j[0, 2, 0], j[0, 3, 0], j[0, 8, 0], j[0, 9, 0], j[0, 12, 1] = -1, 1, -1, 1, 1
    >>> float(facing_error(j, j)), float(facing_error(j * torch.tensor([-1.0, 1.0, -1.0]), j))
    (0.0, 180.0)
    """
    _check_pair(pred, gt)
    cos = (facing_direction(pred) * facing_direction(gt.to(pred.dtype))).sum(-1).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.arccos(cos))


def per_vertex_error(pred: torch.Tensor, gt: torch.Tensor,
                     align: Literal["hips", "pelvis"] | None = "hips",
                     pred_joints: torch.Tensor | None = None,
                     gt_joints: torch.Tensor | None = None,
                     hips: Sequence[int] = LSP_HIP_INDICES) -> torch.Tensor:
    """Mean per-vertex Euclidean error (Table 3: SURREAL "surface error").

    The paper (and the official ``eval.py``) translate each mesh so that the midpoint of its two
    hips (regressed from that mesh) is at the origin, then average the vertex distances.

    Args:
        pred: (B, V, 3) predicted vertices.
        gt: (B, V, 3) ground-truth vertices (same topology).
        align: ``"hips"`` (Table 3): subtract the hip midpoint of ``pred_joints``/``gt_joints``
            (the 14 LSP joints regressed from each mesh, hips at ``hips``); ``"pelvis"``:
            subtract joint 0 of the joints given (e.g. the 24 SMPL-like joints, pelvis first);
            ``None``: compare the raw vertices.
        pred_joints: (B, J, 3) joints of the predicted mesh (required unless ``align=None``).
        gt_joints: (B, J, 3) joints of the ground-truth mesh.
        hips: hip indices for ``align="hips"``.

    Returns:
        (B,) per-sample mean vertex error in the input units.
    """
    _check_pair(pred, gt)
    if align is None:
        return torch.linalg.norm(pred - gt, dim=-1).mean(dim=-1)
    if align not in ("hips", "pelvis"):
        raise ValueError(f"align: expected 'hips', 'pelvis' or None, got {align!r}")
    if pred_joints is None or gt_joints is None:
        raise ValueError(f"pred_joints/gt_joints: required for align={align!r} (joints regressed from each mesh)")
    _check_points("pred_joints", pred_joints)
    _check_points("gt_joints", gt_joints)
    if pred_joints.shape[0] != pred.shape[0] or gt_joints.shape != pred_joints.shape:
        raise ValueError(
            f"gt_joints: expected matching (B, J, 3) joints for both meshes with B={pred.shape[0]}, "
            f"got {tuple(pred_joints.shape)} and {tuple(gt_joints.shape)}")
    root = "hips" if align == "hips" else 0
    p = pred - root_joint(pred_joints, root, hips)
    g = gt - root_joint(gt_joints, root, hips)
    return torch.linalg.norm(p - g, dim=-1).mean(dim=-1)
