"""Eq. 4: the IUV loss of CNet, L_IUV = lambda_c L_c + lambda_r L_r (Sec. 3.2).

- L_c: dense binary cross-entropy between the predicted foreground logits and the ground-truth
  mask, averaged over all pixels (of the samples that have an IUV image).
- L_r: L1 between predicted and ground-truth (u, v), averaged over the ground-truth foreground
  pixels and the two channels only (the background has no UV).

When the ground truth is at another resolution than the prediction (e.g. a full-resolution
IUV image), the prediction is resized to it: bilinear for the logits, nearest for UV (as the
official code does, so UV values are never blended across the silhouette).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from decomr.losses.common import check_shape, masked_mean, sample_weights


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode=mode, align_corners=None if mode == "nearest" else False)


def split_iuv(gt_iuv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split an IUV image (B, 3, H, W) into a binary mask (B, 1, H, W) and UV (B, 2, H, W)."""
    check_shape("gt_iuv", gt_iuv, (None, 3, None, None), "(B, 3, H, W)")
    mask = (gt_iuv[:, :1] > 0.5).to(gt_iuv.dtype)
    return mask, gt_iuv[:, 1:]


def mask_loss(mask_logits: torch.Tensor, gt_mask: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """L_c of Eq. 4: binary cross-entropy with logits, mean over pixels of valid samples.

    Args:
        mask_logits: (B, 1, h, w) predicted foreground logits.
        gt_mask: (B, 1, H, W) ground-truth mask in [0, 1].
        valid: optional (B,) bool, samples that have a ground-truth mask.

    Returns:
        () scalar (0 when no sample is valid).
    """
    check_shape("mask_logits", mask_logits, (None, 1, None, None), "(B, 1, h, w)")
    check_shape("gt_mask", gt_mask, (mask_logits.shape[0], 1, None, None), "(B, 1, H, W)")
    logits = _resize(mask_logits, tuple(gt_mask.shape[-2:]), "bilinear")
    bce = F.binary_cross_entropy_with_logits(logits, gt_mask.to(logits.dtype), reduction="none")
    w = sample_weights(valid, logits.shape[0], logits.device, logits.dtype)[:, None, None, None]
    return masked_mean(bce, w)


def uv_loss(
    uv: torch.Tensor, gt_uv: torch.Tensor, gt_mask: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """L_r of Eq. 4: L1 on (u, v), mean over ground-truth foreground pixels and the 2 channels.

    Args:
        uv: (B, 2, h, w) predicted UV in [0, 1].
        gt_uv: (B, 2, H, W) ground-truth UV.
        gt_mask: (B, 1, H, W) ground-truth foreground (> 0.5).
        valid: optional (B,) bool, samples that have a ground-truth IUV image.

    Returns:
        () scalar (0 when there is no foreground pixel).
    """
    check_shape("uv", uv, (None, 2, None, None), "(B, 2, h, w)")
    check_shape("gt_uv", gt_uv, (uv.shape[0], 2, None, None), "(B, 2, H, W)")
    check_shape("gt_mask", gt_mask, (uv.shape[0], 1, *gt_uv.shape[-2:]), "(B, 1, H, W)")
    pred = _resize(uv, tuple(gt_uv.shape[-2:]), "nearest")
    w = sample_weights(valid, uv.shape[0], uv.device, uv.dtype)[:, None, None, None]
    fg = (gt_mask > 0.5).to(uv.dtype) * w  # (B, 1, H, W)
    return masked_mean((pred - gt_uv).abs(), fg)


def iuv_loss(
    mask_logits: torch.Tensor,
    uv: torch.Tensor,
    gt_iuv: torch.Tensor,
    valid: torch.Tensor | None = None,
    lambda_c: float = 0.2,
    lambda_r: float = 1.0,
) -> torch.Tensor:
    """Eq. 4: ``lambda_c * L_c + lambda_r * L_r`` against a ground-truth IUV image (B, 3, H, W)."""
    gt_mask, gt_uv = split_iuv(gt_iuv)
    return lambda_c * mask_loss(mask_logits, gt_mask, valid) + lambda_r * uv_loss(uv, gt_uv, gt_mask, valid)
