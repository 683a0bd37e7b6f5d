"""Tests for decomr.viz.prediction_plots: the static input | IUV | overlay | side-view grid."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from decomr.viz.prediction_plots import prediction_grid  # noqa: E402
from tests.test_viz_viewers import S, body, make_prediction  # noqa: E402,F401  (the fixture `body`)


def test_grid_in_the_crops_and_in_the_originals(body):  # noqa: F811
    import matplotlib.pyplot as plt

    pred = make_prediction()
    fig = prediction_grid(pred, body=body, titles=["a", "b"])
    assert len(fig.axes) == 8
    assert fig.axes[0].images[0].get_array().shape == (S, S, 3)  # drawn in the crop
    plt.close(fig)
    images = [torch.rand(3, 40, 60), np.zeros((30, 30, 3), dtype=np.uint8)]
    fig = prediction_grid(pred, images=images, errors=torch.rand(2, 6) * 100, max_rows=1)
    assert fig.axes[0].images[0].get_array().shape == (40, 60, 3)  # drawn in the original image
    assert len(fig.axes[0].patches) == 1  # the crop square
    assert len(fig.axes) == 5  # 4 panels + the error colour bar
    plt.close(fig)


def test_grid_bad_input(body):  # noqa: F811
    pred = make_prediction()
    with pytest.raises(ValueError, match="images"):
        prediction_grid(pred, images=[torch.rand(3, 40, 60)])
    with pytest.raises(ValueError, match="errors"):
        prediction_grid(pred, errors=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="max_rows"):
        prediction_grid(pred, max_rows=0)
    with pytest.raises(ValueError, match="titles"):
        prediction_grid(pred, titles=["only one"])
