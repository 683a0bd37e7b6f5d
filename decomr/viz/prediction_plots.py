"""A static figure of predictions (matplotlib): input, IUV, mesh overlay, mesh from the side.

The static twin of :mod:`decomr.viz.viewers` for saved figures and for reading a notebook
without a kernel. One row per image:

1. the input (the original image with the crop square and the 2D LSP joints, or the crop);
2. the predicted IUV image over it (u red, v green);
3. the shaded mesh over it (the weak-perspective camera of the crop);
4. the mesh seen from the side (its depth, which the image alone does not show), coloured by
   part or by a per-vertex error.
"""
from __future__ import annotations

from typing import Any

import torch
from matplotlib.figure import Figure

from decomr.body.joints import LSP_JOINT_NAMES
from decomr.predict.overlay import compose, iuv_colors, iuv_layer, mesh_layer
from decomr.viz.body_plots import plot_mesh
from decomr.viz.colors import LEFT_COLOR, RIGHT_COLOR, lsp_part_rgb
from decomr.viz.viewers import image_frame, original_images

__all__ = ["prediction_grid"]


def prediction_grid(prediction: Any, images: Any = None, body: Any = None, errors: Any = None,
                    max_rows: int = 4, titles: list[str] | None = None, error_max: float | None = None,
                    tile: float = 2.4) -> Figure:
    """Rows of input | IUV | mesh overlay | side view for the first ``max_rows`` predictions.

    Args:
        prediction: a :class:`~decomr.predict.Prediction`.
        images: the original images (anything ``Predictor.predict`` accepts); None: the crops.
        body: the body model, to colour the side view by LSP part; None: plain.
        errors: (B, V) per-vertex errors (e.g. mm) to colour the side view instead.
        max_rows: at most this many images.
        titles: one row label per image (e.g. the error).
        error_max: colour-scale maximum of ``errors`` (default: their 95th percentile).
        tile: size of one panel in inches.

    Returns:
        matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = min(len(prediction), int(max_rows))
    if n < 1:
        raise ValueError(f"max_rows: expected >= 1, got {max_rows}")
    originals = original_images(prediction, images)
    if errors is not None:
        errors = torch.as_tensor(errors).detach().float().cpu()
        if tuple(errors.shape) != tuple(prediction.vertices.shape[:2]):
            raise ValueError(f"errors: expected {tuple(prediction.vertices.shape[:2])}, got {tuple(errors.shape)}")
        vmax = float(error_max) if error_max is not None else float(torch.quantile(errors[:n].flatten(), 0.95))
    if titles is not None and len(titles) < n:
        raise ValueError(f"titles: expected at least {n}, got {len(titles)}")
    fig, axes = plt.subplots(n, 4, figsize=(4 * tile, n * tile), squeeze=False)
    for i in range(n):
        p, background = image_frame(prediction, originals, i)
        iuv = iuv_layer(p, 0)
        mesh = mesh_layer(p, 0)
        panels = [background, compose(background, iuv_colors(iuv), iuv[0], 0.8), compose(background, mesh.rgb, mesh.alpha, 0.75)]
        h, w = background.shape[:2]
        for k, panel in enumerate(panels):
            axes[i, k].imshow(panel.clamp(0, 1).numpy())
            axes[i, k].set_xlim(-0.5, w - 0.5)
            axes[i, k].set_ylim(h - 0.5, -0.5)
            axes[i, k].axis("off")
        if originals is not None:  # the crop square
            c, half = p.center[0].numpy(), 100.0 * float(p.scale[0])
            axes[i, 0].add_patch(Rectangle((c[0] - half, c[1] - half), 2 * half, 2 * half, fill=False, ec="white", lw=1, ls="--"))
        joints = p.lsp_joints_2d[0].numpy()
        sides = [LEFT_COLOR if name.startswith("left") else RIGHT_COLOR if name.startswith("right") else "white"
                 for name in LSP_JOINT_NAMES]
        axes[i, 0].scatter(joints[:, 0], joints[:, 1], s=9, c=sides, edgecolors="black", linewidths=0.3)
        if errors is not None:
            colors, extra = errors[i].numpy(), dict(cmap="magma", vmin=0.0, vmax=vmax)
        elif body is not None:
            colors, extra = lsp_part_rgb(body.lsp_parts), {}
        else:
            colors, extra = None, {}
        plot_mesh(axes[i, 3], p.vertices[0], p.faces, colors=colors, view=(90.0, 0.0), frame="camera", **extra)
        if titles is not None:  # a row label left of the first panel
            axes[i, 0].text(-0.04, 0.5, titles[i], transform=axes[i, 0].transAxes, rotation=90, va="center",
                            ha="right", fontsize=8)
    for k, name in enumerate(("input", "IUV (u red, v green)", "mesh overlay", "side view")):
        axes[0, k].set_title(name, fontsize=9)
    if errors is not None:
        mappable = plt.cm.ScalarMappable(cmap="magma", norm=plt.Normalize(0.0, vmax))
        fig.colorbar(mappable, ax=axes[:, 3], fraction=0.05, label="per-vertex error")
    else:
        fig.tight_layout()
    return fig
