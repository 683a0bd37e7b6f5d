"""Transfer of image-space features to UV space with the predicted IUV image (Eq. 5, Fig. 5).

Every foreground pixel (mask > threshold) sends its feature vector, followed by its normalised
image coordinates (x, y), to the UV grid cell given by its predicted (u, v); each cell averages
what it receives, and an occupancy channel (1 where at least one pixel landed) is appended.

Conventions (:mod:`decomr.conventions`):

- pixel (row i, col j) of an h x w map has its centre at x = (2j + 1)/w - 1, y = (2i + 1)/h - 1;
- UV grid of size G has cell (row r, col c) centred at u = c/(G-1), v = r/(G-1)
  (align_corners=True), so a pixel goes to cell (round(v (G-1)), round(u (G-1))).

The cell indices are integers computed from the UV/mask prediction and carry no gradient: the
transfer is differentiable with respect to the features only (as in the official code). It is a
single ``scatter_add`` per call, with static shapes (no boolean indexing), so it runs unchanged
on CPU/GPU, under ``torch.compile`` and in ONNX export.

>>> feats = torch.arange(4.0).view(1, 1, 2, 2)
>>> uv = torch.zeros(1, 2, 2, 2)                     # every pixel -> cell (0, 0)
>>> out = transfer_to_uv(feats, uv, torch.ones(1, 1, 2, 2), grid=4)
>>> out.shape, out[0, :, 0, 0].tolist()              # mean feature, mean x, mean y, occupancy
(torch.Size([1, 4, 4, 4]), [1.5, 0.0, 0.0, 1.0])
"""
from __future__ import annotations

import torch

from decomr.models.config import ModelConfig


def pixel_centers(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised image coordinates of pixel centres.

    Args:
        height, width: h, w.

    Returns:
        (2, h, w): channel 0 = x = (2j+1)/w - 1, channel 1 = y = (2i+1)/h - 1.
    """
    xs = (2 * torch.arange(width, device=device, dtype=dtype) + 1) / width - 1
    ys = (2 * torch.arange(height, device=device, dtype=dtype) + 1) / height - 1
    return torch.stack([xs.view(1, width).expand(height, width), ys.view(height, 1).expand(height, width)])


def uv_cell_index(uv: torch.Tensor, grid: int) -> torch.Tensor:
    """Flat UV-grid cell of each pixel: row * G + col with col = round(u (G-1)), row = round(v (G-1)).

    Args:
        uv: (..., 2, h, w) UV coordinates in [0, 1] (clamped).
        grid: G.

    Returns:
        (..., h, w) long in [0, G*G), detached.
    """
    cells = torch.round(uv.detach().clamp(0.0, 1.0) * (grid - 1)).long()  # (..., 2, h, w)
    return cells[..., 1, :, :] * grid + cells[..., 0, :, :]


def transfer_to_uv(
    features: torch.Tensor,
    uv: torch.Tensor,
    mask: torch.Tensor,
    grid: int = 64,
    threshold: float = 0.5,
) -> torch.Tensor:
    """Scatter image-space features into a UV grid (Eq. 5).

    Args:
        features: (B, C, h, w) image-space features F_im (or raw pixels, Table 5's last row).
        uv: (B, 2, h, w) predicted UV coordinates in [0, 1] (values outside are clamped).
        mask: (B, 1, h, w) foreground probability or binary mask; pixels with mask > threshold
            are transferred. No gradient flows into it.
        grid: G, the UV grid resolution.
        threshold: foreground threshold on ``mask``.

    Returns:
        (B, C + 3, G, G): mean transferred feature (C channels), mean normalised image x, y of the
        pixels that landed in the cell (2 channels), occupancy in {0, 1} (1 channel). Empty cells
        are 0 everywhere.
    """
    if features.dim() != 4:
        raise ValueError(f"features: expected (B, C, h, w), got {tuple(features.shape)}")
    b, c, h, w = features.shape
    if uv.shape != (b, 2, h, w):
        raise ValueError(f"uv: expected {(b, 2, h, w)} to match features, got {tuple(uv.shape)}")
    if mask.shape != (b, 1, h, w):
        raise ValueError(f"mask: expected {(b, 1, h, w)} to match features, got {tuple(mask.shape)}")
    if grid < 2:
        raise ValueError(f"grid: expected >= 2, got {grid}")

    cells = grid * grid
    index = uv_cell_index(uv, grid).view(b, h * w)  # (B, hw)
    foreground = (mask.detach() > threshold).view(b, h * w)  # (B, hw)
    # Background pixels go to an extra "discard" cell that is dropped afterwards.
    index = torch.where(foreground, index, torch.full_like(index, cells))  # (B, hw)

    xy = pixel_centers(h, w, device=features.device, dtype=features.dtype)  # (2, h, w)
    values = torch.cat([features, xy.unsqueeze(0).expand(b, 2, h, w)], dim=1).view(b, c + 2, h * w)
    sums = values.new_zeros(b, c + 2, cells + 1)
    sums = sums.scatter_add(2, index.unsqueeze(1).expand(b, c + 2, h * w), values)  # (B, C+2, G*G+1)
    counts = values.new_zeros(b, cells + 1).scatter_add(1, index, values.new_ones(b, h * w))  # (B, G*G+1)
    counts = counts[:, :cells].unsqueeze(1)  # (B, 1, G*G)
    means = sums[:, :, :cells] / counts.clamp(min=1.0)  # (B, C+2, G*G)
    occupancy = (counts > 0).to(values.dtype)  # (B, 1, G*G)
    return torch.cat([means, occupancy], dim=1).view(b, c + 3, grid, grid)


def downsample_pixels(images: torch.Tensor, size: int) -> torch.Tensor:
    """Raw pixels at CNet's output resolution for the "pixels+global" variant (Table 5's last row).

    Args:
        images: (B, 3, H, W) images (normalised or not), H and W multiples of ``size``.
        size: h = w, the IUV resolution.

    Returns:
        (B, 3, size, size) area-averaged pixels.
    """
    return torch.nn.functional.adaptive_avg_pool2d(images, size)


def transfer_for_config(
    config: ModelConfig,
    local_features: torch.Tensor,
    images: torch.Tensor,
    uv: torch.Tensor,
    mask_probs: torch.Tensor,
) -> torch.Tensor | None:
    """The transferred map that ``config.lnet_input`` asks for (None for the "global" variant).

    Args:
        config: the model configuration.
        local_features: (B, C_L, h, w) CNet's local features.
        images: (B, 3, H, W) network input (normalised), used by "pixels+global" (averaged into
            CNet's grid, or at full resolution with ``config.pixel_transfer = "input"``).
        uv: (B, 2, h, w) predicted UV.
        mask_probs: (B, 1, h, w) predicted foreground probability.

    Returns:
        (B, config.transferred_channels, G, G) or None.
    """
    if not config.uses_transfer:
        return None
    if config.lnet_input == "pixels+global":
        if config.pixel_transfer == "input":  # every input pixel, at the IUV image upsampled to it
            size = tuple(images.shape[-2:])
            uv = torch.nn.functional.interpolate(uv, size=size, mode="bilinear", align_corners=False)
            mask_probs = torch.nn.functional.interpolate(mask_probs, size=size, mode="bilinear", align_corners=False)
            source = images
        else:
            source = downsample_pixels(images, uv.shape[-1])
    else:
        source = local_features
    return transfer_to_uv(source, uv, mask_probs, grid=config.uv_grid, threshold=config.mask_threshold)
