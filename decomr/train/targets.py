"""Ground truth for the losses of one batch (Sec. 3.4), built on the fly on the training device.

* Location map (Eq. 6 target): the GT vertices (camera frame, pelvis-centred) rasterised into UV
  space with the model's own :class:`~decomr.uv.UVSampler` (``mesh_to_map``), so the target and
  the prediction use exactly the same atlas and resolution.
* Synthetic batches carry ``vertices`` and ``iuv``. Official batches (H36M, UP-3D, SURREAL) carry
  SMPL parameters instead: with the SMPL body the mesh is posed here, and the IUV image is
  rendered from it with a weak-perspective camera fitted to the 2D keypoints (the official code
  rendered these offline with OpenDR).
* Joints. The model regresses the body's 24 SMPL-like joints and the 14 LSP joints. Batches with
  ``keypoint_format == "smpl24"`` (synthetic, SURREAL) are compared on the 24 joints, rooted at the
  pelvis; ``"j24"`` batches (the official 24-joint superset of H36M/UP-3D/LSP/3DPW) on their
  first 14 = the LSP joints, rooted at the hip midpoint (added as a zero-weight joint 0, so that
  it only centres the skeletons; Eq. 7, 8).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from decomr.body.joints import LSP_HIPS, convert
from decomr.data.batch import Batch, as_batch
from decomr.losses import LossTargets
from decomr.render import render_body
from decomr.render.cameras import fit_weak_perspective as fit

__all__ = ["BatchTargets", "make_targets", "fit_weak_perspective", "joints_for_loss", "batch_keypoint_format"]


@dataclass(frozen=True)
class BatchTargets:
    """Loss targets of a batch and which predicted joints they compare with.

    Attributes:
        targets: :class:`~decomr.losses.LossTargets`.
        joint_set: ``"smpl24"`` (the model's ``joints``) or ``"lsp+hips"`` (hip midpoint + the 14
            LSP joints, see :func:`joints_for_loss`).
        vertices: (B, V, 3) GT vertices (zeros where ``has_mesh`` is False), for metrics.
    """

    targets: LossTargets
    joint_set: str
    vertices: torch.Tensor | None


def batch_keypoint_format(batch: Batch | dict[str, Any]) -> str:
    """``"smpl24"`` or ``"j24"``: the joint order of ``keypoints``/``joints3d`` (one per batch)."""
    fmt = batch.keypoint_format if isinstance(batch, Batch) else batch.get("keypoint_format")
    fmt = "smpl24" if fmt is None else fmt
    if isinstance(fmt, (list, tuple)):
        kinds = set(fmt)
        if len(kinds) != 1:
            raise ValueError(f"batch['keypoint_format']: one joint format per batch expected, got {sorted(kinds)} "
                             "(do not mix SURREAL with H36M/UP-3D in one dataset mixture)")
        fmt = kinds.pop()
    if fmt not in ("smpl24", "j24"):
        raise ValueError(f"batch['keypoint_format']: expected 'smpl24' or 'j24', got {fmt!r}")
    return fmt


def _hips_first(joints: torch.Tensor) -> torch.Tensor:
    """(B, 14, C) LSP joints -> (B, 15, C): hip midpoint (``LSP_HIPS``) first."""
    return torch.cat([joints[:, list(LSP_HIPS)].mean(dim=1, keepdim=True), joints], dim=1)


def joints_for_loss(output: Any, joint_set: str) -> Any:
    """``output`` with ``joints`` replaced by the set the targets use (see :class:`BatchTargets`)."""
    if joint_set == "smpl24" or output.joints is None:
        return output
    return dataclasses.replace(output, joints=_hips_first(output.lsp_joints))


def fit_weak_perspective(points: torch.Tensor, keypoints: torch.Tensor, min_scale: float = 1e-3) -> torch.Tensor:
    """Least-squares weak-perspective camera ``[s, tx, ty]`` mapping 3D points onto 2D keypoints.

    Minimises ``sum_j v_j |s (X_j[:2] + t) - k_j|^2`` (:func:`decomr.render.cameras.fit_weak_perspective`
    with the visibilities as weights), then keeps ``s >= min_scale``.

    Args:
        points: (B, J, 3) camera-frame points, metres.
        keypoints: (B, J, 3) normalised 2D keypoints + visibility.
        min_scale: lower bound on s (degenerate fits).

    Returns:
        (B, 3) cameras.
    """
    if points.dim() != 3 or points.shape[-1] != 3 or keypoints.shape[:2] != points.shape[:2] or keypoints.shape[-1] != 3:
        raise ValueError(f"points/keypoints: expected (B, J, 3) each, got {tuple(points.shape)} and {tuple(keypoints.shape)}")
    cam = fit(points, keypoints[..., :2], weights=keypoints[..., 2]).double()  # (B, 3)
    s = cam[:, 0].clamp(min=min_scale)
    t = cam[:, 1:] * (cam[:, :1] / s[:, None])  # keeps s * t (the fitted 2D offset) when s is clamped
    return torch.cat([s[:, None], t], dim=1).to(points.dtype)


def _official_mesh(batch: Batch, body: Any, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(B, V, 3) pelvis-centred GT meshes from SMPL parameters, and (B,) has_mesh."""
    b = len(batch)
    has = batch.has_smpl
    has = torch.zeros(b, dtype=torch.bool, device=device) if has is None else has.to(device).bool()
    if not bool(has.any()) or body is None or getattr(body, "name", "") != "smpl":
        return None, torch.zeros(b, dtype=torch.bool, device=device)
    out = body(shape=batch.shape.float(), pose=batch.pose.float(),
               global_orient=batch.global_orient.float())  # runs on the body's device
    vertices = (out.vertices - out.joints[:, :1]).to(device)  # (B, V, 3) pelvis-centred, camera frame
    return vertices * has[:, None, None], has


