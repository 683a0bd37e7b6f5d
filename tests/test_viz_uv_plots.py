"""decomr.viz.uv_plots: the figure functions return matplotlib Figures that show the right data
(saving is the caller's save_figure)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from decomr.uv import load_atlas  # noqa: E402
from decomr.uv.maps import weight_map  # noqa: E402
from decomr.viz import uv_plots  # noqa: E402
from decomr.viz.body_plots import save_figure  # noqa: E402


@pytest.fixture(scope="module")
def atlases(anny_body):
    return load_atlas(anny_body, "continuous"), load_atlas(anny_body, "default")


def test_weight_map_figure_shows_the_weight_map(anny_body, atlases, tmp_path):
    fig = uv_plots.plot_weight_map(anny_body, atlases[0], 32)
    assert isinstance(fig, Figure)
    shown = fig.axes[0].images[0].get_array()
    w = weight_map(anny_body, atlases[0], 32).numpy()
    assert np.array_equal(np.ma.getmaskarray(shown), w == 0) and np.allclose(shown.compressed(), w[w > 0])
    assert save_figure(fig, "w", folder=tmp_path).stat().st_size > 5_000
    plt.close(fig)


def test_atlas_and_distance_figures(anny_body, atlases):
    fig = uv_plots.fig3_uv_atlases(anny_body, *atlases)
    assert isinstance(fig, Figure) and len(fig.axes) == 4 and "9 charts" in fig.axes[0].get_title()
    plt.close(fig)
    fig = uv_plots.fig4_distance_matrices(anny_body, *atlases, n=60, seed=0)
    titles = [ax.get_title() for ax in fig.axes[:3]]
    assert titles[1].startswith("mesh surface") and "S1 =" in titles[0] and "S1 =" in titles[2]
    plt.close(fig)
    fig = uv_plots.plot_location_map(anny_body, atlases[0], resolution=32)
    assert len(fig.axes) >= 3 and "Eq. 3" in fig.axes[2].get_title()
    plt.close(fig)
