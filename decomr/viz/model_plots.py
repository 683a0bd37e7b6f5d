"""Figures of DecoMR's networks and losses (Sec. 3.2-3.4), for notebooks 02-05.

- CNet's outputs beside the ground truth (:func:`plot_cnet_outputs`), feature maps as RGB
  (:func:`feature_pca_rgb`);
- the UV transfer of Eq. 5: pixels -> cells (:func:`plot_pixel_to_cell`), Figure 5's raw pixels in
  UV space (:func:`plot_uv_transfer`), how far 4-neighbour pixels land apart in UV space
  (:func:`neighbour_cell_jumps`, :func:`plot_neighbour_jumps`);
- UV-space maps on shared scales (:func:`plot_uv_maps`): location maps, errors, the Eq. 6 weights;
- Eq. 10's correspondences (:func:`consistency_correspondences`) and Figure 6
  (:func:`plot_consistency`); meshes of several models side by side (:func:`plot_mesh_comparison`);
- logged values against the step (:func:`plot_history`).

Every computation is delegated to the package (``decomr.models.transfer``, ``decomr.losses``,
``decomr.render``); this module only arranges the results. Images follow :mod:`decomr.conventions`'
conventions: normalised image coordinates in [-1, 1] (pixel centres at ``(2j + 1) / W - 1``), UV maps
drawn with u to the right and v downwards. Glossary: B batch, C channels, H x W image, G UV grid,
R UV-map resolution, V vertices, F faces.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from decomr.data.batch import Batch, as_batch
from decomr.data.crop import normalized_to_pixels
from decomr.losses import sample_location_map, split_iuv
from decomr.models import pixel_centers, transfer_to_uv, uv_cell_index
from decomr.models.transfer import downsample_pixels
from decomr.render import weak_perspective_project
from decomr.viz.body_plots import as_numpy, clean_axes, finish_figure, image_rgb
from decomr.viz.colors import OKABE_ITO
from decomr.viz.train_plots import iuv_rgb, mesh_overlay
from decomr.viz.uv_plots import location_map_rgb

__all__ = [
    "feature_pca_rgb",
    "plot_uv_maps",
    "plot_cnet_outputs",
    "plot_pixel_to_cell",
    "plot_uv_transfer",
    "NeighbourJumps",
    "neighbour_cell_jumps",
    "plot_neighbour_jumps",
    "Correspondences",
    "consistency_correspondences",
    "plot_consistency",
    "plot_mesh_comparison",
    "plot_history",
]


def _check(name: str, x: Any, dims: int, expected: str, channels: int | None = None) -> None:
    if not torch.is_tensor(x) or x.dim() != dims or (channels is not None and x.shape[-3] != channels):
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{name}: expected a tensor of shape {expected}, got {shape}")


# ------------------------------------------------------------------------------------------------
# Feature maps
# ------------------------------------------------------------------------------------------------
def feature_pca_rgb(features: torch.Tensor, mask: torch.Tensor | None = None, background: float = 1.0) -> np.ndarray:
    """The first three principal components of a feature map as an RGB image.

    The components are fitted on the pixels of ``mask`` (all pixels by default); each is scaled
    to [0, 1] between its 1st and 99th percentile there.

    Args:
        features: (C, H, W) feature map (e.g. CNet's local features or a transferred UV map).
        mask: optional (H, W) bool; pixels outside get the ``background`` grey level.
        background: grey level in [0, 1] outside the mask.

    Returns:
        (H, W, 3) float array in [0, 1].

    >>> feature_pca_rgb(torch.rand(8, 5, 4)).shape
    (5, 4, 3)
    """
    _check("features", features, 3, "(C, H, W)")
    c, h, w = features.shape
    m = torch.ones(h, w, dtype=torch.bool) if mask is None else torch.as_tensor(mask).detach().cpu().bool()
    if tuple(m.shape) != (h, w):
        raise ValueError(f"mask: expected shape ({h}, {w}), got {tuple(m.shape)}")
    x = features.detach().cpu().double().reshape(c, -1).t()  # (H*W, C)
    rgb = np.full((h * w, 3), float(background))
    fit = x[m.reshape(-1)]
    if fit.shape[0] >= 2:
        mean = fit.mean(0, keepdim=True)
        _, _, vh = torch.linalg.svd(fit - mean, full_matrices=False)  # (k, C)
        comps = ((x - mean) @ vh[:3].t()).numpy()  # (H*W, k <= 3)
        inside = m.reshape(-1).numpy()
        for k in range(comps.shape[1]):
            lo, hi = np.percentile(comps[inside, k], [1, 99])
            rgb[inside, k] = np.clip((comps[inside, k] - lo) / max(hi - lo, 1e-12), 0, 1)
        rgb[inside, comps.shape[1]:] = 0.5
    return rgb.reshape(h, w, 3)


# ------------------------------------------------------------------------------------------------
# UV maps
# ------------------------------------------------------------------------------------------------
def plot_uv_maps(maps: Mapping[str, Any], mask: torch.Tensor | None = None, cmap: str = "viridis",
                 ncols: int | None = None, tile: float = 2.8, suptitle: str | None = None) -> Figure:
    """A row (or grid) of UV-space maps, u to the right, v downwards.

    Values are drawn by kind:

    - (3, R, R) tensors are location maps: x, y, z -> R, G, B on **one shared scale** for all
      location maps of the figure (so a prediction and its target compare colour for colour),
      white outside ``mask`` (or, for maps of another size than the mask, where x = y = z = 0);
    - (R, R) tensors / arrays are scalars drawn with ``cmap`` and a colour bar (0 outside ``mask``
      is drawn white when a mask is given);
    - (R, R, 3) numpy arrays are RGB images drawn as they are.

    Args:
        maps: title -> map.
        mask: optional (R, R) bool mask of the UV chart.
        cmap: colour map of scalar maps.
        ncols: panels per row (default: all in one row).
        tile: panel size in inches.
        suptitle: figure title.

    Returns:
        The figure.
    """
    if not maps:
        raise ValueError("maps: expected at least one map")
    items = list(maps.items())
    n = len(items)
    ncols = n if ncols is None else max(1, min(int(ncols), n))
    nrows = math.ceil(n / ncols)
    m = None if mask is None else as_numpy(mask, np.float32).astype(bool)

    def inside(x: np.ndarray) -> np.ndarray:  # the chart: the mask when it fits, else the nonzero pixels
        return m if m is not None and m.shape == x.shape[:2] else np.abs(x).sum(-1) > 0

    locations = [as_numpy(v, np.float32).transpose(1, 2, 0) for _, v in items
                 if torch.is_tensor(v) and v.dim() == 3 and v.shape[0] == 3]
    values = np.concatenate([x[inside(x)] for x in locations]) if locations else np.zeros((0, 3))  # (N, 3)
    lo = values.min(0) if len(values) else np.zeros(3)
    hi = values.max(0) if len(values) else np.ones(3)
    fig, axes = plt.subplots(nrows, ncols, figsize=(tile * ncols + 0.4, tile * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (title, value) in zip(axes.flat, items):
        if torch.is_tensor(value) and value.dim() == 3 and value.shape[0] == 3:
            x = as_numpy(value, np.float32).transpose(1, 2, 0)
            img = np.clip((x - lo) / np.maximum(hi - lo, 1e-9), 0, 1)
            img[~inside(x)] = 1.0
            ax.imshow(img, interpolation="nearest", extent=(0, 1, 1, 0))
        else:
            x = as_numpy(value, np.float32)
            if x.ndim == 3 and x.shape[-1] == 3:
                ax.imshow(np.clip(x, 0, 1), interpolation="nearest", extent=(0, 1, 1, 0))
            elif x.ndim == 2:
                shown = np.ma.masked_where(~m, x) if m is not None and m.shape == x.shape else x
                im = ax.imshow(shown, cmap=cmap, interpolation="nearest", extent=(0, 1, 1, 0))
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
            else:
                raise ValueError(f"maps[{title!r}]: expected (3, R, R), (R, R) or (R, R, 3), got {x.shape}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("u", fontsize=8)
        ax.set_ylabel("v", fontsize=8)
        ax.tick_params(labelsize=7)
    return finish_figure(fig, suptitle)


# ------------------------------------------------------------------------------------------------
# CNet
# ------------------------------------------------------------------------------------------------
def plot_cnet_outputs(batch: Batch | Mapping[str, torch.Tensor], out: Any, n: int = 4, mesh_every: int = 25) -> Figure:
    """CNet's five outputs beside the ground truth, one row per sample.

    Columns: input | GT mask | predicted foreground probability | GT IUV | predicted IUV (u red,
    v green) | |uv error| on the GT foreground | local features (first three principal components
    over the predicted foreground) | global feature (the C_G vector as a square tile) | camera (GT
    mesh vertices projected with the sample's weak-perspective camera, blue, and with the
    predicted camera, orange).

    Args:
        batch: a :class:`~decomr.data.batch.Batch` (or a dict of its fields) with ``image``
            (B, 3, S, S), ``iuv`` (B, 3, h, w) and optionally ``vertices`` (B, V, 3) and ``camera``
            (B, 3) for the camera column.
        out: a ``DecoMROutput`` or ``CNetOutput`` (fields ``mask_logits``, ``uv``,
            ``local_features``, ``global_features``, ``camera``).
        n: rows.
        mesh_every: draw every k-th vertex in the camera column.

    Returns:
        The figure.
    """
    batch = as_batch(batch)
    _check("batch.image", batch.image, 4, "(B, 3, S, S)", 3)
    _check("out.mask_logits", out.mask_logits, 4, "(B, 1, h, w)", 1)
    n = max(1, min(int(n), len(batch), out.mask_logits.shape[0]))
    cols = ["input", "GT mask", "predicted mask", "GT IUV", "predicted IUV", "|uv error|", "local features",
            "global feature", "camera"]
    fig, axes = plt.subplots(n, len(cols), figsize=(1.75 * len(cols), 1.85 * n), squeeze=False)
    prob = torch.sigmoid(out.mask_logits.detach().float())
    g = out.global_features.detach().float().cpu()
    side = int(math.isqrt(g.shape[1]))
    gmax = float(g[:n].abs().max().clamp(min=1e-9))
    gray = dict(cmap="gray", vmin=0, vmax=1)  # imshow arguments of the masks, the uv error, the global feature:
    styles = {1: gray, 2: gray, 5: dict(cmap="magma", vmin=0, vmax=0.5),
              7: dict(cmap="coolwarm", vmin=-gmax, vmax=gmax, aspect="auto")}
    for i in range(n):
        image = batch.image[i]
        size = image.shape[-1]
        gt = batch.iuv[i].detach().float().cpu() if batch.iuv is not None else None
        pred_iuv = torch.cat([(prob[i] > 0.5).float(), out.uv[i].detach().float()], 0).cpu()
        tiles = [image_rgb(image), None, prob[i, 0].cpu().numpy(), None, iuv_rgb(pred_iuv), None, None, None,
                 image_rgb(image)]
        if gt is not None:
            tiles[1] = gt[0].numpy()
            tiles[3] = iuv_rgb(gt)
            err = (out.uv[i].detach().float().cpu() - gt[1:]).abs().sum(0)
            same = err.shape == gt.shape[1:]
            tiles[5] = np.ma.masked_where(gt[0].numpy() < 0.5, err.numpy()) if same else err.numpy()
        fg = prob[i, 0] > 0.5
        tiles[6] = feature_pca_rgb(out.local_features[i], fg if int(fg.sum()) > 3 else None)
        vec = g[i].numpy()
        tiles[7] = vec[: side * side].reshape(side, side) if side * side == vec.size else vec[None, :]
        for k, tile in enumerate(tiles):
            ax = axes[i, k]
            if tile is None:
                ax.axis("off")
                continue
            ax.imshow(tile, interpolation="nearest", **styles.get(k, {}))
            clean_axes(ax, cols[k] if i == 0 else None)
        if batch.vertices is not None:
            verts = batch.vertices[i : i + 1, ::mesh_every].float().cpu()
            cams = [(out.camera[i : i + 1].detach().float().cpu(), OKABE_ITO["orange"], "predicted")]
            if batch.camera is not None:
                cams.insert(0, (batch.camera[i : i + 1].float().cpu(), OKABE_ITO["blue"], "GT"))
            for cam, color, label in cams:
                px = normalized_to_pixels(weak_perspective_project(verts, cam)[0], size).numpy()
                axes[i, 8].scatter(px[:, 0], px[:, 1], s=0.6, c=color, label=label, alpha=0.7)
            axes[i, 8].set_xlim(-0.5, size - 0.5)
            axes[i, 8].set_ylim(size - 0.5, -0.5)
            cam = out.camera[i].detach().float().cpu().tolist()
            axes[i, 8].set_xlabel(f"s={cam[0]:.2f} t=({cam[1]:.2f}, {cam[2]:.2f})", fontsize=6)
    return finish_figure(fig)


# ------------------------------------------------------------------------------------------------
# Transfer (Eq. 5)
# ------------------------------------------------------------------------------------------------
def plot_pixel_to_cell(image: torch.Tensor, iuv: torch.Tensor, grid: int, pixels: Sequence[tuple[int, int]]) -> Figure:
    """Where a few pixels go in Eq. 5: image -> IUV image -> UV grid cell.

    Three panels: the input with the chosen pixels; the IUV image with them; the UV grid, coloured
    by how many foreground pixels land in each cell (the cell's average divides by this count),
    with the chosen pixels' cells outlined and arrows from each pixel to its cell.

    Args:
        image: (3, S, S) input in [0, 1] (S a multiple of h).
        iuv: (3, h, w) IUV image (mask, u, v).
        grid: G.
        pixels: (row, col) positions in the IUV image.

    Returns:
        The figure.
    """
    from matplotlib.patches import ConnectionPatch, Rectangle

    _check("image", image, 3, "(3, S, S)", 3)
    _check("iuv", iuv, 3, "(3, h, w)", 3)
    h, w = iuv.shape[-2:]
    size = image.shape[-1]
    fg = iuv[0] > 0.5
    cells = uv_cell_index(iuv[1:].float(), grid)  # (h, w)
    counts = torch.bincount(cells[fg].reshape(-1), minlength=grid * grid).reshape(grid, grid).float()
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.9), gridspec_kw={"width_ratios": [1, 1, 1.2]})
    axes[0].imshow(image_rgb(image))
    axes[1].imshow(iuv_rgb(iuv), interpolation="nearest")
    shown = np.ma.masked_equal(counts.numpy(), 0)
    im = axes[2].imshow(shown, cmap="Greys", interpolation="nearest", vmin=0)
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.03, label="pixels per cell")
    colors = list(OKABE_ITO.values())[:7]
    for k, (r, c) in enumerate(pixels):
        if not (0 <= r < h and 0 <= c < w):
            raise ValueError(f"pixels: ({r}, {c}) outside the {h} x {w} IUV image")
        color = colors[k % len(colors)]
        scale = size / w
        axes[0].add_patch(Rectangle((c * scale - 0.5, r * scale - 0.5), scale, scale, fill=False, ec=color, lw=1.5))
        axes[1].add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec=color, lw=1.5))
        if not bool(fg[r, c]):
            continue
        cell = int(cells[r, c])
        cr, cc = divmod(cell, grid)
        axes[2].add_patch(Rectangle((cc - 0.5, cr - 0.5), 1, 1, fill=False, ec=color, lw=1.8))
        arrow = ConnectionPatch(xyA=(c, r), coordsA=axes[1].transData, xyB=(cc, cr), coordsB=axes[2].transData,
                                arrowstyle="->", color=color, lw=1.0, alpha=0.9)
        fig.add_artist(arrow)
    clean_axes(axes[0], "input: chosen pixels")
    clean_axes(axes[1], f"IUV image ({h}x{w}): (u, v) per pixel")
    axes[2].set_title(f"UV grid {grid}x{grid}: cell = round((G-1) (v, u))", fontsize=9)
    axes[2].set_xlabel("column = round(u (G-1))", fontsize=8)
    axes[2].set_ylabel("row = round(v (G-1))", fontsize=8)
    return finish_figure(fig)


def plot_uv_transfer(images: torch.Tensor, iuvs: Mapping[str, torch.Tensor], grid: int = 64,
                     background: float = 1.0) -> Figure:
    """Figure 5: raw image pixels moved to UV space with an IUV image, one column pair per atlas.

    Uses :func:`decomr.models.transfer_to_uv` (Eq. 5) on the pixels themselves, area-averaged to
    the IUV resolution when the image is larger. Empty cells are drawn ``background``.

    Args:
        images: (B, 3, S, S) in [0, 1].
        iuvs: atlas name -> (B, 3, h, w) IUV images (h divides S).
        grid: G.
        background: grey level of empty cells.

    Returns:
        The figure (B rows; columns: input, then IUV and transferred pixels per atlas).
    """
    _check("images", images, 4, "(B, 3, S, S)", 3)
    if not iuvs:
        raise ValueError("iuvs: expected at least one atlas name -> (B, 3, h, w) IUV images")
    b = images.shape[0]
    ncols = 1 + 2 * len(iuvs)
    fig, axes = plt.subplots(b, ncols, figsize=(2.3 * ncols, 2.35 * b), squeeze=False)
    for name, iuv in iuvs.items():
        _check(f"iuvs[{name!r}]", iuv, 4, "(B, 3, h, w)", 3)
        if iuv.shape[0] != b:
            raise ValueError(f"iuvs[{name!r}]: expected {b} IUV images, got {iuv.shape[0]}")
    for i in range(b):
        axes[i, 0].imshow(image_rgb(images[i]))
        clean_axes(axes[i, 0], "input" if i == 0 else None)
        for k, (name, iuv) in enumerate(iuvs.items()):
            pix = downsample_pixels(images[i : i + 1].float(), iuv.shape[-1])  # (1, 3, h, w)
            uv_map = transfer_to_uv(pix, iuv[i : i + 1, 1:].float(), iuv[i : i + 1, :1].float(), grid=grid)[0]
            rgb = uv_map[:3].permute(1, 2, 0).numpy().clip(0, 1)
            rgb[uv_map[-1].numpy() == 0] = background
            axes[i, 1 + 2 * k].imshow(iuv_rgb(iuv[i]), interpolation="nearest")
            axes[i, 2 + 2 * k].imshow(rgb, interpolation="nearest", extent=(0, 1, 1, 0))
            clean_axes(axes[i, 1 + 2 * k], f"IUV, {name} UV" if i == 0 else None)
            clean_axes(axes[i, 2 + 2 * k], f"pixels in {name} UV ({grid}x{grid})" if i == 0 else None)
    return finish_figure(fig)


@dataclass(frozen=True)
class NeighbourJumps:
    """How far apart in the UV grid the cells of 4-neighbour foreground pixels are.

    Attributes:
        distances: (N,) Euclidean distance, in cells, between the cells of every pair of
            horizontally or vertically adjacent pixels that are both foreground (and on the same
            part when part labels were given).
        jump_map: (B, h, w) the largest distance from each pixel to its right and lower
            neighbours; NaN where the pixel has no valid pair.
        grid: G.
    """

    distances: torch.Tensor
    jump_map: torch.Tensor
    grid: int

    def fraction_above(self, k: float) -> float:
        """Fraction of the pairs whose cells are more than ``k`` cells apart."""
        if self.distances.numel() == 0:
            return float("nan")
        return float((self.distances > k).float().mean())


def neighbour_cell_jumps(iuv: torch.Tensor, grid: int, parts: torch.Tensor | None = None) -> NeighbourJumps:
    """Cell distances of 4-neighbour pixel pairs under the transfer of Eq. 5.

    On a continuous chart, adjacent pixels on the same body part land in adjacent cells except
    across the chart's cut; on a multi-chart atlas they also jump wherever the surface crosses a
    chart border. Cells come from :func:`decomr.models.uv_cell_index`.

    Args:
        iuv: (B, 3, h, w) IUV images.
        grid: G.
        parts: optional (B, h, w) part labels (e.g. the 6 LSP parts): only pairs with the same
            label count, which leaves out most occlusion boundaries (an arm in front of the torso).

    Returns:
        :class:`NeighbourJumps`.

    >>> iuv = torch.zeros(1, 3, 1, 3)
    >>> iuv[0, 0] = 1.0
    >>> iuv[0, 1] = torch.tensor([[0.0, 0.1, 1.0]])   # u of three pixels in a row
    >>> neighbour_cell_jumps(iuv, grid=11).distances.tolist()
    [1.0, 9.0]
    """
    _check("iuv", iuv, 4, "(B, 3, h, w)", 3)
    b, _, h, w = iuv.shape
    if parts is not None and tuple(parts.shape) != (b, h, w):
        raise ValueError(f"parts: expected shape ({b}, {h}, {w}), got {tuple(parts.shape)}")
    cells = uv_cell_index(iuv[:, 1:].float(), grid)  # (B, h, w)
    rc = torch.stack([cells // grid, cells % grid], -1).float()  # (B, h, w, 2) row, col
    fg = iuv[:, 0] > 0.5
    jump = torch.full((b, h, w), float("nan"))
    dists = []
    for dim in (2, 1):  # right neighbour (along w), lower neighbour (along h)
        n = (w if dim == 2 else h) - 1
        a_sl = [slice(None), slice(None), slice(None)]
        b_sl = [slice(None), slice(None), slice(None)]
        a_sl[dim], b_sl[dim] = slice(0, n), slice(1, n + 1)
        valid = fg[tuple(a_sl)] & fg[tuple(b_sl)]
        if parts is not None:
            valid = valid & (parts[tuple(a_sl)] == parts[tuple(b_sl)])
        d = (rc[tuple(a_sl)] - rc[tuple(b_sl)]).norm(dim=-1)  # (B, ., .)
        dists.append(d[valid])
        region = jump[tuple(a_sl)]
        jump[tuple(a_sl)] = torch.where(valid, torch.fmax(region, d), region)
    return NeighbourJumps(distances=torch.cat(dists), jump_map=jump, grid=int(grid))


def plot_neighbour_jumps(jumps: Mapping[str, NeighbourJumps], iuvs: Mapping[str, torch.Tensor] | None = None,
                         index: int = 0, k: float = 4.0, max_k: int = 32) -> Figure:
    """Continuity of the transfer per atlas: where neighbours jump (one sample) and how often (all).

    Per atlas: the IUV image of sample ``index`` (if ``iuvs`` is given) with the pixels whose
    right/lower neighbour lands more than ``k`` cells away in red; and, in the last panel, the
    fraction of neighbour pairs more than k' cells apart for k' = 1 .. ``max_k``, one curve per
    atlas.

    Args:
        jumps: atlas name -> :class:`NeighbourJumps`.
        iuvs: optional atlas name -> (B, 3, h, w) IUV images (backgrounds of the maps).
        index: the sample drawn.
        k: threshold highlighted in the maps.
        max_k: last threshold of the curves.

    Returns:
        The figure.
    """
    if not jumps:
        raise ValueError("jumps: expected at least one atlas name -> NeighbourJumps")
    names = list(jumps)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(3.3 * (len(names) + 1), 3.4))
    palette = [OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["green"], OKABE_ITO["purple"]]
    for ax, name in zip(axes, names):
        j = jumps[name]
        jm = j.jump_map[index].numpy()
        if iuvs is not None and name in iuvs:
            base = iuv_rgb(iuvs[name][index]) * 0.6 + 0.4 * (iuvs[name][index][0].numpy()[..., None] > 0.5)
        else:
            base = np.where(np.isnan(jm), 0.0, 0.6)[..., None].repeat(3, -1)
        big = np.nan_to_num(jm, nan=0.0) > k
        base[big] = (0.85, 0.0, 0.0)
        ax.imshow(base.clip(0, 1), interpolation="nearest")
        clean_axes(ax, f"{name} UV: {int(big.sum())} pixels jump > {k:g} cells")
    ks = np.arange(1, max_k + 1)
    for c, name in enumerate(names):
        frac = [100.0 * jumps[name].fraction_above(float(x)) for x in ks]
        axes[-1].plot(ks, frac, "-o", ms=2.5, color=palette[c % len(palette)], label=name)
    axes[-1].set_yscale("log")
    axes[-1].set_xlabel("k (cells)", fontsize=8)
    axes[-1].set_ylabel("% of neighbour pairs > k cells apart", fontsize=8)
    axes[-1].axvline(k, color="#999999", lw=0.8, ls="--")
    axes[-1].legend(fontsize=8)
    axes[-1].tick_params(labelsize=7)
    axes[-1].set_title(f"all samples, grid {jumps[names[0]].grid}", fontsize=9)
    return finish_figure(fig)


# ------------------------------------------------------------------------------------------------
# Consistency (Eq. 10)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Correspondences:
    """Eq. 10's pixel <-> surface correspondences, dense over an IUV image.

    Attributes:
        points: (B, 3, h, w) the location map read at each pixel's ground-truth (u, v), metres.
        projected: (B, 2, h, w) those points projected with the camera, normalised coordinates.
        pixels: (B, 2, h, w) the pixels' own normalised coordinates (x, y of the pixel centres).
        mask: (B, h, w) bool, the ground-truth foreground (where Eq. 10 is evaluated).
        error: (B, h, w) ``|projected - pixels|``, normalised units (x (size / 2) for pixels of a
            ``size``-pixel image); 0 on the background.
    """

    points: torch.Tensor
    projected: torch.Tensor
    pixels: torch.Tensor
    mask: torch.Tensor
    error: torch.Tensor

    def mean_error(self, size: int | None = None) -> torch.Tensor:
        """(B,) mean error over each sample's foreground; in pixels of a ``size``-pixel image if
        given, else in normalised units (NaN for a sample without foreground)."""
        m = self.mask.float()
        mean = (self.error * m).flatten(1).sum(1) / m.flatten(1).sum(1)
        return mean * (size / 2.0) if size is not None else mean


def consistency_correspondences(location_map: torch.Tensor, camera: torch.Tensor,
                                gt_iuv: torch.Tensor) -> Correspondences:
    """What Eq. 10 compares, pixel by pixel (the mean of ``error ** 2`` / 2 over the foreground is
    :func:`decomr.losses.consistency_loss`).

    Args:
        location_map: (B, 3, R, R) location map (metres, pelvis-centred camera frame).
        camera: (B, 3) weak-perspective camera [s, tx, ty].
        gt_iuv: (B, 3, h, w) ground-truth IUV image.

    Returns:
        :class:`Correspondences`.
    """
    _check("location_map", location_map, 4, "(B, 3, R, R)", 3)
    _check("gt_iuv", gt_iuv, 4, "(B, 3, h, w)", 3)
    b, _, h, w = gt_iuv.shape
    if location_map.shape[0] != b or tuple(camera.shape) != (b, 3):
        raise ValueError(f"location_map, camera: expected batch {b} and camera ({b}, 3), got "
                         f"{tuple(location_map.shape)} and {tuple(camera.shape)}")
    mask, uv = split_iuv(gt_iuv.float())
    points = sample_location_map(location_map.float(), uv)  # (B, 3, h, w)
    flat = points.flatten(2).transpose(1, 2)  # (B, h*w, 3)
    projected = weak_perspective_project(flat, camera.float()).transpose(1, 2).reshape(b, 2, h, w)  # (B, 2, h, w)
    pixels = pixel_centers(h, w, device=points.device, dtype=points.dtype).unsqueeze(0).expand(b, 2, h, w)
    fg = mask[:, 0] > 0.5
    error = (projected - pixels).norm(dim=1) * fg  # (B, h, w)
    return Correspondences(points=points, projected=projected, pixels=pixels, mask=fg, error=error)


def plot_consistency(image: torch.Tensor, gt_iuv: torch.Tensor, location_map: torch.Tensor, camera: torch.Tensor,
                     uv_mask: torch.Tensor | None = None, max_arrows: int = 150, seed: int = 0,
                     title: str | None = None, error_max: float | None = None) -> Figure:
    """Figure 6: GT IUV -> location map at each pixel's (u, v) -> projection -> compare with the pixel.

    Four panels for one sample: the GT IUV image; the location map with the (u, v) points that
    the foreground pixels read; the input with arrows from each projected point to its pixel (a
    random subset); the per-pixel error in pixels of the input.

    Args:
        image: (3, S, S) input in [0, 1].
        gt_iuv: (3, h, w) ground-truth IUV image.
        location_map: (3, R, R) location map (predicted, or a reference).
        camera: (3,) weak-perspective camera.
        uv_mask: optional (R, R) chart mask (white outside in the location-map panel).
        max_arrows: at most this many arrows.
        seed: which pixels get an arrow.
        title: figure title.
        error_max: upper end of the error colour scale, pixels (default: the 95th percentile).

    Returns:
        The figure.
    """
    _check("image", image, 3, "(3, S, S)", 3)
    corr = consistency_correspondences(location_map[None], camera.reshape(1, 3), gt_iuv[None])
    size = image.shape[-1]
    h, w = gt_iuv.shape[-2:]
    fg = corr.mask[0].numpy()
    err_px = corr.error[0].numpy() * size / 2.0
    fig, axes = plt.subplots(1, 4, figsize=(13.5, 3.6))
    axes[0].imshow(iuv_rgb(gt_iuv), interpolation="nearest")
    clean_axes(axes[0], "GT IUV: each pixel's (u, v)")
    loc = location_map.detach().float().cpu()
    axes[1].imshow(location_map_rgb(loc, uv_mask), interpolation="nearest", extent=(0, 1, 1, 0))
    uv = gt_iuv[1:].detach().float().cpu().numpy()
    axes[1].scatter(uv[0][fg], uv[1][fg], s=0.8, c="black", alpha=0.5)
    axes[1].set_title("location map X, read at those (u, v)", fontsize=9)
    axes[1].set_xlabel("u", fontsize=8)
    axes[1].set_ylabel("v", fontsize=8)
    axes[1].tick_params(labelsize=7)
    axes[2].imshow(image_rgb(image))
    rows, cols = np.nonzero(fg)
    pick = np.random.default_rng(seed).permutation(len(rows))[:max_arrows]
    pix = normalized_to_pixels(corr.pixels[0].permute(1, 2, 0), size).numpy()[rows[pick], cols[pick]]
    proj = normalized_to_pixels(corr.projected[0].permute(1, 2, 0), size).numpy()[rows[pick], cols[pick]]
    axes[2].scatter(proj[:, 0], proj[:, 1], s=3, c=OKABE_ITO["orange"], zorder=3, label="pi(X(u, v), c)")
    axes[2].quiver(proj[:, 0], proj[:, 1], pix[:, 0] - proj[:, 0], pix[:, 1] - proj[:, 1], angles="xy",
                   scale_units="xy", scale=1.0, color=OKABE_ITO["sky_blue"], width=0.004, zorder=2)
    axes[2].scatter(pix[:, 0], pix[:, 1], s=2, c=OKABE_ITO["blue"], zorder=3, label="pixel (x, y)")
    axes[2].set_xlim(-0.5, size - 0.5)
    axes[2].set_ylim(size - 0.5, -0.5)
    axes[2].legend(fontsize=7, loc="lower left", framealpha=0.8)
    clean_axes(axes[2], "projected point -> its pixel")
    vmax = error_max if error_max is not None else float(np.percentile(err_px[fg], 95)) if fg.any() else 1.0
    im = axes[3].imshow(np.ma.masked_where(~fg, err_px), cmap="magma", vmin=0, vmax=max(vmax, 1e-6),
                        interpolation="nearest", extent=(-0.5, size - 0.5, size - 0.5, -0.5))
    fig.colorbar(im, ax=axes[3], fraction=0.046, pad=0.03, label="pixels")
    mean = float(err_px[fg].mean()) if fg.any() else float("nan")
    clean_axes(axes[3], f"|(x, y) - pi(X(u, v), c)|: mean {mean:.1f} px")
    return finish_figure(fig, title)


# ------------------------------------------------------------------------------------------------
# Meshes
# ------------------------------------------------------------------------------------------------
def plot_mesh_comparison(batch: Batch | Mapping[str, torch.Tensor], outputs: Mapping[str, Any], faces: torch.Tensor,
                         n: int = 4, labels: Mapping[str, Sequence[str]] | None = None) -> Figure:
    """Meshes of several models over the same crops: input | GT mesh | one column per model.

    The GT mesh is drawn with the sample's weak-perspective ``camera`` (if the batch has one),
    each prediction with its own predicted camera.

    Args:
        batch: a :class:`~decomr.data.batch.Batch` (``image``, ``vertices``, optionally ``camera``),
            or a dict of its fields.
        outputs: model name -> ``DecoMROutput`` (with ``vertices`` and ``camera``) for the batch.
        faces: (F, 3).
        n: rows.
        labels: optional model name -> one caption per sample (e.g. its errors).

    Returns:
        The figure.
    """
    batch = as_batch(batch)
    _check("batch.image", batch.image, 4, "(B, 3, S, S)", 3)
    n = max(1, min(int(n), len(batch)))
    names = list(outputs)
    cols = ["input", "GT mesh"] + names
    fig, axes = plt.subplots(n, len(cols), figsize=(2.3 * len(cols), 2.45 * n), squeeze=False)
    for i in range(n):
        image = batch.image[i]
        tiles = [image_rgb(image)]
        cam = batch.camera[i] if batch.camera is not None else outputs[names[0]].camera[i]
        tiles.append(mesh_overlay(image, batch.vertices[i], cam, faces) if batch.vertices is not None else tiles[0])
        for name in names:
            out = outputs[name]
            if out.vertices is None:
                raise ValueError(f"outputs[{name!r}]: no vertices (run the model with stage='full')")
            tiles.append(mesh_overlay(image, out.vertices[i], out.camera[i], faces))
        for k, tile in enumerate(tiles):
            axes[i, k].imshow(tile)
            clean_axes(axes[i, k], cols[k] if i == 0 else None)
            if k >= 2 and labels is not None and names[k - 2] in labels:
                axes[i, k].set_xlabel(labels[names[k - 2]][i], fontsize=7)
    return finish_figure(fig)


# ------------------------------------------------------------------------------------------------
# Training curves
# ------------------------------------------------------------------------------------------------
def plot_history(rows: Sequence[Mapping[str, Any]], panels: Mapping[str, Sequence[str]],
                 log_panels: Sequence[str] = (), tile: tuple[float, float] = (4.2, 3.2)) -> Figure:
    """Logged values against ``step``: one panel per title, one curve per key.

    A row contributes a point to a curve when it has ``step`` and the key (so training-loss rows
    and occasional evaluation rows can share one list). A curve for a key that no row has is left out.

    Args:
        rows: logged dicts, e.g. ``{"step": 10, "mask": 0.02, "uv": 0.05}``.
        panels: panel title -> keys to draw in it.
        log_panels: titles of the panels drawn with a log-scale y axis.
        tile: panel size in inches.

    Returns:
        The figure.
    """
    if not panels:
        raise ValueError("panels: expected at least one title -> keys")
    fig, axes = plt.subplots(1, len(panels), figsize=(tile[0] * len(panels), tile[1]), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels.items()):
        for key in keys:
            pts = [(r["step"], r[key]) for r in rows if "step" in r and key in r]
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, marker="o" if len(pts) < 20 else None, ms=3, lw=1.2, label=key)
        if title in log_panels:
            ax.set_yscale("log")
        ax.set_xlabel("step", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        if ax.get_lines():
            ax.legend(fontsize=7)
    return finish_figure(fig)
