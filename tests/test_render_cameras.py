"""Tests for decomr.render.cameras: closed forms, OpenCV intrinsics, pixel conventions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from decomr.render import (
    PerspectiveCamera,
    focal_pixels_to_normalized,
    intrinsics_to_normalized,
    normalized_to_pixel,
    perspective_project,
    perspective_vertices,
    pixel_to_normalized,
    rasterize,
    uv_to_normalized,
    weak_perspective_project,
    weak_perspective_to_translation,
    weak_perspective_vertices,
)
from tests.helpers import assert_close


def test_weak_perspective_closed_form():
    gen = torch.Generator().manual_seed(0)
    points = torch.randn(3, 7, 3, generator=gen)
    camera = torch.rand(3, 3, generator=gen) + 0.5
    out = weak_perspective_project(points, camera)
    assert out.shape == (3, 7, 2)
    p, c = points.numpy(), camera.numpy()
    expected = c[:, None, :1] * (p[..., :2] + c[:, None, 1:])
    assert_close(out, expected, atol=1e-6)
    verts = weak_perspective_vertices(points, camera)
    assert_close(verts[..., :2], out, atol=0)
    assert_close(verts[..., 2], points[..., 2], atol=0)


def test_perspective_matches_opencv_intrinsics():
    gen = torch.Generator().manual_seed(1)
    height, width = 48, 64
    points = torch.randn(2, 9, 3, generator=gen, dtype=torch.float64) * 0.3
    points[..., 2] += 3.0
    K = torch.tensor([[[500.0, 0.0, 31.0], [0.0, 480.0, 25.5], [0.0, 0.0, 1.0]],
                      [[300.0, 0.0, 30.0], [0.0, 300.0, 20.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    # OpenCV: homogeneous K @ X, pixel centres at integers.
    uvw = torch.einsum("bij,bnj->bni", K, points)  # (B, N, 3)
    uv = uvw[..., :2] / uvw[..., 2:]
    expected = pixel_to_normalized(uv, (height, width))
    focal, principal = intrinsics_to_normalized(K, (height, width))
    assert_close(perspective_project(points, focal, principal), expected, atol=1e-12)
    assert_close(PerspectiveCamera(focal, principal).project(points), expected, atol=1e-12)
    verts = perspective_vertices(points, focal, principal)
    assert_close(verts[..., 2], points[..., 2], atol=0)
    # (B,) focal = same focal on both axes; principal None = image centre.
    same = perspective_project(points, focal[:, :1].expand(-1, 2))
    assert_close(perspective_project(points, focal[:, 0]), same, atol=0)
    centred = focal[:, None] * points[..., :2] / points[..., 2:]
    assert_close(perspective_project(points, focal, None), centred, atol=1e-12)


def test_pixel_normalised_round_trip_and_grid_sample_convention():
    height, width = 5, 7
    image = torch.arange(height * width, dtype=torch.float64).view(1, 1, height, width)
    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    uv = torch.stack([cols, rows], dim=-1).double()  # (H, W, 2) pixel centres
    xy = pixel_to_normalized(uv, (height, width))
    assert_close(xy[0, 0], [1 / width - 1, 1 / height - 1], atol=1e-12)
    sampled = torch.nn.functional.grid_sample(image, xy[None], align_corners=False)
    assert_close(sampled, image, atol=1e-12)
    assert_close(normalized_to_pixel(xy, (height, width)), uv, atol=1e-12)
    assert_close(focal_pixels_to_normalized(torch.tensor([7.0]), (height, width)), [[2.0, 2.8]], atol=1e-6)


def test_uv_to_normalized_puts_uv_pixel_centres_on_raster_pixel_centres():
    res = 6
    grid = torch.arange(res, dtype=torch.float64) / (res - 1)  # align_corners=True centres
    uv = torch.stack(torch.meshgrid(grid, grid, indexing="xy"), dim=-1)  # (R, R, 2), [..., 0] = u
    xy = uv_to_normalized(uv, res)
    centres = (2 * torch.arange(res, dtype=torch.float64) + 1) / res - 1
    assert_close(xy[..., 0], centres.expand(res, res), atol=1e-12)
    assert_close(xy[..., 1], centres[:, None].expand(res, res), atol=1e-12)
    with pytest.raises(ValueError, match="resolution"):
        uv_to_normalized(uv, 1)


def test_projected_point_lands_in_the_expected_pixel():
    # A tiny triangle around a projected point is drawn at normalized_to_pixel of that point.
    height, width = 30, 40
    point = torch.tensor([[[0.12, -0.07, 2.0]]])
    camera = torch.tensor([[2.5, 0.1, 0.05]])
    xy = weak_perspective_project(point, camera)[0, 0]
    col, row = normalized_to_pixel(xy, (height, width)).round().long().tolist()
    centre = pixel_to_normalized(torch.tensor([float(col), float(row)]), (height, width))
    d = 0.2 / width
    tri = torch.stack([centre + torch.tensor([-d, -d]), centre + torch.tensor([d, -d]), centre + torch.tensor([0, d])])
    frags = rasterize(torch.cat([tri, torch.ones(3, 1)], 1)[None], torch.tensor([[0, 1, 2]]), (height, width))
    assert frags.mask.sum() == 1 and bool(frags.mask[0, row, col])


def test_weak_perspective_approximates_pinhole_for_distant_bodies():
    gen = torch.Generator().manual_seed(2)
    extent = torch.tensor([0.3, 0.8, 0.1], dtype=torch.float64)
    points = torch.randn(2, 50, 3, generator=gen, dtype=torch.float64) * extent
    camera = torch.tensor([[0.9, 0.05, -0.1], [1.2, 0.0, 0.2]], dtype=torch.float64)
    focal = torch.tensor([20.0, 30.0], dtype=torch.float64)  # long lens: body thin vs distance
    t = weak_perspective_to_translation(camera, focal)
    assert_close(t[:, 2], focal / camera[:, 0], atol=1e-12)
    weak = weak_perspective_project(points, camera)
    pinhole = perspective_project(points + t[:, None], focal)
    # Exactly: pinhole = weak / (1 + Z / tz), so they agree to first order in Z / tz.
    assert_close(pinhole, weak / (1 + points[..., 2:] / t[:, None, 2:]), atol=1e-12)
    assert (weak - pinhole).abs().max() < 0.02
    assert_close(weak_perspective_to_translation(camera, 20.0)[0], t[0], atol=1e-12)


def test_projections_are_differentiable():
    points = torch.randn(1, 4, 3, dtype=torch.float64) + torch.tensor([0, 0, 3.0], dtype=torch.float64)
    points.requires_grad_(True)
    camera = torch.tensor([[1.1, 0.1, -0.2]], dtype=torch.float64, requires_grad=True)
    focal = torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(weak_perspective_project, (points, camera))
    assert torch.autograd.gradcheck(lambda p, f: perspective_project(p, f), (points, focal))


def test_bad_inputs_raise_value_errors():
    points = torch.rand(2, 4, 3)
    with pytest.raises(ValueError, match="points"):
        weak_perspective_project(torch.rand(4, 3), torch.rand(2, 3))
    with pytest.raises(ValueError, match="camera"):
        weak_perspective_project(points, torch.rand(2, 2))
    with pytest.raises(ValueError, match="camera"):
        weak_perspective_vertices(points, torch.rand(3, 3))
    with pytest.raises(ValueError, match="focal"):
        perspective_project(points, torch.rand(3))
    with pytest.raises(ValueError, match="focal"):
        perspective_project(points, torch.rand(2, 3))
    with pytest.raises(ValueError, match="principal"):
        perspective_project(points, torch.rand(2), torch.rand(2, 3))
    with pytest.raises(ValueError, match="uv"):
        pixel_to_normalized(torch.rand(4, 3), (4, 4))
    with pytest.raises(ValueError, match="image_size"):
        normalized_to_pixel(torch.rand(4, 2), (0, 4))
    with pytest.raises(ValueError, match="K"):
        intrinsics_to_normalized(torch.rand(3, 3), (4, 4))
    with pytest.raises(ValueError, match="focal"):
        weak_perspective_to_translation(torch.rand(2, 3), torch.rand(3))
    with pytest.raises(ValueError, match="focal_px"):
        focal_pixels_to_normalized(torch.rand(2, 3), 4)
    assert np.isfinite(weak_perspective_project(points, torch.rand(2, 3)).numpy()).all()
