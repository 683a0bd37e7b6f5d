"""Eq. 6: weighted L1 on the location map, and a total-variation regulariser (Sec. 3.3).

The weight map W (R, R) comes from ``decomr.uv.weight_map(body, atlas, R)``: 1 : 2 : 5 : 25 for
torso, neck/head, arms/legs, hands/feet (supplementary Sec. 3), 0 outside the UV mask, normalised
to mean 1 over the whole R x R square as in the official code.
"""
from __future__ import annotations

import torch

from decomr.losses.common import check_shape, masked_mean, sample_weights


def location_map_loss(
    location_map: torch.Tensor,
    gt_location_map: torch.Tensor,
    weight_map: torch.Tensor,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. 6: ``mean_{b, c, u, v} W(u, v) |X - X_gt|`` over the valid samples.

    The mean runs over all R x R pixels and the 3 channels (not only over the UV mask), as in the
    official code. W has mean 1 over the whole square, so a uniform error e gives a loss of e on
    any atlas (the share of the square an atlas covers does not change the loss's weight).

    Args:
        location_map: (B, 3, R, R) predicted location map, metres.
        gt_location_map: (B, 3, R, R) ground truth.
        weight_map: (R, R) non-negative weights W(u, v).
        valid: optional (B,) bool, samples that have a ground-truth mesh.

    Returns:
        () scalar, metres (0 when no sample is valid).
    """
    check_shape("location_map", location_map, (None, 3, None, None), "(B, 3, R, R)")
    check_shape("gt_location_map", gt_location_map, tuple(location_map.shape), "(B, 3, R, R)")
    check_shape("weight_map", weight_map, tuple(location_map.shape[-2:]), "(R, R)")
    w = sample_weights(valid, location_map.shape[0], location_map.device, location_map.dtype)
    err = weight_map.to(location_map.dtype) * (location_map - gt_location_map).abs()  # (B, 3, R, R)
    return masked_mean(err, w[:, None, None, None])


def total_variation(location_map: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation of the location map, per sample, averaged over the batch.

    ``TV = sum_{c,i,j} (|X[c,i,j+1] - X[c,i,j]| + |X[c,i+1,j] - X[c,i,j]|) / (R-1)^2``. The
    official code divides the sum over the whole batch by (R-1)^2 (so its weight grows with the
    batch size); here it is averaged over the batch instead.

    Args:
        location_map: (B, C, R, R).

    Returns:
        () scalar.
    """
    check_shape("location_map", location_map, (None, None, None, None), "(B, C, R, R)")
    b, _, h, w = location_map.shape
    dx = (location_map[..., :, 1:] - location_map[..., :, :-1]).abs().sum()
    dy = (location_map[..., 1:, :] - location_map[..., :-1, :]).abs().sum()
    return (dx + dy) / (max(h - 1, 1) * max(w - 1, 1) * max(b, 1))
