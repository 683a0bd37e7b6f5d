"""Eq. 10: the consistency loss between the predicted location map and the ground-truth IUV image.

For every ground-truth foreground pixel (x, y) with ground-truth surface coordinate (u, v), the
predicted location map X is sampled at (u, v) (bilinear, align_corners=True, the UV-map
convention), projected with the predicted weak-perspective camera c, and compared with the
pixel's own normalised coordinates (pixel centres, align_corners=False, the image convention):

    L_con = mean over foreground pixels and the 2 coordinates of ((x, y) - pi(X(u, v), c))^2

(the paper writes a sum of squared norms; the mean over pixels and coordinates is the official
code's MSE scale, except that the official code also averages over background pixels).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from decomr.losses.common import check_shape, masked_mean, sample_weights
from decomr.losses.iuv import split_iuv
from decomr.models.transfer import pixel_centers
from decomr.render.cameras import weak_perspective_project


def sample_location_map(location_map: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup X(u, v) with the UV-map convention (align_corners=True).

    Args:
        location_map: (B, C, R, R).
        uv: (B, 2, H, W) UV coordinates in [0, 1].

    Returns:
        (B, C, H, W).
    """
    grid = (2.0 * uv - 1.0).permute(0, 2, 3, 1).to(location_map.dtype)  # (B, H, W, 2)
    return F.grid_sample(location_map, grid, mode="bilinear", padding_mode="border", align_corners=True)


def consistency_loss(
    location_map: torch.Tensor,
    camera: torch.Tensor,
    gt_iuv: torch.Tensor,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 10.

    Args:
        location_map: (B, 3, R, R) predicted location map (pelvis-centred camera frame, metres).
        camera: (B, 3) predicted weak-perspective camera [s, tx, ty].
        gt_iuv: (B, 3, H, W) ground-truth IUV image (mask > 0.5, then u, v).
        valid: optional (B,) bool, samples that have a ground-truth IUV image.

    Returns:
        () scalar, squared normalised image units (0 when there is no foreground pixel).
    """
    check_shape("location_map", location_map, (None, 3, None, None), "(B, 3, R, R)")
    b = location_map.shape[0]
    check_shape("camera", camera, (b, 3), "(B, 3)")
    check_shape("gt_iuv", gt_iuv, (b, 3, None, None), "(B, 3, H, W)")
    gt_mask, gt_uv = split_iuv(gt_iuv)
    h, w = gt_iuv.shape[-2:]
    points = sample_location_map(location_map, gt_uv)  # (B, 3, H, W)
    points = points.flatten(2).transpose(1, 2)  # (B, H*W, 3)
    projected = weak_perspective_project(points, camera.to(points.dtype))  # (B, H*W, 2)
    target = pixel_centers(h, w, device=points.device, dtype=points.dtype).flatten(1).t()  # (H*W, 2)
    err = (projected - target.unsqueeze(0)) ** 2  # (B, H*W, 2)
    weights = gt_mask.flatten(1).to(points.dtype)  # (B, H*W)
    weights = weights * sample_weights(valid, b, points.device, points.dtype)[:, None]
    return masked_mean(err, weights[..., None])
