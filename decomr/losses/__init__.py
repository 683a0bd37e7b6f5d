"""DecoMR's losses (Eq. 1-10) as pure functions, plus :class:`LossConfig` with the paper's weights.

>>> from decomr.losses import LossConfig
>>> LossConfig().mask, LossConfig().consistency, LossConfig().tv
(0.2, 1.0, 0.0001)
"""
from decomr.losses.common import masked_mean
from decomr.losses.consistency import consistency_loss, sample_location_map
from decomr.losses.iuv import iuv_loss, mask_loss, split_iuv, uv_loss
from decomr.losses.joints import center_joints, joints2d_loss, joints3d_loss
from decomr.losses.location import location_map_loss, total_variation
from decomr.losses.objective import LossConfig, LossTargets, LossTerms, compute_losses

__all__ = [
    "LossConfig",
    "LossTargets",
    "LossTerms",
    "compute_losses",
    "mask_loss",
    "uv_loss",
    "iuv_loss",
    "split_iuv",
    "location_map_loss",
    "total_variation",
    "joints3d_loss",
    "joints2d_loss",
    "center_joints",
    "consistency_loss",
    "sample_location_map",
    "masked_mean",
]
