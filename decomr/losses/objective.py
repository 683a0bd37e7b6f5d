"""Eq. 1 and Eq. 9: DecoMR's full objective with the paper's weights (Sec. 3.4).

    L     = L_IUV + L_loc + lambda_con L_con + lambda_tv TV                      (Eq. 1)
    L_IUV = lambda_c L_c + lambda_r L_r                                           (Eq. 4)
    L_loc = lambda_map L_map + lambda_3d L_J^3D + lambda_2d L_J^2D                (Eq. 9)

Every term is returned (already multiplied by its weight) in :class:`LossTerms` for logging.
In stage 1 (``model(images, stage="cnet")``, no location map) only L_IUV is computed.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from decomr.losses.consistency import consistency_loss
from decomr.losses.iuv import mask_loss, split_iuv, uv_loss
from decomr.losses.joints import joints2d_loss, joints3d_loss
from decomr.losses.location import location_map_loss, total_variation
from decomr.models.config import DictConfig
from decomr.render.cameras import weak_perspective_project


@dataclass(frozen=True)
class LossConfig(DictConfig):
    """Loss weights. Defaults = the paper (Sec. 3.4) and the official training settings."""

    mask: float = 0.2  # lambda_c, BCE on the foreground mask (Eq. 4)
    uv: float = 1.0  # lambda_r, L1 on UV over foreground pixels (Eq. 4)
    location_map: float = 1.0  # weighted L1 on the location map (Eq. 6)
    joints3d: float = 1.0  # L1 on pelvis-centred 3D joints (Eq. 7)
    joints2d: float = 1.0  # visibility-weighted squared error of projected 2D joints (Eq. 8)
    consistency: float = 1.0  # lambda_con (Eq. 1, 10); the paper uses 1 (the official code's default is 0)
    tv: float = 1e-4  # total variation of the location map (official code; not in the paper's text)
    joints3d_root: int = 0  # root joint for centring in Eq. 7 (0 = pelvis of the 24 SMPL-like joints)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if f.name != "joints3d_root" and getattr(self, f.name) < 0:
                raise ValueError(f"LossConfig.{f.name}: expected a weight >= 0, got {getattr(self, f.name)}")


@dataclass(frozen=True)
class LossTargets:
    """Ground truth for a batch of B crops (any field may be None when the data lacks it).

    Attributes:
        iuv: (B, 3, H, W) IUV image (mask, u, v), at CNet's output resolution or larger.
        location_map: (B, 3, R, R) ground-truth location map (``sampler.mesh_to_map`` of the
            pelvis-centred camera-frame vertices).
        joints3d: (B, J, 3) 3D joints, camera frame (J = 24, the model's ``joints``).
        keypoints2d: (B, J, 3) normalised 2D joints and visibility.
        has_iuv, has_mesh, has_3d: optional (B,) bool masks of samples with IUV / mesh / 3D joints.
    """

    iuv: torch.Tensor | None = None
    location_map: torch.Tensor | None = None
    joints3d: torch.Tensor | None = None
    keypoints2d: torch.Tensor | None = None
    has_iuv: torch.Tensor | None = None
    has_mesh: torch.Tensor | None = None
    has_3d: torch.Tensor | None = None

    @classmethod
    def from_batch(cls, batch: Any, sampler: Any = None) -> "LossTargets":
        """Targets from a :class:`~decomr.data.batch.Batch` of ``decomr.data`` samples.

        Uses ``iuv``, ``keypoints``, ``joints3d``, ``vertices`` and the optional ``has_iuv``,
        ``has_mesh``, ``has_3d`` masks. The ground-truth location map is rasterised from the
        pelvis-centred camera-frame ``vertices`` with ``sampler.mesh_to_map`` (a
        ``decomr.uv.UVSampler`` at the model's map resolution, e.g. ``model.sampler``); without a
        sampler or vertices there is no location-map target.

        Args:
            batch: a :class:`~decomr.data.batch.Batch` (read by attribute: the losses sit below the
                data layer and do not import it), or a dict of its fields.
            sampler: object with ``mesh_to_map((B, V, 3)) -> (B, 3, R, R)``.
        """
        get = batch.get if isinstance(batch, Mapping) else (lambda key: getattr(batch, key, None))
        location_map = None
        if sampler is not None and get("vertices") is not None:
            with torch.no_grad():
                location_map = sampler.mesh_to_map(get("vertices"))  # (B, 3, R, R)
        return cls(
            iuv=get("iuv"), location_map=location_map, joints3d=get("joints3d"), keypoints2d=get("keypoints"),
            has_iuv=get("has_iuv"), has_mesh=get("has_mesh"), has_3d=get("has_3d"),
        )


@dataclass(frozen=True)
class LossTerms:
    """Weighted loss terms (scalars) and their sums; ``total`` is what to back-propagate."""

    mask: torch.Tensor
    uv: torch.Tensor
    location_map: torch.Tensor
    joints3d: torch.Tensor
    joints2d: torch.Tensor
    consistency: torch.Tensor
    tv: torch.Tensor
    iuv: torch.Tensor  # mask + uv (Eq. 4)
    loc: torch.Tensor  # location_map + joints3d + joints2d (Eq. 9)
    total: torch.Tensor  # iuv + loc + consistency + tv (Eq. 1)

    def as_dict(self) -> dict[str, float]:
        """Python floats of every term, for logging."""
        return {f.name: float(getattr(self, f.name).detach()) for f in dataclasses.fields(self)}


def compute_losses(
    output: Any,
    targets: LossTargets,
    weight_map: torch.Tensor | None = None,
    config: LossConfig = LossConfig(),
) -> LossTerms:
    """Eq. 1: DecoMR's objective for one batch.

    Args:
        output: a ``decomr.models.DecoMROutput`` (fields mask_logits, uv, camera and, in the full
            stage, location_map and joints).
        targets: :class:`LossTargets`.
        weight_map: (R, R) weight map W of Eq. 6 (``decomr.uv.weight_map``); required when the
            location-map term is active.
        config: the weights.

    Returns:
        :class:`LossTerms`. Terms whose weight is 0, whose target is missing, or that need LNet
        outputs in stage 1 are exactly 0.
    """
    zero = output.mask_logits.new_zeros(())
    terms = dict(mask=zero, uv=zero, location_map=zero, joints3d=zero, joints2d=zero, consistency=zero, tv=zero)

    if targets.iuv is not None:  # Eq. 4
        gt_mask, gt_uv = split_iuv(targets.iuv)
        if config.mask > 0:
            terms["mask"] = config.mask * mask_loss(output.mask_logits, gt_mask, targets.has_iuv)
        if config.uv > 0:
            terms["uv"] = config.uv * uv_loss(output.uv, gt_uv, gt_mask, targets.has_iuv)

    if output.location_map is not None:
        if config.location_map > 0 and targets.location_map is not None:  # Eq. 6
            if weight_map is None:
                raise ValueError("weight_map: required (R, R) tensor for the location-map loss (Eq. 6)")
            terms["location_map"] = config.location_map * location_map_loss(
                output.location_map, targets.location_map, weight_map, targets.has_mesh)
        if config.tv > 0:
            terms["tv"] = config.tv * total_variation(output.location_map)
        if config.joints3d > 0 and targets.joints3d is not None:  # Eq. 7
            terms["joints3d"] = config.joints3d * joints3d_loss(
                output.joints, targets.joints3d, targets.has_3d, root=config.joints3d_root)
        if config.joints2d > 0 and targets.keypoints2d is not None:  # Eq. 8
            projected = weak_perspective_project(output.joints, output.camera)  # (B, J, 2)
            terms["joints2d"] = config.joints2d * joints2d_loss(projected, targets.keypoints2d)
        if config.consistency > 0 and targets.iuv is not None:  # Eq. 10
            terms["consistency"] = config.consistency * consistency_loss(
                output.location_map, output.camera, targets.iuv, targets.has_iuv)

    iuv = terms["mask"] + terms["uv"]
    loc = terms["location_map"] + terms["joints3d"] + terms["joints2d"]
    total = iuv + loc + terms["consistency"] + terms["tv"]
    return LossTerms(**terms, iuv=iuv, loc=loc, total=total)
