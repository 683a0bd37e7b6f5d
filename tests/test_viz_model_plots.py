"""Tests for decomr.viz.model_plots: feature PCA, neighbour jumps, Eq. 10 correspondences, figure smoke tests."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

from decomr.losses import consistency_loss
from decomr.models import DecoMROutput, uv_cell_index
from decomr.viz.model_plots import (consistency_correspondences, feature_pca_rgb, neighbour_cell_jumps,
                                    plot_cnet_outputs, plot_consistency, plot_mesh_comparison, plot_neighbour_jumps,
                                    plot_history, plot_pixel_to_cell, plot_uv_maps, plot_uv_transfer)
from tests.helpers import assert_close

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


def _iuv(b: int = 2, h: int = 8, w: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    iuv = torch.rand(b, 3, h, w, generator=g)
    iuv[:, 0] = (iuv[:, 0] > 0.3).float()
    iuv[:, 1:] *= iuv[:, :1]
    return iuv


def _tetra() -> tuple[torch.Tensor, torch.Tensor]:
    verts = torch.tensor([[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.3]])
    faces = torch.tensor([[0, 1, 2], [0, 1, 3], [1, 2, 3], [2, 0, 3]])
    return verts, faces


# ------------------------------------------------------------------------------------------ PCA
def test_feature_pca_rgb_recovers_the_dominant_direction_and_masks():
    h, w = 6, 5
    field = torch.linspace(-1, 1, h * w).reshape(h, w)
    direction = torch.tensor([1.0, -2.0, 0.5, 3.0])
    noise = 1e-3 * torch.randn(4, h, w, generator=torch.Generator().manual_seed(0))
    features = direction[:, None, None] * field + noise
    rgb = feature_pca_rgb(features)
    assert rgb.shape == (h, w, 3) and rgb.min() >= 0 and rgb.max() <= 1
    corr = np.corrcoef(rgb[..., 0].ravel(), field.numpy().ravel())[0, 1]
    assert abs(corr) > 0.99  # the first component is the field (up to sign)
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[:3] = True
    rgb = feature_pca_rgb(features, mask, background=0.25)
    assert np.all(rgb[3:] == 0.25)
    assert feature_pca_rgb(torch.rand(2, 3, 3)).shape == (3, 3, 3)  # fewer than 3 channels


def test_feature_pca_rgb_bad_input():
    with pytest.raises(ValueError, match="features"):
        feature_pca_rgb(torch.rand(3, 4))
    with pytest.raises(ValueError, match="mask"):
        feature_pca_rgb(torch.rand(3, 4, 4), torch.ones(3, 3, dtype=torch.bool))


# ------------------------------------------------------------------------------------------ jumps
def _naive_jumps(iuv, grid, parts=None):
    cells = uv_cell_index(iuv[:, 1:], grid)
    b, _, h, w = iuv.shape
    out = []
    for dr, dc in ((0, 1), (1, 0)):  # same order as the function: right pairs, then lower pairs
        for i in range(b):
            for r in range(h - dr):
                for c in range(w - dc):
                    r2, c2 = r + dr, c + dc
                    same_part = parts is None or parts[i, r, c] == parts[i, r2, c2]
                    if iuv[i, 0, r, c] > 0.5 and iuv[i, 0, r2, c2] > 0.5 and same_part:
                        a, bb = int(cells[i, r, c]), int(cells[i, r2, c2])
                        out.append(float(np.hypot(a // grid - bb // grid, a % grid - bb % grid)))
    return sorted(out)


def test_neighbour_cell_jumps_matches_a_naive_loop():
    iuv = _iuv(2, 7, 6)
    parts = torch.randint(0, 3, (2, 7, 6), generator=torch.Generator().manual_seed(1))
    for p in (None, parts):
        j = neighbour_cell_jumps(iuv, grid=9, parts=p)
        assert sorted(j.distances.tolist()) == pytest.approx(_naive_jumps(iuv, 9, p), abs=1e-5)
    j = neighbour_cell_jumps(iuv, grid=9)
    assert j.jump_map.shape == (2, 7, 6)
    assert torch.isnan(j.jump_map[iuv[:, 0] < 0.5]).all()  # background pixels have no pair
    assert j.fraction_above(0.0) == pytest.approx(float((j.distances > 0).float().mean()))
    finite = j.jump_map[~torch.isnan(j.jump_map)]
    assert float(finite.max()) == pytest.approx(float(j.distances.max()))


def test_neighbour_cell_jumps_continuous_vs_cut():
    u = torch.linspace(0, 1, 16)
    iuv = torch.zeros(1, 3, 1, 16)
    iuv[0, 0] = 1.0
    iuv[0, 1, 0] = u
    smooth = neighbour_cell_jumps(iuv, grid=16)
    assert smooth.fraction_above(1.0) == 0.0
    iuv[0, 1, 0] = torch.cat([u[:8], u[8:].flip(0)])  # a "seam": the second half runs backwards
    assert neighbour_cell_jumps(iuv, grid=16).distances.max() > 1.0


def test_neighbour_cell_jumps_bad_input():
    with pytest.raises(ValueError, match="iuv"):
        neighbour_cell_jumps(torch.rand(3, 4, 4), 8)
    with pytest.raises(ValueError, match="parts"):
        neighbour_cell_jumps(_iuv(1, 4, 4), 8, parts=torch.zeros(1, 3, 4))


# ------------------------------------------------------------------------------------------ Eq. 10
def test_consistency_correspondences_reproduce_the_loss_and_a_pixel_by_hand():
    torch.manual_seed(0)
    loc = torch.randn(2, 3, 16, 16) * 0.3
    cam = torch.tensor([[0.9, 0.1, -0.2], [1.2, 0.0, 0.05]])
    gt = _iuv(2, 8, 8)
    corr = consistency_correspondences(loc, cam, gt)
    fg = corr.mask
    assert_close((corr.error[fg] ** 2).mean() / 2, consistency_loss(loc, cam, gt), atol=1e-6)
    # one pixel by hand: bilinear read (align_corners=True), projection, pixel centre
    i, r, c = 1, *[int(x) for x in torch.nonzero(fg[1])[0]]
    u, v = gt[i, 1, r, c].item(), gt[i, 2, r, c].item()
    x, y = u * 15, v * 15
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    x1, y1 = min(x0 + 1, 15), min(y0 + 1, 15)
    fx, fy = x - x0, y - y0
    point = (loc[i, :, y0, x0] * (1 - fx) * (1 - fy) + loc[i, :, y0, x1] * fx * (1 - fy)
             + loc[i, :, y1, x0] * (1 - fx) * fy + loc[i, :, y1, x1] * fx * fy)
    proj = cam[i, 0] * (point[:2] + cam[i, 1:])
    pixel = torch.tensor([(2 * c + 1) / 8 - 1, (2 * r + 1) / 8 - 1])
    assert_close(corr.points[i, :, r, c], point, atol=1e-5)
    assert_close(corr.projected[i, :, r, c], proj, atol=1e-5)
    assert_close(corr.error[i, r, c], (proj - pixel).norm(), atol=1e-5)
    assert (corr.error[~fg] == 0).all()
    assert_close(corr.mean_error(8), corr.error.flatten(1).sum(1) / fg.flatten(1).sum(1) * 4, atol=1e-6)


def test_consistency_correspondences_bad_input():
    with pytest.raises(ValueError, match="location_map"):
        consistency_correspondences(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3), _iuv(1))
    with pytest.raises(ValueError, match="camera"):
        consistency_correspondences(torch.zeros(1, 3, 4, 4), torch.zeros(2, 3), _iuv(1))


# ------------------------------------------------------------------------------------------ figures
def test_plot_uv_maps_kinds_and_errors():
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[2:6, 2:6] = True
    loc = torch.randn(3, 8, 8) * mask
    fig = plot_uv_maps({"GT": loc, "pred": loc * 0.5, "W": torch.rand(8, 8), "rgb": np.random.rand(8, 8, 3)}, mask=mask,
                       ncols=3)
    assert len(fig.axes) >= 4
    with pytest.raises(ValueError, match="maps"):
        plot_uv_maps({})
    with pytest.raises(ValueError, match="maps"):
        plot_uv_maps({"bad": torch.rand(2, 2, 2, 2)})


def test_plot_cnet_outputs_smoke():
    b, h, s = 2, 8, 32
    verts, _ = _tetra()
    out = DecoMROutput(mask_logits=torch.randn(b, 1, h, h), uv=torch.rand(b, 2, h, h),
                       local_features=torch.randn(b, 5, h, h),
                       global_features=torch.randn(b, 16), camera=torch.tensor([[1.0, 0.0, 0.0]] * b))
    batch = {"image": torch.rand(b, 3, s, s), "iuv": _iuv(b, h, h), "vertices": verts.expand(b, -1, -1),
             "camera": torch.tensor([[0.8, 0.1, 0.0]] * b)}
    fig = plot_cnet_outputs(batch, out, n=2, mesh_every=1)
    assert fig.axes[0].get_title() == "input" and len(fig.axes) == 2 * 9
    with pytest.raises(ValueError, match="image"):
        plot_cnet_outputs({"image": torch.rand(3, s, s)}, out)


def test_plot_pixel_to_cell_and_uv_transfer_smoke():
    iuv = _iuv(2, 8, 8)
    fg = torch.nonzero(iuv[0, 0] > 0.5)[0].tolist()
    fig = plot_pixel_to_cell(torch.rand(3, 16, 16), iuv[0], grid=6, pixels=[tuple(fg), (0, 0)])
    assert len(fig.axes) == 4  # three panels and a colour bar
    with pytest.raises(ValueError, match="pixels"):
        plot_pixel_to_cell(torch.rand(3, 16, 16), iuv[0], grid=6, pixels=[(9, 0)])
    fig = plot_uv_transfer(torch.rand(2, 3, 16, 16), {"continuous": iuv, "default": _iuv(2, 8, 8, seed=1)}, grid=6)
    assert len(fig.axes) == 2 * 5
    with pytest.raises(ValueError, match="iuvs"):
        plot_uv_transfer(torch.rand(2, 3, 16, 16), {"continuous": iuv[:1]})


def test_plot_neighbour_jumps_smoke():
    iuvs = {"continuous": _iuv(2, 8, 8), "default": _iuv(2, 8, 8, seed=3)}
    jumps = {k: neighbour_cell_jumps(v, 8) for k, v in iuvs.items()}
    fig = plot_neighbour_jumps(jumps, iuvs, index=1, k=2, max_k=5)
    assert len(fig.axes) == 3 and len(fig.axes[-1].get_lines()) == 3  # two curves and the threshold line
    assert len(plot_neighbour_jumps(jumps).axes) == 3
    with pytest.raises(ValueError, match="jumps"):
        plot_neighbour_jumps({})


def test_plot_consistency_and_mesh_comparison_smoke():
    gt = _iuv(1, 8, 8)[0]
    fig = plot_consistency(torch.rand(3, 16, 16), gt, torch.randn(3, 12, 12) * 0.3, torch.tensor([1.0, 0.0, 0.0]),
                           max_arrows=10, title="t")
    assert len(fig.axes) == 5  # four panels and a colour bar
    verts, faces = _tetra()
    out = DecoMROutput(mask_logits=torch.zeros(2, 1, 4, 4), uv=torch.zeros(2, 2, 4, 4), local_features=torch.zeros(1),
                       global_features=torch.zeros(1), camera=torch.tensor([[1.0, 0.0, 0.0]] * 2),
                       vertices=verts.expand(2, -1, -1))
    batch = {"image": torch.rand(2, 3, 16, 16), "vertices": verts.expand(2, -1, -1)}
    fig = plot_mesh_comparison(batch, {"a": out, "b": out}, faces, n=2, labels={"a": ["x", "y"]})
    assert len(fig.axes) == 2 * 4 and fig.axes[2].get_xlabel() == "x"
    no_mesh = DecoMROutput(mask_logits=out.mask_logits, uv=out.uv, local_features=out.local_features,
                           global_features=out.global_features, camera=out.camera)
    with pytest.raises(ValueError, match="vertices"):
        plot_mesh_comparison(batch, {"a": no_mesh}, faces)


def test_plot_history_skips_missing_keys():
    rows = [{"step": 1, "mask": 0.5, "uv": 0.2}, {"step": 2, "mask": 0.3, "uv": 0.1}, {"step": 2, "val_iou": 0.4}]
    fig = plot_history(rows, {"losses": ["mask", "uv", "absent"], "IoU": ["val_iou"]}, log_panels=("losses",))
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 1]
    assert fig.axes[0].get_yscale() == "log" and fig.axes[1].get_yscale() == "linear"
    with pytest.raises(ValueError, match="panels"):
        plot_history(rows, {})


def test_plot_uv_maps_shares_one_colour_scale_across_sizes():
    small, big = torch.zeros(3, 4, 4), torch.zeros(3, 8, 8)
    small[:, 1:3, 1:3] = 1.0
    big[:, 2:6, 2:6] = -1.0
    fig = plot_uv_maps({"small": small, "big": big})
    a, b = (ax.get_images()[0].get_array() for ax in fig.axes)
    assert np.allclose(a[1, 1], 1.0) and np.allclose(b[3, 3], 0.0)  # +1 is the top, -1 the bottom of the scale
    assert np.allclose(a[0, 0], 1.0) and np.allclose(b[0, 0], 1.0)  # outside the chart: white
