"""Tests for decomr.viz.experiment_plots: Table 5's bars show the means given, zoomed crops, bad input."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from decomr.experiments.table5 import PAPER_TABLE5, TABLE5_ATLASES, TABLE5_INPUTS  # noqa: E402
from decomr.viz import plot_mesh_zoom, plot_table5  # noqa: E402


class _Cell:
    def __init__(self, mean: float, std: float) -> None:
        self._mean, self._std = mean, std

    def mean(self, metric: str) -> float:
        return self._mean + (10.0 if metric == "pve" else 0.0)

    def std(self, metric: str) -> float:
        return self._std


def _heights(ax) -> list[float]:
    return [p.get_height() for p in ax.patches]


def test_bars_are_the_means_in_table_order():
    summary = {(a, i): _Cell(50.0 + 10 * k + j, 1.0) for j, a in enumerate(TABLE5_ATLASES)
               for k, i in enumerate(TABLE5_INPUTS)}
    fig = plot_table5(summary, metrics=("mpjpe", "pve"), template={"mpjpe": 80.0})
    axes = fig.axes
    assert len(axes) == 3
    paper = [PAPER_TABLE5[(a, i)].p2_pa_mpjpe for a in TABLE5_ATLASES for i in TABLE5_INPUTS]
    assert np.allclose(_heights(axes[0]), paper)
    ours = [summary[(a, i)].mean("mpjpe") for a in TABLE5_ATLASES for i in TABLE5_INPUTS]
    assert np.allclose(_heights(axes[1]), ours)
    assert np.allclose(_heights(axes[2]), [v + 10 for v in ours])
    assert any(line.get_linestyle() == "--" for line in axes[1].lines)  # the template yardstick
    plt.close(fig)
    # a yardstick far above the bars: the axis spans it and still shows a visible part of each bar
    near = {(a, "local+global"): _Cell(130.0 + 3 * j, 1.0) for j, a in enumerate(TABLE5_ATLASES)}
    fig = plot_table5(near, metrics=("mpjpe",), paper=False, template={"mpjpe": 360.0})
    lo, hi = fig.axes[0].get_ylim()
    assert hi >= 360.0 and all((v - lo) / (hi - lo) > 0.15 for v in (130.0, 133.0))
    plt.close(fig)
    partial = {("continuous", "local+global"): _Cell(40.0, math.nan)}  # one seed: no error bar
    fig = plot_table5(partial, paper=False)
    assert len(fig.axes) == 3 and np.nansum(_heights(fig.axes[0])) == pytest.approx(40.0)
    plt.close(fig)


def test_mesh_zoom_crops_around_the_point():
    verts = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    fig, ax = plt.subplots()
    plot_mesh_zoom(ax, verts, faces, center=[0.5, 0.5, 0.0], radius=0.2, title="zoom")
    x0, x1 = ax.get_xlim()
    assert x1 - x0 == pytest.approx(0.4) and ax.get_title() == "zoom"
    with pytest.raises(ValueError, match="radius: expected > 0"):
        plot_mesh_zoom(ax, verts, faces, center=[0, 0, 0], radius=0.0)
    plt.close(fig)
