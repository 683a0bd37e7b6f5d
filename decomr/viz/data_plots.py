"""Matplotlib figures of training samples: images, masks, IUV images, part maps, joints.

Works on a :class:`decomr.data.batch.Batch` (or a dict of its fields), e.g. of
:mod:`decomr.data.synthetic`: ``image`` (B, 3, S, S), ``iuv`` (B, 3, R, R), ``parts`` (B, R, R),
``mask`` (B, 1, S, S), ``keypoints`` (B, 24, 3) / ``lsp_keypoints`` (B, 14, 3) in normalised crop
coordinates.

IUV images are shown as RGB = (u, v, 0.4 * mask) over black (:func:`decomr.viz.train_plots.iuv_rgb`, the one
colouring).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from decomr.body.joints import LSP_JOINT_NAMES
from decomr.data.augment import AugmentParams, UVMirror, augment_batch
from decomr.data.batch import Batch, as_batch
from decomr.data.crop import normalized_to_pixels
from decomr.data.synthetic import SyntheticBatchGenerator, SyntheticConfig
from decomr.viz.body_plots import LSP_BONES, _side_color, as_numpy, clean_axes, finish_figure, image_rgb, save_figure
from decomr.viz.colors import CENTRE_COLOR, lsp_part_rgb
from decomr.viz.train_plots import iuv_rgb

__all__ = ["draw_keypoints", "plot_samples", "plot_augmentation", "data_figures"]


def draw_keypoints(ax, keypoints, size: int, lsp: bool = True, markersize: float = 3.0) -> None:
    """Draw normalised keypoints (N, 2|3) on an axis showing a ``size`` x ``size`` image.

    LSP keypoints (14) are joined by limbs, left side vermillion, right side blue; invisible
    points are drawn hollow.
    """
    k = as_numpy(keypoints, np.float32)
    if k.ndim != 2 or k.shape[1] not in (2, 3):
        raise ValueError(f"keypoints: expected (N, 2|3), got {k.shape}")
    px = normalized_to_pixels(torch.from_numpy(k[:, :2]), size).numpy()
    vis = k[:, 2] > 0 if k.shape[1] == 3 else np.ones(len(k), bool)
    if lsp and len(k) == 14:
        colors = [_side_color(name) for name in LSP_JOINT_NAMES]
        for a, b in LSP_BONES:  # a limb between the two sides (e.g. the hips) is drawn in the centre colour
            color = colors[a] if colors[a] == colors[b] else CENTRE_COLOR
            ax.plot(px[[a, b], 0], px[[a, b], 1], "-", color=color, lw=1.2, alpha=0.9)
    else:
        colors = ["yellow"] * len(k)
    for i in range(len(k)):
        ax.plot(px[i, 0], px[i, 1], "o", ms=markersize, mec="white", mew=0.5,
                mfc=colors[i] if vis[i] else "none")


def _show(ax, img, title: str | None = None, cmap: str | None = None) -> None:
    ax.imshow(img, cmap=cmap, interpolation="nearest")
    clean_axes(ax, title, fontsize=8)


def _show_with_joints(ax, batch: Batch, i: int, title: str | None) -> np.ndarray:
    """Draw sample ``i``'s image with its LSP keypoints (else its ``keypoints``); returns the (S, S, 3) image."""
    img = image_rgb(batch.image[i])
    _show(ax, img, title)
    kp = batch.lsp_keypoints if batch.lsp_keypoints is not None else batch.keypoints
    if kp is not None:
        draw_keypoints(ax, kp[i], img.shape[0])
    ax.set_xlim(-0.5, img.shape[0] - 0.5)
    ax.set_ylim(img.shape[0] - 0.5, -0.5)
    return img


