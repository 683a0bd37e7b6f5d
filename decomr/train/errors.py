"""The per-sample errors that training reports and evaluation averages.

:func:`batch_errors` scores one batch of model outputs against its ground truth (mask IoU, UV
error, MPJPE, PA-MPJPE, facing error, per-vertex error); :func:`template_errors` scores the
template body, the baseline every learned number stands beside. The training loop's validation
(:func:`decomr.train.loop.evaluate`) and the checkpoint evaluation (:mod:`decomr.eval.evaluate`)
both use them.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from decomr.body.joints import convert
from decomr.body.metrics import facing_error, mpjpe, pa_mpjpe, per_vertex_error, root_joint
from decomr.data.batch import Batch, as_batch
from decomr.train.targets import batch_keypoint_format
from decomr.uv.maps import camera_frame_vertices

__all__ = ["MM", "nan_where", "batch_errors", "template_errors", "MeanTally"]

#: Millimetres per metre: every reported joint and vertex error is in mm.
MM = 1000.0


def nan_where(values: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    if valid is None:
        return values
    return torch.where(valid.to(values.device).bool(), values, torch.full_like(values, float("nan")))


def batch_errors(out: Any, batch: Batch | dict[str, Any]) -> dict[str, torch.Tensor]:
    """Per-sample metrics of one batch (NaN where a sample has no ground truth for a metric).

    Args:
        out: a float32 ``DecoMROutput``.
        batch: the :class:`~decomr.data.batch.Batch` (or a dict of its fields) on ``out``'s device
            (synthetic: ``iuv``, ``vertices``, ``lsp_joints3d``, ``has_mesh``, ``has_3d``; or an
            official batch with ``j24`` joints).

    Returns:
        name -> (B,) tensor: ``mask_iou``, ``mask_acc``, ``uv_error`` (UV units) when the batch has
        an IUV image; ``mpjpe``, ``pa_mpjpe`` (mm, 14 LSP joints, hip-midpoint root = the "decomr"
        convention), ``facing_error`` (degrees between the facing directions of the two skeletons)
        and ``pve`` (mm, hip-aligned, Table 3) when the model predicted a mesh.
    """
    batch = as_batch(batch)
    res: dict[str, torch.Tensor] = {}
    if batch.iuv is not None:
        gt = batch.iuv.to(out.mask_logits.device).float()
        size = tuple(gt.shape[-2:])
        logits = out.mask_logits if tuple(out.mask_logits.shape[-2:]) == size else \
            F.interpolate(out.mask_logits, size=size, mode="bilinear", align_corners=False)
        uv = out.uv if tuple(out.uv.shape[-2:]) == size else F.interpolate(out.uv, size=size, mode="nearest")
        gt_fg, pred_fg = gt[:, 0] > 0.5, logits[:, 0] > 0  # (B, H, W)
        inter = (gt_fg & pred_fg).flatten(1).sum(1).float()
        union = (gt_fg | pred_fg).flatten(1).sum(1).float()
        res["mask_iou"] = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
        res["mask_acc"] = (gt_fg == pred_fg).flatten(1).float().mean(1)
        err = (uv - gt[:, 1:]).abs().mean(1)  # (B, H, W)
        fg = gt_fg.float()
        res["uv_error"] = (err * fg).flatten(1).sum(1) / fg.flatten(1).sum(1)  # NaN without foreground
    if out.vertices is None:
        return res
    fmt = batch_keypoint_format(batch)
    gt14, valid = None, None
    if fmt == "smpl24" and batch.lsp_joints3d is not None:
        gt14 = batch.lsp_joints3d.float()
        valid = batch.has_3d if batch.has_3d is not None else batch.has_mesh
    elif fmt == "j24" and batch.joints3d is not None:
        j14, _ = convert(batch.joints3d[..., :3].float(), "j24", "j14")  # the official evaluation's 14 joints
        gt14 = j14 - root_joint(j14, "hips")
        valid = batch.has_3d
    if gt14 is not None:
        pred14 = out.lsp_joints
        res["mpjpe"] = nan_where(mpjpe(pred14, gt14, root="hips") * MM, valid)
        res["pa_mpjpe"] = nan_where(pa_mpjpe(pred14, gt14).float() * MM, valid)
        res["facing_error"] = nan_where(facing_error(pred14.float(), gt14.float()), valid)
    if batch.vertices is not None and batch.lsp_joints3d is not None:
        pve = per_vertex_error(out.vertices, batch.vertices.float(), "hips", out.lsp_joints,
                               batch.lsp_joints3d.float())
        res["pve"] = nan_where(pve * MM, batch.has_mesh)
    return res


def template_errors(body: Any, batch: Batch | dict[str, Any]) -> dict[str, torch.Tensor]:
    """Per-sample errors of the template body predicted for every image: the baseline.

    The template (mean shape, rest pose, upright and facing the camera, pelvis-centred;
    :func:`decomr.uv.maps.camera_frame_vertices`) is what a model that learned nothing about the
    image would predict (and what a fresh DecoMR with a zero residual predicts). Every learned
    number is reported beside it on the same images.

    Args:
        body: the body model (on the batch's device).
        batch: a synthetic :class:`~decomr.data.batch.Batch` (``lsp_joints3d``, ``vertices``), or a
            dict of its fields.

    Returns:
        name -> (B,): ``mpjpe``, ``pa_mpjpe``, ``pve`` (mm) and ``facing_error`` (degrees).
    """
    batch = as_batch(batch)
    gt14 = batch.lsp_joints3d.float()
    b = gt14.shape[0]
    with torch.no_grad():
        verts = camera_frame_vertices(body).to(gt14.device).expand(b, -1, -1)  # (B, V, 3)
        lsp = body.regress_joints(verts)[1].to(gt14.device)  # (B, 14, 3)
    res = {"mpjpe": mpjpe(lsp, gt14, root="hips") * MM, "pa_mpjpe": pa_mpjpe(lsp, gt14).float() * MM,
           "facing_error": facing_error(lsp, gt14)}
    if batch.vertices is not None:
        res["pve"] = per_vertex_error(verts, batch.vertices.float(), "hips", lsp, gt14) * MM
    return res


class MeanTally:
    """Means over a dataset of per-sample values, NaNs (no ground truth) left out, per name."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, name: str, values: torch.Tensor, keep_nan: bool = False) -> None:
        """Add ``values`` (any shape) to ``name``'s mean; ``keep_nan``: a NaN makes the mean NaN."""
        values = values.detach().double().reshape(-1)
        finite = torch.isfinite(values) | keep_nan
        self.sums[name] = self.sums.get(name, 0.0) + float(values[finite].sum())
        self.counts[name] = self.counts.get(name, 0) + int(finite.sum())

    def result(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums if self.counts[k] > 0}
