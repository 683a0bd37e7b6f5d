"""Building blocks shared by CNet's decoder and LNet (Sec. 3.2-3.3).

The bottleneck residual block and the hourglass follow the official implementation's layers, so
that the default widths give the official parameter count and FLOPs.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def make_norm(kind: str, channels: int) -> nn.Module:
    """A 2D normalisation layer: ``"batch"`` (BatchNorm2d) or ``"group"`` (GroupNorm, gcd(C, 32) groups)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(channels, 32), channels)
    raise ValueError(f"norm: expected 'batch' or 'group', got {kind!r}")


class Bottleneck(nn.Module):
    """ResNet bottleneck block: 1x1 (C_out/2) -> 3x3 (C_out/2) -> 1x1 (C_out), plus a residual.

    The residual is projected by a 1x1 convolution when the channel counts differ.

    Args:
        in_channels: C_in.
        out_channels: C_out (even).
        norm: ``"batch"`` or ``"group"``.

    Shapes: (B, C_in, H, W) -> (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str = "batch") -> None:
        super().__init__()
        mid = max(out_channels // 2, 1)
        self.conv1 = nn.Conv2d(in_channels, mid, kernel_size=1)
        self.norm1 = make_norm(norm, mid)
        self.conv2 = nn.Conv2d(mid, mid, kernel_size=3, padding=1)
        self.norm2 = make_norm(norm, mid)
        self.conv3 = nn.Conv2d(mid, out_channels, kernel_size=1)
        self.norm3 = make_norm(norm, out_channels)
        self.skip = nn.Conv2d(in_channels, out_channels, kernel_size=1) if in_channels != out_channels else None
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.norm1(self.conv1(x)))
        y = self.act(self.norm2(self.conv2(y)))
        y = self.norm3(self.conv3(y))
        residual = x if self.skip is None else self.skip(x)
        return self.act(y + residual)


class Hourglass(nn.Module):
    """Hourglass with skip connections (LNet's body, Sec. 3.3).

    Each of ``levels`` down steps doubles the width with a :class:`Bottleneck` and max-pools by 2;
    each up step upsamples (nearest) and halves the width, then adds the skip of that resolution.
    A final normalisation closes it (as in the official LNet).

    Args:
        channels: C, the width at full resolution.
        levels: number of down/up steps; H and W must be divisible by 2^levels.
        norm: ``"batch"`` or ``"group"``.

    Shapes: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, levels: int, norm: str = "batch") -> None:
        super().__init__()
        widths = [channels * 2**i for i in range(levels + 1)]
        self.down = nn.ModuleList(Bottleneck(widths[i], widths[i + 1], norm) for i in range(levels))
        self.up = nn.ModuleList(Bottleneck(widths[i + 1], widths[i], norm) for i in range(levels))
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.norm = make_norm(norm, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        y = x
        for block in self.down:
            skips.append(y)
            y = self.pool(block(y))
        for block, skip in zip(reversed(self.up), reversed(skips)):
            y = block(self.upsample(y)) + skip
        return self.norm(y)
