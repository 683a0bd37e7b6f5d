"""Tests for decomr.losses.consistency (Eq. 10): an exactly consistent map, a naive loop, edge cases."""
from __future__ import annotations

import math

import pytest
import torch

from decomr.losses.consistency import consistency_loss, sample_location_map
from tests.helpers import assert_close


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (no flaky tolerances)."""
    torch.manual_seed(0)


def bilinear(location_map, u, v):
    """Naive bilinear lookup with align_corners=True: (u, v) in [0,1] -> value at column u(R-1), row v(R-1)."""
    r = location_map.shape[-1]
    x, y = u * (r - 1), v * (r - 1)
    x0, y0 = min(int(math.floor(x)), r - 2), min(int(math.floor(y)), r - 2)
    fx, fy = x - x0, y - y0
    m = location_map
    return ((1 - fx) * (1 - fy) * m[:, y0, x0] + fx * (1 - fy) * m[:, y0, x0 + 1]
            + (1 - fx) * fy * m[:, y0 + 1, x0] + fx * fy * m[:, y0 + 1, x0 + 1])


def naive_consistency(location_map, camera, gt_iuv):
    b, _, h, w = gt_iuv.shape
    total, count = 0.0, 0
    for n in range(b):
        s, tx, ty = camera[n].tolist()
        for i in range(h):
            for j in range(w):
                if gt_iuv[n, 0, i, j] <= 0.5:
                    continue
                point = bilinear(location_map[n], float(gt_iuv[n, 1, i, j]), float(gt_iuv[n, 2, i, j]))
                px, py = s * (float(point[0]) + tx), s * (float(point[1]) + ty)
                x, y = (2 * j + 1) / w - 1, (2 * i + 1) / h - 1
                total += (px - x) ** 2 + (py - y) ** 2
                count += 2
    return total / max(count, 1)


def consistent_example(h=8, r=16, camera=(0.8, 0.1, -0.2)):
    """A location map that is linear in (u, v) and an IUV image that maps pixels to matching UVs."""
    s, tx, ty = camera
    grid = torch.linspace(0, 1, r)
    vv, uu = torch.meshgrid(grid, grid, indexing="ij")
    # X(u, v) projects to x = 2u - 1, y = 2v - 1.
    location_map = torch.stack([(2 * uu - 1) / s - tx, (2 * vv - 1) / s - ty, torch.ones(r, r)])[None]
    xs = (2 * torch.arange(h) + 1) / h - 1
    yy, xx = torch.meshgrid(xs, xs, indexing="ij")
    mask = (xx.abs() < 0.6).float()
    iuv = torch.stack([mask, (xx + 1) / 2 * mask, (yy + 1) / 2 * mask])[None]
    return location_map, torch.tensor([camera]), iuv


def test_consistent_map_gives_zero():
    location_map, camera, iuv = consistent_example()
    assert consistency_loss(location_map, camera, iuv) < 1e-10


def test_shifted_map_gives_the_closed_form():
    location_map, camera, iuv = consistent_example()
    delta = 0.05
    shifted = location_map + torch.tensor([delta, 0.0, 0.0]).view(1, 3, 1, 1)
    # every foreground pixel is off by s * delta in x and 0 in y: mean over 2 coords.
    expected = (0.8 * delta) ** 2 / 2
    assert_close(consistency_loss(shifted, camera, iuv), torch.tensor(expected), atol=1e-7)


def test_matches_a_naive_loop():
    g = torch.Generator().manual_seed(0)
    location_map = torch.randn(2, 3, 6, 6, generator=g)
    camera = torch.tensor([[0.9, 0.1, 0.0], [1.2, -0.1, 0.2]])
    mask = (torch.rand(2, 1, 5, 5, generator=g) > 0.4).float()
    iuv = torch.cat([mask, torch.rand(2, 2, 5, 5, generator=g) * mask], dim=1)
    expected = naive_consistency(location_map, camera, iuv)
    assert_close(consistency_loss(location_map, camera, iuv), torch.tensor(expected), atol=1e-5)


def test_sampler_reads_uv_map_pixels_exactly():
    location_map = torch.randn(1, 3, 5, 5)
    uv = torch.tensor([1 / 4, 3 / 4]).view(1, 2, 1, 1)  # column 1, row 3
    assert_close(sample_location_map(location_map, uv)[0, :, 0, 0], location_map[0, :, 3, 1], atol=1e-6)


def test_gradients_and_edge_cases():
    location_map, camera, iuv = consistent_example()
    location_map = (location_map + 0.1).requires_grad_(True)
    camera = camera.clone().requires_grad_(True)
    consistency_loss(location_map, camera, iuv).backward()
    assert location_map.grad.abs().sum() > 0 and camera.grad.abs().sum() > 0
    empty = iuv * 0
    assert consistency_loss(location_map, camera, empty) == 0
    assert consistency_loss(location_map, camera, iuv, valid=torch.tensor([False])) == 0


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="camera"):
        consistency_loss(torch.zeros(1, 3, 4, 4), torch.zeros(2, 3), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="gt_iuv"):
        consistency_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3), torch.zeros(1, 2, 4, 4))


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(3)
    location_map = torch.randn(1, 3, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    camera = torch.tensor([[0.9, 0.1, -0.1]], dtype=torch.float64, requires_grad=True)
    mask = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    iuv = torch.cat([mask, 0.1 + 0.8 * torch.rand(1, 2, 3, 3, generator=g, dtype=torch.float64)], dim=1)
    assert torch.autograd.gradcheck(lambda m, c: consistency_loss(m, c, iuv), (location_map, camera))
