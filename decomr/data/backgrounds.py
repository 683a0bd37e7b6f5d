"""Procedural backgrounds, occluders and counter-based noise for the synthetic dataset.

The synthetic images (:mod:`decomr.data.synthetic`) stand in for SURREAL (Sec. 4.1), whose people
are pasted on LSUN photos. There are no photos here, so backgrounds are procedural: smooth
multi-octave noise, stripes, checkers, gradients and random shapes, in varied colours (drawn from
the same colour distribution as the clothes), so that the person cannot be segmented by colour
alone. Random rectangles can occlude the person.

Randomness comes in two kinds:

* small per-sample *parameters* (kind, colours, angles, ...) drawn on the CPU from the sample's
  own ``torch.Generator`` (:func:`sample_background_params`), so a sample depends only on its
  seed, never on how samples are batched;
* large per-pixel fields (noise) made on the device from the sample's integer seed by a
  counter-based hash (:func:`hash_uniform`): integer ops that give bit-identical numbers on the
  CPU and on CUDA, and need no transfer.

Glossary: B batch, H x W image, K shapes per background, M occluders per image.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> p = stack_params([sample_background_params(g), sample_background_params(g)])
>>> render_backgrounds(p, (32, 48)).shape
torch.Size([2, 3, 32, 48])
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "BACKGROUND_KINDS",
    "BackgroundParams",
    "OccluderParams",
    "hash_uniform",
    "value_noise",
    "random_color",
    "sample_background_params",
    "sample_occluder_params",
    "render_backgrounds",
    "draw_occluders",
    "pixel_grid",
    "pixel_noise",
    "noise_tile",
    "stack_params",
    "map_params",
]

#: Background kinds, in the order of :attr:`BackgroundParams.kind`.
BACKGROUND_KINDS: tuple[str, ...] = ("noise", "stripes", "checker", "gradient", "shapes")

_MASK32 = 0xFFFFFFFF
_HASH_MUL = 0x45D9F3B  # < 2**27: products with 32-bit values stay below 2**63 (no overflow)


# --------------------------------------------------------------------------------------------
# Counter-based noise
# --------------------------------------------------------------------------------------------
def _hash32(x: Tensor) -> Tensor:
    """A 32-bit integer mixer on int64 tensors holding values in [0, 2**32)."""
    x = (((x >> 16) ^ x) * _HASH_MUL) & _MASK32
    x = (((x >> 16) ^ x) * _HASH_MUL) & _MASK32
    return (x >> 16) ^ x


def hash_uniform(seed: Tensor, n: int, salt: int = 0) -> Tensor:
    """Deterministic uniform numbers from per-sample integer seeds (identical on CPU and CUDA).

    Args:
        seed: (B,) int64 seeds in [0, 2**31).
        n: how many numbers per sample.
        salt: an integer that selects an independent stream (one per use).

    Returns:
        (B, n) float32 in [0, 1), on ``seed``'s device.

    >>> s = torch.tensor([1, 2])
    >>> bool((hash_uniform(s, 5) == hash_uniform(s, 5)).all()), hash_uniform(s, 5).shape
    (True, torch.Size([2, 5]))
    """
    if not torch.is_tensor(seed) or seed.dim() != 1 or seed.is_floating_point():
        raise ValueError(f"seed: expected an integer tensor of shape (B,), got {getattr(seed, 'shape', type(seed))}")
    base = _hash32(_hash32((seed.long() + (int(salt) * 0x9E3779B1 & _MASK32)) & _MASK32))  # (B,)
    idx = torch.arange(int(n), device=seed.device, dtype=torch.int64)
    h = _hash32((base[:, None] + idx[None, :] * 0x27D4EB2F) & _MASK32)  # (B, n)
    return (h >> 8).to(torch.float32) * (1.0 / (1 << 24))


_TILES: dict[tuple[str, int], Tensor] = {}


def noise_tile(device=None, size: int = 512) -> Tensor:
    """A fixed (3, size, size) tile of uniform [-1, 1] noise (seed 0), cached per device."""
    key = (str(torch.device(device) if device is not None else torch.device("cpu")), int(size))
    if key not in _TILES:
        g = torch.Generator().manual_seed(0)
        _TILES[key] = (2 * torch.rand(3, size, size, generator=g) - 1).to(key[0])
    return _TILES[key]


def pixel_noise(seed: Tensor, size: tuple[int, int]) -> Tensor:
    """Per-pixel noise in [-1, 1]: a window of :func:`noise_tile` at a random offset per sample,
    transposed for half of the square images, channels rolled (cheap, identical on CPU and CUDA).

    Args:
        seed: (B,) int64 seeds.
        size: (H, W), at most the tile size (512).

    Returns:
        (B, 3, H, W) float32.
    """
    H, W = int(size[0]), int(size[1])
    tile = noise_tile(seed.device)
    T = tile.shape[-1]
    if H > T or W > T:
        raise ValueError(f"size: expected at most ({T}, {T}), got {(H, W)}")
    u = hash_uniform(seed, 4, salt=31)  # (B, 4): row / column offsets, transpose, channel roll
    rows = ((u[:, 0] * T).long()[:, None] + torch.arange(H, device=seed.device)) % T  # (B, H)
    cols = ((u[:, 1] * T).long()[:, None] + torch.arange(W, device=seed.device)) % T  # (B, W)
    out = tile[:, rows[:, :, None], cols[:, None, :]].transpose(0, 1)  # (B, 3, H, W)
    if H == W:
        out = torch.where((u[:, 2] < 0.5)[:, None, None, None], out.transpose(-1, -2), out)
    ch = (torch.arange(3, device=seed.device)[None, :] + (u[:, 3] * 3).long()[:, None]) % 3  # (B, 3)
    return out.gather(1, ch[:, :, None, None].expand(-1, -1, H, W))


def value_noise(seed: Tensor, size: tuple[int, int], grids: Sequence[int], weights: Tensor,
                salt: int = 0) -> Tensor:
    """Smooth multi-octave value noise: hashed coarse grids upsampled bicubically and summed.

    Args:
        seed: (B,) int64 seeds.
        size: (H, W) output size.
        grids: grid sizes of the octaves, e.g. (4, 8, 16).
        weights: (B, len(grids)) non-negative weights of the octaves.
        salt: stream selector.

    Returns:
        (B, 1, H, W) float32, roughly in [0, 1] (weighted mean of the octaves).
    """
    B = seed.shape[0]
    # Octaves are summed at a working resolution of at least 4 cells per grid period, then
    # upsampled once (bilinear): the result is smooth at that scale anyway, and much cheaper.
    work = tuple(min(int(s), 4 * max(grids)) for s in size)
    out = torch.zeros(B, 1, *work, device=seed.device)
    for k, g in enumerate(grids):
        grid = hash_uniform(seed, g * g, salt=salt * 101 + k).view(B, 1, g, g)  # (B, 1, g, g)
        up = F.interpolate(grid, size=work, mode="bicubic", align_corners=True)
        out = out + weights[:, k, None, None, None] * up
    out = out / weights.sum(1).clamp_min(1e-6)[:, None, None, None]
    if work != tuple(size):
        out = F.interpolate(out, size=tuple(size), mode="bilinear", align_corners=False)
    return out.clamp(0.0, 1.0)


def pixel_grid(size: tuple[int, int], device=None) -> tuple[Tensor, Tensor]:
    """Normalised pixel-centre coordinates (:mod:`decomr.conventions`).

    Returns:
        x, y: (H, W) float32, ``x = (2 j + 1) / W - 1``, ``y = (2 i + 1) / H - 1``.
    """
    H, W = size
    ys = (2 * torch.arange(H, device=device, dtype=torch.float32) + 1) / H - 1
    xs = (2 * torch.arange(W, device=device, dtype=torch.float32) + 1) / W - 1
    return xs[None, :].expand(H, W), ys[:, None].expand(H, W)


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------
def random_color(generator: torch.Generator | None = None, n: int = 1, sat: tuple[float, float] = (0.0, 0.85),
                 val: tuple[float, float] = (0.12, 0.95)) -> Tensor:
    """Random RGB colours from uniform hue and uniform saturation / value ranges (HSV).

    Returns:
        (n, 3) float32 in [0, 1].
    """
    h, s, v = torch.rand(3, n, generator=generator)
    s = sat[0] + (sat[1] - sat[0]) * s
    v = val[0] + (val[1] - val[0]) * v
    k = torch.stack([(5 + 6 * h) % 6, (3 + 6 * h) % 6, (1 + 6 * h) % 6], dim=-1)  # (n, 3)
    return v[:, None] - v[:, None] * s[:, None] * (torch.minimum(k, 4 - k).clamp(0, 1))


@dataclass(frozen=True)
class BackgroundParams:
    """Parameters of procedural backgrounds (unbatched: drop the leading B).

    Attributes:
        kind: (B,) int64 index into :data:`BACKGROUND_KINDS`.
        colors: (B, 3, 3) three RGB colours.
        angle: (B,) radians, orientation of stripes / checkers / gradients.
        frequency: (B,) periods across the image (stripes, checkers).
        phase: (B, 2) radians.
        sharpness: (B,) edge hardness of stripes and checkers (1 smooth .. 30 hard).
        octaves: (B, 4) weights of the value-noise octaves (grids 3, 6, 12, 24).
        shapes: (B, K, 7) ellipses / rectangles: cx, cy (normalised), rx, ry, angle, is_rect,
            active (0/1).
        shape_colors: (B, K, 3).
        shading: (B,) amplitude of a smooth brightness variation applied to every kind.
        seed: (B,) int64 noise seed.
    """

    kind: Tensor
    colors: Tensor
    angle: Tensor
    frequency: Tensor
    phase: Tensor
    sharpness: Tensor
    octaves: Tensor
    shapes: Tensor
    shape_colors: Tensor
    shading: Tensor
    seed: Tensor


@dataclass(frozen=True)
class OccluderParams:
    """Occluding rectangles drawn over the image (unbatched: drop the leading B).

    Attributes:
        boxes: (B, M, 5) cx, cy, half width, half height (normalised crop units), active (0/1).
        colors: (B, M, 3).
        texture: (B, M) amplitude of the noise texture on the rectangle.
    """

    boxes: Tensor
    colors: Tensor
    texture: Tensor


T = TypeVar("T")


def map_params(fn: Callable[..., Tensor], *items: T) -> T:
    """``fn(*values)`` field by field over parameter dataclasses of one type (nested ones too).

    ``map_params(lambda t: t.to(device), p)`` moves every tensor; ``map_params(lambda *ts:
    torch.stack(ts), *ps)`` stacks them (:func:`stack_params`).
    """
    first = items[0]
    if not dataclasses.is_dataclass(first):
        return fn(*items)
    return type(first)(**{f.name: map_params(fn, *(getattr(it, f.name) for it in items))
                          for f in dataclasses.fields(first)})


def stack_params(items: Sequence[T]) -> T:
    """Stack per-sample parameter dataclasses (fields without a batch dim) into one batch."""
    if not items:
        raise ValueError("items: expected at least one parameter set")
    return map_params(lambda *ts: torch.stack(ts), *items)


def sample_background_params(generator: torch.Generator | None = None,
                             kinds: Sequence[str] = BACKGROUND_KINDS, max_shapes: int = 8,
                             seed: int | None = None) -> BackgroundParams:
    """Draw one background's parameters (always the same number of draws, whatever the kind).

    Args:
        generator: CPU generator of the sample.
        kinds: allowed kinds (a subset of :data:`BACKGROUND_KINDS`).
        max_shapes: K, number of shape slots (the active ones are drawn at random).
        seed: noise seed; drawn from ``generator`` when None.

    Returns:
        :class:`BackgroundParams` without batch dimension.
    """
    bad = [k for k in kinds if k not in BACKGROUND_KINDS]
    if not kinds or bad:
        raise ValueError(f"kinds: expected a non-empty subset of {BACKGROUND_KINDS}, got {tuple(kinds)}")
    allowed = torch.tensor([BACKGROUND_KINDS.index(k) for k in kinds])
    g = generator
    kind = allowed[torch.randint(len(allowed), (1,), generator=g)][0]
    colors = random_color(g, 3)
    angle = torch.rand((), generator=g) * math.pi
    frequency = 2.0 + 14.0 * torch.rand((), generator=g)
    phase = 2 * math.pi * torch.rand(2, generator=g)
    sharpness = torch.exp(math.log(30.0) * torch.rand((), generator=g))
    octaves = torch.rand(4, generator=g) * torch.tensor([1.0, 0.8, 0.5, 0.3])
    K = int(max_shapes)
    u = torch.rand(K, 6, generator=g)
    n_active = torch.randint(2, K + 1, (1,), generator=g)[0] if K >= 2 else torch.tensor(K)
    shapes = torch.stack([
        2 * u[:, 0] - 1, 2 * u[:, 1] - 1,  # centre
        0.08 + 0.5 * u[:, 2], 0.08 + 0.5 * u[:, 3],  # radii
        math.pi * u[:, 4], (u[:, 5] < 0.5).float(),  # angle, rectangle?
        (torch.arange(K) < n_active).float(),
    ], dim=-1)
    shape_colors = random_color(g, K)
    shading = 0.4 * torch.rand((), generator=g)
    if seed is None:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
    return BackgroundParams(kind=kind, colors=colors, angle=angle, frequency=frequency, phase=phase,
                            sharpness=sharpness, octaves=octaves, shapes=shapes, shape_colors=shape_colors,
                            shading=shading, seed=torch.tensor(int(seed), dtype=torch.int64))


def sample_occluder_params(generator: torch.Generator | None = None, prob: float = 0.3,
                           max_occluders: int = 2, size: tuple[float, float] = (0.1, 0.35)) -> OccluderParams:
    """Draw the occluders of one image: with probability ``prob`` 1..M rectangles near the centre.

    Args:
        generator: CPU generator of the sample.
        prob: probability that the image has any occluder.
        max_occluders: M, number of slots.
        size: range of the half sides, normalised crop units (the crop spans [-1, 1]).
    """
    g, M = generator, int(max_occluders)
    on = torch.rand((), generator=g) < prob
    count = torch.randint(1, max(M, 1) + 1, (1,), generator=g)[0]
    u = torch.rand(M, 4, generator=g)
    active = (on & (torch.arange(M) < count)).float()
    boxes = torch.stack([
        1.4 * u[:, 0] - 0.7, 1.4 * u[:, 1] - 0.7,
        size[0] + (size[1] - size[0]) * u[:, 2], size[0] + (size[1] - size[0]) * u[:, 3],
        active,
    ], dim=-1)
    colors = random_color(g, M)
    texture = 0.3 * torch.rand(M, generator=g)
    return OccluderParams(boxes=boxes, colors=colors, texture=texture)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------
def _lerp(c0: Tensor, c1: Tensor, t: Tensor) -> Tensor:
    """c0, c1 (B, 3), t (B, 1, H, W) -> (B, 3, H, W)."""
    return c0[:, :, None, None] + (c1 - c0)[:, :, None, None] * t


def _pattern(p: BackgroundParams, x: Tensor, y: Tensor, kind: str) -> Tensor:
    """(B, 3, H, W) image of one kind for a batch of parameters of that kind."""
    B = p.kind.shape[0]
    H, W = x.shape
    ca, sa = torch.cos(p.angle)[:, None, None], torch.sin(p.angle)[:, None, None]
    u = x * ca + y * sa  # (B, H, W) along the pattern direction
    w = -x * sa + y * ca
    c = p.colors
    if kind == "noise":
        t1 = value_noise(p.seed, (H, W), (3, 6, 12, 24), p.octaves, salt=1)
        t2 = value_noise(p.seed, (H, W), (3, 6, 12, 24), p.octaves.flip(1), salt=2)
        img = _lerp(c[:, 0], c[:, 1], (1.8 * (t1 - 0.5) + 0.5).clamp(0, 1))
        return img + (c[:, 2] - c[:, 0])[:, :, None, None] * (t2 - 0.5)
    if kind in ("stripes", "checker"):
        f = math.pi * p.frequency[:, None, None]
        s = torch.sin(f * u + p.phase[:, 0, None, None])
        if kind == "checker":
            s = s * torch.sin(f * w + p.phase[:, 1, None, None])
        t = torch.sigmoid(p.sharpness[:, None, None] * s)[:, None]  # (B, 1, H, W)
        return _lerp(c[:, 0], c[:, 1], t)
    if kind == "gradient":
        t = (0.5 + 0.5 * (0.4 + 0.1 * p.frequency[:, None, None]) * u).clamp(0, 1)[:, None]
        return _lerp(c[:, 0], c[:, 1], t)
    if kind == "shapes":
        img = _lerp(c[:, 0], c[:, 1], (0.5 + 0.35 * u).clamp(0, 1)[:, None])
        for k in range(p.shapes.shape[1]):
            cx, cy, rx, ry, ang, is_rect, active = p.shapes[:, k].unbind(-1)  # each (B,)
            ck, sk = torch.cos(ang)[:, None, None], torch.sin(ang)[:, None, None]
            dx, dy = x - cx[:, None, None], y - cy[:, None, None]
            a = (dx * ck + dy * sk) / rx[:, None, None]
            b = (-dx * sk + dy * ck) / ry[:, None, None]
            inside_rect = torch.maximum(a.abs(), b.abs()) <= 1
            inside_ell = a * a + b * b <= 1
            inside = torch.where(is_rect[:, None, None] > 0.5, inside_rect, inside_ell) & (active[:, None, None] > 0.5)
            img = torch.where(inside[:, None], p.shape_colors[:, k, :, None, None].expand(B, 3, H, W), img)
        return img
    raise ValueError(f"kind: expected one of {BACKGROUND_KINDS}, got {kind!r}")


def render_backgrounds(params: BackgroundParams, size: tuple[int, int], device=None) -> Tensor:
    """Render a batch of procedural backgrounds.

    Args:
        params: batched :class:`BackgroundParams` (B samples).
        size: (H, W).
        device: target device (default: that of ``params.seed``).

    Returns:
        (B, 3, H, W) float32 in [0, 1].
    """
    if params.kind.dim() != 1:
        raise ValueError(f"params.kind: expected a batch (B,), got {tuple(params.kind.shape)}; use stack_params")
    device = params.seed.device if device is None else torch.device(device)
    p = map_params(lambda t: t.to(device), params)
    B = p.kind.shape[0]
    H, W = int(size[0]), int(size[1])
    x, y = pixel_grid((H, W), device)
    out = torch.zeros(B, 3, H, W, device=device)
    for k, name in enumerate(BACKGROUND_KINDS):
        sel = (p.kind == k).nonzero().squeeze(1)
        if sel.numel() == 0:
            continue
        sub = map_params(lambda t: t.index_select(0, sel), p)
        out.index_copy_(0, sel, _pattern(sub, x, y, name).to(out.dtype))
    # A smooth brightness variation (uneven lighting), for every kind.
    light = value_noise(p.seed, (H, W), (2, 4), torch.ones(B, 2, device=device), salt=3)  # (B, 1, H, W)
    out = out * (1 + p.shading[:, None, None, None] * (2 * light - 1))
    return out.clamp(0.0, 1.0)


def draw_occluders(image: Tensor, params: OccluderParams, seed: Tensor) -> Tensor:
    """Paint occluding rectangles over images.

    Args:
        image: (B, 3, H, W) float.
        params: batched :class:`OccluderParams`.
        seed: (B,) int64 noise seeds (for the rectangles' texture).

    Returns:
        (B, 3, H, W), a new tensor.
    """
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"image: expected (B, 3, H, W), got {tuple(image.shape)}")
    B, _, H, W = image.shape
    dev = image.device
    boxes, colors, texture = params.boxes.to(dev), params.colors.to(dev), params.texture.to(dev)
    if boxes.shape[0] != B:
        raise ValueError(f"params.boxes: expected batch size {B}, got {tuple(boxes.shape)}")
    if not bool((boxes[..., 4] > 0.5).any()):
        return image
    x, y = pixel_grid((H, W), dev)
    tex = value_noise(seed.to(dev), (H, W), (8, 16), torch.ones(B, 2, device=dev), salt=4)  # (B, 1, H, W)
    out = image
    for m in range(boxes.shape[1]):
        cx, cy, hw, hh, active = boxes[:, m].unbind(-1)
        inside = ((x - cx[:, None, None]).abs() <= hw[:, None, None]) & ((y - cy[:, None, None]).abs() <= hh[:, None, None])
        inside = inside & (active[:, None, None] > 0.5)  # (B, H, W)
        col = colors[:, m, :, None, None] * (1 + texture[:, m, None, None, None] * (2 * tex - 1))  # (B, 3, H, W)
        out = torch.where(inside[:, None], col.clamp(0, 1), out)
    return out
