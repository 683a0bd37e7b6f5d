"""LNet, the location net (Sec. 3.3): transferred features -> location map.

Input (Table 5's variants, all on the G x G UV grid):

- "local+global" (the paper's model): transferred local features (C_L + 3) + the global feature
  broadcast over the grid (C_G) + the template's reference location map (3): 518 channels;
- "local": transferred features + reference map;
- "global": global feature + reference map (the baseline without dense correspondence);
- "pixels+global": transferred raw pixels (3 + 3) + global feature + reference map.

Body: three 1x1 convolutions (in -> 2C -> 2C -> C), a hourglass with skips, a bottleneck and
bilinear x2 upsampling steps to the R x R location map, and a final 1x1 convolution to 3 channels
(no output activation: coordinates in metres, pelvis-centred, camera-aligned).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from decomr.models.config import ModelConfig
from decomr.models.layers import Bottleneck, Hourglass


class LNet(nn.Module):
    """Location net (Sec. 3.3).

    Args:
        config: the model configuration (``lnet_input``, grid/map sizes, widths).
        reference_map: (3, G, G) reference location map of the template mesh at the grid
            resolution (``decomr.uv.reference_location_map(body, atlas, config.uv_grid)``).
            Stored as a non-persistent buffer (it is derived from the body and atlas).

    Example:
        >>> cfg = ModelConfig.quick(pretrained=None)
        >>> net = LNet(cfg, torch.zeros(3, cfg.uv_grid, cfg.uv_grid)).eval()
        >>> net(torch.zeros(2, cfg.transferred_channels, 32, 32), torch.zeros(2, cfg.global_channels)).shape
        torch.Size([2, 3, 64, 64])
    """

    def __init__(self, config: ModelConfig, reference_map: torch.Tensor) -> None:
        super().__init__()
        g = config.uv_grid
        if tuple(reference_map.shape) != (3, g, g):
            raise ValueError(f"reference_map: expected (3, {g}, {g}) (uv_grid={g}), got {tuple(reference_map.shape)}")
        self.config = config
        self.register_buffer("reference_map", reference_map.detach().float().clone(), persistent=False)
        c = config.lnet_channels
        self.input_convs = nn.Sequential(  # 1x1 convolutions (Sec. 3.3)
            nn.Conv2d(config.lnet_in_channels, 2 * c, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(2 * c, 2 * c, kernel_size=1), nn.ReLU(inplace=True),
            nn.Conv2d(2 * c, c, kernel_size=1),
        )
        self.hourglass = Hourglass(c, config.lnet_levels, config.norm)
        # Decoder to the location map: G -> R in k = log2(R/G) bilinear x2 steps, halving the width
        # at each step down to lnet_out_channels (the official UVNet's layout).
        steps = (config.map_size // g).bit_length() - 1
        out = config.lnet_out_channels
        widths = [out * min(8, 2 ** (steps - i)) for i in range(steps + 1)]  # e.g. [128, 64]
        self.neck = Bottleneck(c, widths[0], config.norm)
        self.up = nn.ModuleList(Bottleneck(widths[i], widths[i + 1], config.norm) for i in range(steps))
        self.head = nn.Sequential(Bottleneck(out, max(out // 2, 1), config.norm),
                                  nn.Conv2d(max(out // 2, 1), 3, kernel_size=1))
        if config.lnet_residual:
            # The residual starts at exactly 0: a fresh model predicts the template body. (PyTorch's
            # default initialisation is within 0.5 mm of that in eval mode, measured over 3 seeds:
            # a fresh model is not what makes early training worse than the template; see
            # decomr.eval.diagnose.)
            nn.init.zeros_(self.head[-1].weight)
            nn.init.zeros_(self.head[-1].bias)

    def assemble_input(self, transferred: torch.Tensor | None, global_features: torch.Tensor | None) -> torch.Tensor:
        """Concatenate LNet's input for the configured variant (Table 5).

        Args:
            transferred: (B, C_T, G, G) transferred map, or None for "global".
            global_features: (B, C_G), or None for "local".

        Returns:
            (B, config.lnet_in_channels, G, G).
        """
        cfg, g = self.config, self.config.uv_grid
        parts = []
        batch = None
        if cfg.uses_transfer:
            if transferred is None or tuple(transferred.shape[1:]) != (cfg.transferred_channels, g, g):
                got = None if transferred is None else tuple(transferred.shape)
                raise ValueError(
                    f"transferred: expected (B, {cfg.transferred_channels}, {g}, {g}) for "
                    f"lnet_input={cfg.lnet_input!r}, got {got}"
                )
            parts.append(transferred)
            batch = transferred.shape[0]
        if cfg.uses_global:
            if global_features is None or global_features.dim() != 2 or global_features.shape[1] != cfg.global_channels:
                got = None if global_features is None else tuple(global_features.shape)
                raise ValueError(
                    f"global_features: expected (B, {cfg.global_channels}) for lnet_input={cfg.lnet_input!r}, got {got}"
                )
            if batch is not None and global_features.shape[0] != batch:
                raise ValueError(f"global_features: batch {global_features.shape[0]} != transferred batch {batch}")
            batch = global_features.shape[0]
            parts.append(global_features[:, :, None, None].expand(-1, -1, g, g))  # (B, C_G, G, G)
        reference = self.reference_map.to(parts[0].dtype)
        parts.append(reference.unsqueeze(0).expand(batch, -1, -1, -1))  # (B, 3, G, G)
        return torch.cat(parts, dim=1)

    def forward(self, transferred: torch.Tensor | None, global_features: torch.Tensor | None) -> torch.Tensor:
        """Regress the location map.

        Args:
            transferred: (B, C_T, G, G) output of :func:`decomr.models.transfer.transfer_to_uv`
                (None for the "global" variant).
            global_features: (B, C_G) CNet's global feature (None for the "local" variant).

        Returns:
            (B, 3, R, R) location map, metres, pelvis-centred camera frame.
        """
        x = self.input_convs(self.assemble_input(transferred, global_features))  # (B, C, G, G)
        x = self.neck(self.hourglass(x))  # (B, W_0, G, G)
        for block in self.up:
            x = block(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))
        return self.head(x)  # (B, 3, R, R)
