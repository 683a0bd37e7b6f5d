"""Plots of the reproduced experiments (Table 5's grouped bars, zoomed mesh crops).

- :func:`plot_table5` — the paper's Table 5 next to ours: one panel per metric, bars grouped by
  LNet input, one bar per UV atlas, error bars = std over seeds.
- :func:`plot_mesh_zoom` — a mesh seen from the camera, cropped around a point (Figure 7's zooms).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from decomr.eval.paper import PAPER_TABLE5, TABLE5_ATLASES, TABLE5_INPUTS
from decomr.viz.body_plots import finish_figure, plot_mesh, project

__all__ = ["ATLAS_COLORS", "plot_table5", "plot_mesh_zoom"]

#: Bar colours of the two UV atlases (default = the body's own multi-chart UV, continuous = ours).
ATLAS_COLORS = {"default": "#b0b0b0", "continuous": "#3b75af"}
_INPUT_TICKS = {"global": "F_G", "local": "F_L", "local+global": "F_G+F_L", "pixels+global": "F_G+pix"}


def _bars(ax, values: Mapping[tuple[str, str], tuple[float, float]], atlases: Sequence[str], inputs: Sequence[str],
          title: str, ylabel: str) -> None:
    width = 0.38
    x = np.arange(len(inputs))
    for k, atlas in enumerate(atlases):
        means = [values.get((atlas, i), (np.nan, np.nan))[0] for i in inputs]
        stds = [values.get((atlas, i), (np.nan, np.nan))[1] for i in inputs]
        err = None if all(not np.isfinite(s) for s in stds) else np.nan_to_num(stds)
        ax.bar(x + (k - 0.5) * width, means, width, yerr=err, capsize=3, color=ATLAS_COLORS.get(atlas, None),
               edgecolor="black", linewidth=0.5, label=atlas)
    finite = [v[0] + (v[1] if np.isfinite(v[1]) else 0) for v in values.values() if np.isfinite(v[0])]
    lows = [v[0] for v in values.values() if np.isfinite(v[0])]
    if finite:
        lo, hi = min(lows), max(finite)
        pad = 0.15 * (hi - lo) + 1e-6
        ax.set_ylim(max(0.0, lo - 4 * pad), hi + pad)
    ax.set_xticks(x)
    ax.set_xticklabels([_INPUT_TICKS.get(i, i) for i in inputs], fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def plot_table5(summary: Mapping[tuple[str, str], Any], metrics: Sequence[str] = ("mpjpe", "pa_mpjpe", "pve"),
                paper: bool = True, title: str | None = None, template: Mapping[str, float] | None = None):
    """Grouped bars of Table 5: the paper's P2 PA-MPJPE (optional) and our metrics.

    Args:
        summary: (atlas, input) -> an object with ``mean(metric)`` and ``std(metric)`` (e.g.
            :class:`decomr.experiments.table5_grid.CellSummary`; std NaN = no error bar).
        metrics: our metrics, one panel each (mm, lower is better).
        paper: add a first panel with the paper's Table 5 (H36M P2 PA-MPJPE).
        title: figure title.
        template: optional metric -> value of the template-body yardstick, drawn as a dashed line.

    Returns:
        matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    labels = {"mpjpe": "MPJPE", "pa_mpjpe": "PA-MPJPE", "pve": "per-vertex error"}
    panels = (1 if paper else 0) + len(metrics)
    fig, axes = plt.subplots(1, panels, figsize=(3.3 * panels, 3.0), squeeze=False)
    axes = axes[0]
    if paper:
        vals = {cell: (row.p2_pa_mpjpe, np.nan) for cell, row in PAPER_TABLE5.items()}
        _bars(axes[0], vals, TABLE5_ATLASES, TABLE5_INPUTS, "paper: H36M P2 PA-MPJPE\n(SMPL default vs continuous)",
              "mm")
    for ax, metric in zip(axes[int(paper):], metrics):  # our panels follow the paper's
        vals = {cell: (s.mean(metric), s.std(metric)) for cell, s in summary.items()}
        _bars(ax, vals, TABLE5_ATLASES, TABLE5_INPUTS, f"ours: synthetic test, {labels.get(metric, metric)}", "mm")
        if template and metric in template:
            ax.axhline(template[metric], color="tab:red", linestyle="--", linewidth=1, label="template body")
            # the axis now spans the yardstick too: start it low enough that the bars stay visible
            lo, hi = ax.get_ylim()
            means = [v[0] for v in vals.values() if np.isfinite(v[0])]
            bottom = min(means + [template[metric]]) if means else min(lo, 0.9 * template[metric])
            top = max(hi, 1.03 * template[metric])
            ax.set_ylim(max(0.0, min(lo, bottom - 0.25 * (top - bottom))), top)
    handles, names = axes[-1].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, -0.06))
    return finish_figure(fig, title)


def plot_mesh_zoom(ax, vertices, faces, center, radius: float, colors=None, frame: str = "camera",
                   title: str | None = None, **kwargs: Any) -> None:
    """Draw a mesh seen from the camera and crop the view to a square around ``center``.

    Args:
        ax: matplotlib axes.
        vertices: (V, 3) camera-frame vertices, metres.
        faces: (F, 3).
        center: (3,) point (camera frame) to zoom on, e.g. a wrist joint.
        radius: half side of the crop, metres.
        colors: per-vertex scalars or colours (see :func:`decomr.viz.body_plots.plot_mesh`).
        frame: ``"camera"`` (OpenCV camera frame) or ``"canonical"``.
        title: axes title.
        **kwargs: passed to :func:`~decomr.viz.body_plots.plot_mesh` (``cmap``, ``vmin``, ``vmax``).
    """
    c = np.asarray(center, dtype=np.float64).reshape(1, 3)
    if radius <= 0:
        raise ValueError(f"radius: expected > 0, got {radius}")
    plot_mesh(ax, vertices, faces, colors, view="front", frame=frame, **kwargs)
    p = project(c, "front", frame)[0]
    ax.set_xlim(p[0] - radius, p[0] + radius)
    ax.set_ylim(p[1] - radius, p[1] + radius)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8)
