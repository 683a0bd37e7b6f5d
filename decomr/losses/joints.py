"""Eq. 7 and Eq. 8: 3D and 2D joint losses on the joints regressed from the predicted mesh.

- Eq. 7: L1 between root-centred 3D joints, for samples with 3D ground truth (``has_3d``).
- Eq. 8: squared error between projected and ground-truth 2D joints (normalised image
  coordinates), weighted by the joints' visibility.

Both are averaged over the contributing joints and coordinates (the scale of PyTorch's L1/MSE
losses used by the official code), with a clamped denominator: no valid sample or no visible
joint gives 0, never NaN.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from decomr.losses.common import check_shape, masked_mean, sample_weights


def center_joints(joints: torch.Tensor, root: int | Sequence[int] | None) -> torch.Tensor:
    """Subtract the root joint (or the mean of several, e.g. the two hips of LSP) from (B, J, 3) joints."""
    if root is None:
        return joints
    idx = [root] if isinstance(root, int) else list(root)
    return joints - joints[:, idx].mean(dim=1, keepdim=True)


def joints3d_loss(
    joints: torch.Tensor,
    gt_joints: torch.Tensor,
    has_3d: torch.Tensor | None = None,
    root: int | Sequence[int] | None = 0,
    confidence: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 7: ``mean |Z - Z_gt|`` over joints and coordinates after centring both on the root.

    Args:
        joints: (B, J, 3) predicted joints, metres.
        gt_joints: (B, J, 3) ground-truth joints (or (B, J, 4) with a confidence last).
        has_3d: optional (B,) bool, samples with 3D ground truth.
        root: index of the root joint (0 = pelvis for the 24 SMPL-like joints), a list of
            indices averaged (e.g. (2, 3), LSP's hips), or None (no centring).
        confidence: optional (B, J) per-joint weights (overrides a 4th column of ``gt_joints``).

    Returns:
        () scalar, metres.
    """
    check_shape("joints", joints, (None, None, 3), "(B, J, 3)")
    b, j, _ = joints.shape
    if gt_joints.dim() != 3 or gt_joints.shape[:2] != (b, j) or gt_joints.shape[2] not in (3, 4):
        raise ValueError(f"gt_joints: expected (B, J, 3) or (B, J, 4) = ({b}, {j}, 3|4), got {tuple(gt_joints.shape)}")
    if confidence is None and gt_joints.shape[2] == 4:
        confidence = gt_joints[..., 3]
    gt = gt_joints[..., :3].to(joints.dtype)
    if confidence is None:
        confidence = joints.new_ones(b, j)
    check_shape("confidence", confidence, (b, j), "(B, J)")
    w = sample_weights(has_3d, b, joints.device, joints.dtype)[:, None] * confidence.to(joints.dtype)  # (B, J)
    err = (center_joints(joints, root) - center_joints(gt, root)).abs()  # (B, J, 3)
    return masked_mean(err, w[..., None])


def joints2d_loss(
    joints_2d: torch.Tensor,
    gt_keypoints: torch.Tensor,
    visibility: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 8: ``sum_i v_i ||z_i - z_gt_i||^2 / (2 sum_i v_i)``: visibility-weighted mean squared error.

    Args:
        joints_2d: (B, J, 2) projected predicted joints, normalised image coordinates.
        gt_keypoints: (B, J, 2) or (B, J, 3) ground truth; a third column is the visibility.
        visibility: optional (B, J) weights in [0, 1] (overrides the third column).

    Returns:
        () scalar (0 when no joint is visible).
    """
    check_shape("joints_2d", joints_2d, (None, None, 2), "(B, J, 2)")
    b, j, _ = joints_2d.shape
    if gt_keypoints.dim() != 3 or gt_keypoints.shape[:2] != (b, j) or gt_keypoints.shape[2] not in (2, 3):
        raise ValueError(
            f"gt_keypoints: expected (B, J, 2) or (B, J, 3) = ({b}, {j}, 2|3), got {tuple(gt_keypoints.shape)}"
        )
    if visibility is None:
        visibility = gt_keypoints[..., 2] if gt_keypoints.shape[2] == 3 else joints_2d.new_ones(b, j)
    check_shape("visibility", visibility, (b, j), "(B, J)")
    err = (joints_2d - gt_keypoints[..., :2].to(joints_2d.dtype)) ** 2  # (B, J, 2)
    return masked_mean(err, visibility.to(joints_2d.dtype)[..., None])