@torch.no_grad()
def make_targets(batch: Batch | dict[str, Any], sampler: Any, body: Any = None, atlas: Any = None,
                 iuv_size: int | None = None) -> BatchTargets:
    """Ground truth of a batch (already on the training device).

    Args:
        batch: a :class:`~decomr.data.batch.Batch` (synthetic: ``image``, ``iuv``, ``vertices``,
            ``joints3d``, ``keypoints``, ``has_3d``, ``has_mesh``; official: SMPL parameters instead
            of ``vertices``/``iuv``, see :mod:`decomr.data.official`), or a dict of its fields.
        sampler: the model's UV sampler (``mesh_to_map``), for the GT location maps.
        body: the body model; needed to pose SMPL parameters (official data, SMPL only).
        atlas: the UV atlas; needed to render GT IUV images of official data.
        iuv_size: resolution of rendered GT IUV images (the model's ``iuv_size``).

    Returns:
        :class:`BatchTargets`.
    """
    batch = as_batch(batch)
    device = batch.device
    b = len(batch)
    fmt = batch_keypoint_format(batch)

    # --- mesh and location map (Eq. 6) ---
    if batch.vertices is not None:
        vertices = batch.vertices.float()
        has_mesh = (batch.has_mesh if batch.has_mesh is not None
                    else torch.ones(b, dtype=torch.bool, device=device)).bool()
    else:
        vertices, has_mesh = _official_mesh(batch, body, device)
    location_map = sampler.mesh_to_map(vertices) if vertices is not None else None  # (B, 3, R, R)

    # --- joints (Eq. 7, 8) ---
    keypoints = batch.keypoints
    joints3d = batch.joints3d
    has_3d = batch.has_3d
    if joints3d is not None and batch.joints3d_conf is not None:
        joints3d = torch.cat([joints3d, batch.joints3d_conf[..., None].to(joints3d)], dim=-1)  # (B, J, 4)
    if fmt == "j24":
        if joints3d is not None:
            j, _ = convert(joints3d, "j24", "lsp14")  # (B, 14, C)
            if j.shape[-1] == 3:
                j = torch.cat([j, torch.ones_like(j[..., :1])], dim=-1)
            root = _hips_first(j)[:, :1].clone()
            root[..., 3] = 0.0  # the hip midpoint only centres the skeletons
            joints3d = torch.cat([root, j], dim=1)  # (B, 15, 4)
        if keypoints is not None:
            kp, _ = convert(keypoints, "j24", "lsp14")  # (B, 14, 3)
            root = _hips_first(kp)[:, :1].clone()
            root[..., 2] = 0.0
            keypoints = torch.cat([root, kp], dim=1)  # (B, 15, 3)
    joint_set = "lsp+hips" if fmt == "j24" else "smpl24"

    # --- IUV image (Eq. 4, 10) ---
    has_iuv = batch.has_iuv
    if batch.iuv is not None:
        iuv = batch.iuv.float()
    elif vertices is not None and bool(has_mesh.any()) and atlas is not None and keypoints is not None:
        lsp = torch.einsum("jv,bvc->bjc", body.lsp_regressor.to(vertices), vertices)  # (B, 14, 3)
        kp14 = keypoints[:, 1:] if fmt == "j24" else batch.lsp_keypoints.to(vertices)
        camera = fit_weak_perspective(lsp, kp14)
        size = iuv_size or 56
        iuv = render_body(vertices + torch.tensor([0.0, 0.0, 10.0], device=device), body.faces.to(device), camera,
                          (size, size), corner_uv=atlas.corner_uv().to(device), shade=False).iuv
        has_iuv = has_mesh
    else:
        iuv, has_iuv = None, None

    targets = LossTargets(
        iuv=iuv, location_map=location_map, joints3d=joints3d, keypoints2d=keypoints,
        has_iuv=None if has_iuv is None else has_iuv.bool(),
        has_mesh=has_mesh if vertices is not None else None,
        has_3d=None if has_3d is None else has_3d.bool(),
    )
    return BatchTargets(targets=targets, joint_set=joint_set, vertices=vertices)