def plot_samples(batch: Batch | Mapping, n: int | None = None, columns: Sequence[str] = ("image", "mask", "iuv", "overlay", "parts"),
                 title: str | None = None) -> Figure:
    """A grid of samples: one row per sample, one column per view.

    Args:
        batch: a :class:`~decomr.data.batch.Batch` (``image``, ``iuv``, ``parts``, ``mask``,
            ``lsp_keypoints``/``keypoints``), or a dict of its fields.
        n: number of rows (default all).
        columns: any of ``"image"`` (with LSP joints), ``"mask"``, ``"iuv"``, ``"overlay"``
            (IUV over the image), ``"parts"``, ``"iuv_default"``.
        title: figure title.

    Returns:
        The figure.
    """
    batch = as_batch(batch)
    B = len(batch)
    n = B if n is None else min(n, B)
    fig, axes = plt.subplots(n, len(columns), figsize=(2.0 * len(columns), 2.0 * n), squeeze=False)
    size = int(batch.image.shape[-1])
    iuv_size = int(batch.iuv.shape[-1]) if batch.iuv is not None else size
    names = {"image": "image + joints", "mask": f"mask ({size})", "iuv": f"IUV ({iuv_size})", "overlay": "IUV over image",
             "parts": f"parts ({iuv_size})", "iuv_default": f"IUV default ({iuv_size})"}
    for r in range(n):
        img = image_rgb(batch.image[r])
        S = img.shape[0]
        for c, col in enumerate(columns):
            ax = axes[r, c]
            t = names.get(col, col) if r == 0 else None
            if col == "image":
                _show_with_joints(ax, batch, r, t)
            elif col == "mask":
                m = batch.mask if batch.mask is not None else batch.iuv_mask
                if m is None:
                    ax.axis("off")
                else:
                    _show(ax, as_numpy(m[r], np.float32)[0], t, cmap="gray")
            elif col in ("iuv", "iuv_default"):
                _show(ax, iuv_rgb(getattr(batch, col)[r]), t)
            elif col == "overlay":
                iuv = as_numpy(batch.iuv[r], np.float32)
                R = iuv.shape[-1]
                up = np.kron(iuv_rgb(iuv), np.ones((S // R, S // R, 1))) if S % R == 0 else None
                m = np.kron(iuv[0], np.ones((S // R, S // R)))[..., None] if S % R == 0 else None
                _show(ax, img * (1 - 0.6 * m) + 0.6 * m * up if up is not None else img, t)
            elif col == "parts":
                _show(ax, lsp_part_rgb(as_numpy(batch.parts[r], np.int64)), t)
            else:
                raise ValueError(f"columns: unknown column {col!r}")
    return finish_figure(fig, title)


def plot_augmentation(panels: Sequence[tuple[str, Batch | Mapping]], n: int | None = None, params=None,
                      title: str | None = None) -> Figure:
    """Side-by-side versions of the same samples (e.g. before / after augmentation).

    Args:
        panels: ``[(name, batch), ...]``, :class:`~decomr.data.batch.Batch` es (or dicts of their
            fields) with the same B; each gets an "image + LSP joints" column and an IUV column.
        n: number of rows (default all).
        params: optional :class:`decomr.data.augment.AugmentParams` (shown as row labels).
        title: figure title.
    """
    if not panels:
        raise ValueError("panels: expected at least one (name, batch) pair")
    panels = [(name, as_batch(batch)) for name, batch in panels]
    B = len(panels[0][1])
    n = B if n is None else min(n, B)
    fig, axes = plt.subplots(n, 2 * len(panels), figsize=(2.0 * 2 * len(panels), 2.05 * n), squeeze=False)
    for r in range(n):
        for c, (name, batch) in enumerate(panels):
            _show_with_joints(axes[r, 2 * c], batch, r, name if r == 0 else None)
            _show(axes[r, 2 * c + 1], iuv_rgb(batch.iuv[r]), "IUV" if r == 0 else None)
        if params is not None:
            label = (f"flip={bool(params.flip[r])}\nrot={float(params.rot[r]):.0f} deg\n"
                     f"scale={float(params.scale[r]):.2f}\ncolour=" + ",".join(f"{float(c):.2f}" for c in params.color[r]))
            axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    return finish_figure(fig, title)


def data_figures(folder=None, n: int = 6, split: str = "val", config=None, device: str = "cpu") -> list:
    """Write ``synthetic_samples.png`` and ``augmentation.png`` (default folder: ``figures/``).

    The augmentation figure shows, for one flip, rotation, zoom and colour draw per row: the
    sample, the image-space augmentation (:func:`decomr.data.augment.augment_batch`, the path of
    the official data) and the same transform applied in 3D before rendering (the synthetic
    data's exact path); the two must agree.

    Args:
        folder: output folder.
        n: samples per figure.
        split: synthetic split to draw from.
        config: a :class:`decomr.data.synthetic.SyntheticConfig` (default: the paper-size one).
        device: rendering device.

    Returns:
        The two paths written.
    """
    config = config or SyntheticConfig()
    gen = SyntheticBatchGenerator(config, device)
    batch = gen.batch(split, range(n))
    paths = [save_figure(plot_samples(batch, title=f"synthetic samples ({config.body}, {config.atlas} atlas, "
                                                   f"{split} split)"), "synthetic_samples", folder=folder)]
    plt.close("all")
    k = min(n, 4)
    params = AugmentParams(flip=torch.tensor([True, False, False, True][:k]),
                           rot=torch.tensor([0.0, 40.0, 0.0, -30.0][:k]),
                           scale=torch.tensor([1.0, 1.0, 1.25, 0.8][:k]),
                           color=torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.3, 0.8, 0.7], [0.7, 1.1, 1.4]][:k]))
    before = batch[:k]
    mirrors = {key: UVMirror.from_atlas(atlas, gen.body_cpu) for key, atlas in gen.atlases.items()}
    after = augment_batch(before, params, gen.body, mirrors)
    rendered = gen.batch(split, range(k), augment=params)
    fig = plot_augmentation([("before", before), ("after (image space)", after), ("after (3D, re-rendered)", rendered)],
                            params=params, title="augmentation: flip / rotation / scale / colour")
    paths.append(save_figure(fig, "augmentation", folder=folder))
    plt.close("all")
    return paths
