"""Tests for decomr.data.crop: boxes -> (center, scale), the crop affine, image/point crops."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from decomr.data.crop import (
    bbox_to_center_scale,
    crop_image,
    crop_labels,
    crop_transform,
    invert_affine,
    mask_to_center_scale,
    normalized_to_pixels,
    pixels_to_normalized,
    points_to_center_scale,
    transform_points,
    uncrop_image,
    uncrop_points,
)
from tests.helpers import assert_close


# ---- independent references -------------------------------------------------------------------
def official_get_transform(center, scale, res, rot=0.0):
    """CMR/SPIN/DecoMR ``utils/imutils.get_transform`` (numpy, 3x3), re-typed from the original.

    It maps image pixels to crop pixels in a convention where the crop's pixel *edges* are at
    integers, hence exactly 0.5 px more than decomr's pixel-centre convention.
    """
    h = 200 * scale
    t = np.zeros((3, 3))
    t[0, 0] = float(res) / h
    t[1, 1] = float(res) / h
    t[0, 2] = res * (-float(center[0]) / h + 0.5)
    t[1, 2] = res * (-float(center[1]) / h + 0.5)
    t[2, 2] = 1
    if rot != 0:
        rot = -rot
        rot_mat = np.zeros((3, 3))
        rot_rad = rot * np.pi / 180
        sn, cs = np.sin(rot_rad), np.cos(rot_rad)
        rot_mat[0, :2] = [cs, -sn]
        rot_mat[1, :2] = [sn, cs]
        rot_mat[2, 2] = 1
        t_mat = np.eye(3)
        t_mat[0, 2] = -res / 2
        t_mat[1, 2] = -res / 2
        t_inv = t_mat.copy()
        t_inv[:2, 2] *= -1
        t = t_inv @ rot_mat @ t_mat @ t
    return t


def naive_bilinear_crop(img: np.ndarray, center, scale, res, rot=0.0) -> np.ndarray:
    """Loop over output pixels; invert the official transform; bilinear with zero padding."""
    A = official_get_transform(center, scale, res, rot)
    A[:2, 2] -= 0.5  # decomr's pixel-centre convention
    Ainv = np.linalg.inv(A)
    C, H, W = img.shape
    out = np.zeros((C, res, res))
    for i in range(res):
        for j in range(res):
            x, y, _ = Ainv @ np.array([j, i, 1.0])
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            for dy in (0, 1):
                for dx in (0, 1):
                    xx, yy = x0 + dx, y0 + dy
                    w = (1 - abs(x - xx)) * (1 - abs(y - yy))
                    if 0 <= xx < W and 0 <= yy < H:
                        out[:, i, j] += w * img[:, yy, xx]
    return out


def gaussian_dot(H, W, x, y, sigma=2.0) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))


# ---- center / scale -----------------------------------------------------------------------------
def test_bbox_to_center_scale_values_and_batch():
    cs = bbox_to_center_scale(torch.tensor([10.0, 20.0, 110.0, 260.0]), rescale=1.2)
    assert_close(cs.center, [60.0, 140.0])
    assert_close(cs.scale, 1.2 * 240 / 200)
    center, scale = bbox_to_center_scale(np.array([[0, 0, 50, 20], [5, 5, 15, 45]]), rescale=1.0)
    assert center.shape == (2, 2) and scale.shape == (2,)
    assert_close(scale, [50 / 200, 40 / 200])


@pytest.mark.parametrize("box, match", [
    ([1.0, 2.0, 3.0], "box"),
    ([10.0, 0.0, 5.0, 10.0], "x_max >= x_min"),
    ([5.0, 5.0, 5.0, 5.0], "non-empty"),
    ([0.0, float("nan"), 1.0, 1.0], "NaN"),
])
def test_bbox_to_center_scale_bad_input(box, match):
    with pytest.raises(ValueError, match=match):
        bbox_to_center_scale(box)


def test_bbox_bad_rescale():
    with pytest.raises(ValueError, match="rescale"):
        bbox_to_center_scale([0, 0, 10, 10], rescale=0.0)


def test_mask_to_center_scale():
    mask = np.zeros((60, 80), dtype=bool)
    mask[10:20, 20:40] = True  # rows 10..19, cols 20..39
    cs = mask_to_center_scale(mask, rescale=1.0)
    assert_close(cs.center, [29.5, 14.5])
    assert_close(cs.scale, 20 / 200)
    with pytest.raises(ValueError, match="no foreground"):
        mask_to_center_scale(np.zeros((5, 5)))
    with pytest.raises(ValueError, match="mask"):
        mask_to_center_scale(np.zeros((5, 5, 3)))


def test_points_to_center_scale_uses_visible_points_only():
    pts = torch.tensor([[0.0, 0.0], [10.0, 20.0], [1000.0, 1000.0]])
    cs = points_to_center_scale(pts, rescale=1.0, visible=torch.tensor([1.0, 1.0, 0.0]))
    assert_close(cs.center, [5.0, 10.0])
    assert_close(cs.scale, 0.1)
    with pytest.raises(ValueError, match="visible"):
        points_to_center_scale(pts, visible=torch.zeros(3))


# ---- the affine ---------------------------------------------------------------------------------
@pytest.mark.parametrize("rot", [0.0, 17.0, -90.0, 150.0])
def test_crop_transform_matches_official_get_transform(rot):
    center, scale, res = (123.4, 87.6), 0.83, 224
    ours = crop_transform(torch.tensor(center, dtype=torch.float64), scale, res, rot)
    ref = official_get_transform(center, scale, res, rot)[:2]
    ref[:, 2] -= 0.5  # pixel edges (official) vs pixel centres (decomr)
    assert_close(ours, ref, atol=1e-9)


def test_transform_points_round_trip_batched():
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(3, 10, 2, generator=g, dtype=torch.float64) * 300
    center = torch.rand(3, 2, generator=g, dtype=torch.float64) * 300
    scale = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    rot = torch.tensor([0.0, 30.0, -75.0], dtype=torch.float64)
    flip = torch.tensor([False, True, True])
    crop_pts = transform_points(pts, center, scale, 224, rot, flip)
    assert crop_pts.shape == (3, 10, 2) and crop_pts.dtype == torch.float64
    assert_close(uncrop_points(crop_pts, center, scale, 224, rot, flip), pts, atol=1e-9)
    for b in range(3):  # batched == one at a time
        single = transform_points(pts[b], center[b], scale[b], 224, rot[b], bool(flip[b]))
        assert_close(crop_pts[b], single, atol=1e-9)
    assert_close(invert_affine(invert_affine(crop_transform(center, scale, 224, rot, flip))),
                 crop_transform(center, scale, 224, rot, flip), atol=1e-9)


def test_flip_mirrors_points_and_flip_twice_is_identity():
    pts = torch.tensor([[12.0, 40.0], [80.0, 5.5]], dtype=torch.float64)
    a = transform_points(pts, (50.0, 30.0), 0.4, 64, rot=20.0)
    b = transform_points(pts, (50.0, 30.0), 0.4, 64, rot=20.0, flip=True)
    assert_close(b[:, 0], 63 - a[:, 0], atol=1e-9)
    assert_close(b[:, 1], a[:, 1], atol=1e-9)
    # mirroring the crop of a crop: flip the flipped crop back
    twice = transform_points(b, (31.5, 31.5), 64 / 200, 64, flip=True)
    assert_close(twice, a, atol=1e-9)


def test_pixels_normalized_convention_and_round_trip():
    px = torch.tensor([[0.0, 0.0], [223.0, 223.0], [111.5, 111.5]])
    n = pixels_to_normalized(px, 224)
    assert_close(n, [[-1 + 1 / 224, -1 + 1 / 224], [1 - 1 / 224, 1 - 1 / 224], [0.0, 0.0]], atol=1e-6)
    nonsquare = pixels_to_normalized(torch.tensor([[9.0, 4.0]]), (5, 10))  # (H, W): x uses W
    assert_close(nonsquare, [[0.9, 0.8]], atol=1e-6)
    assert_close(normalized_to_pixels(n, 224), px, atol=1e-5)
    with pytest.raises(ValueError, match="points"):
        pixels_to_normalized(torch.zeros(3, 3), 224)
    with pytest.raises(ValueError, match="res"):
        pixels_to_normalized(torch.zeros(3, 2), 0)


# ---- images -------------------------------------------------------------------------------------
@pytest.mark.parametrize("rot, flip, scale", [(0.0, False, 0.4), (30.0, False, 0.3), (-45.0, True, 0.5),
                                              (0.0, True, 0.25), (120.0, True, 0.35)])
def test_dot_lands_on_the_transformed_point(rot, flip, scale):
    """Draw a dot at a pixel, crop, find the dot: it is where transform_points says."""
    H, W, res = 100, 120, 48
    x, y = 51.0, 37.0
    img = (255 * gaussian_dot(H, W, x, y))[..., None].repeat(3, -1).astype(np.uint8)
    crop = crop_image(img, (60.0, 50.0), scale, res, rot, flip)[0].double()  # (res, res)
    rows, cols = torch.meshgrid(torch.arange(res, dtype=torch.float64),
                                torch.arange(res, dtype=torch.float64), indexing="ij")
    found = torch.stack([(crop * cols).sum(), (crop * rows).sum()]) / crop.sum()
    expected = transform_points(torch.tensor([[x, y]]), (60.0, 50.0), scale, res, rot, flip)[0]
    assert_close(found, expected, atol=0.1)
    assert (found - expected).abs().max() < 0.1


@pytest.mark.parametrize("rot", [0.0, 33.0])
def test_crop_image_matches_naive_bilinear_loop(rot):
    g = np.random.default_rng(0)
    img = g.random((3, 20, 24))
    center, scale, res = (11.3, 9.7), 0.09, 12
    ours = crop_image(torch.from_numpy(img), center, scale, res, rot)
    ref = naive_bilinear_crop(img, center, scale, res, rot)
    assert ours.shape == (3, res, res) and ours.dtype == torch.float32
    assert_close(ours, ref, atol=1e-5)


def test_crop_image_layouts_and_batch():
    g = np.random.default_rng(1)
    hwc = g.integers(0, 256, size=(30, 40, 3)).astype(np.uint8)
    from_numpy = crop_image(hwc, (20.0, 15.0), 0.2, 16)
    from_torch_hwc = crop_image(torch.from_numpy(hwc), (20.0, 15.0), 0.2, 16)
    chw = torch.from_numpy(hwc).permute(2, 0, 1).float() / 255
    from_chw = crop_image(chw, (20.0, 15.0), 0.2, 16)
    assert from_numpy.shape == (3, 16, 16) and 0 <= from_numpy.min() and from_numpy.max() <= 1
    assert_close(from_torch_hwc, from_numpy)
    assert_close(from_chw, from_numpy, atol=1e-6)
    batch = torch.stack([chw, chw.flip(-1)])
    centers = torch.tensor([[20.0, 15.0], [10.0, 12.0]])
    out = crop_image(batch, centers, torch.tensor([0.2, 0.1]), 16, torch.tensor([0.0, 45.0]), torch.tensor([False, True]))
    assert out.shape == (2, 3, 16, 16)
    assert_close(out[1], crop_image(chw.flip(-1), centers[1], 0.1, 16, 45.0, True), atol=1e-6)


def test_flipped_crop_is_mirrored_crop():
    img = torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(2))
    a = crop_image(img, (22.0, 18.0), 0.2, 24, rot=10.0)
    b = crop_image(img, (22.0, 18.0), 0.2, 24, rot=10.0, flip=True)
    assert_close(b, a.flip(-1), atol=1e-6)
    assert_close(b.flip(-1).flip(-1), b)


def test_outside_is_black():
    img = torch.ones(3, 10, 10)
    out = crop_image(img, (5.0, 5.0), 0.5, 20)  # a 100-px crop of a 10-px image
    assert out[:, 0, 0].abs().max() == 0 and out[:, 10, 10].min() == 1


def test_crop_labels_and_uncrop_image_exact_at_unit_scale():
    g = torch.Generator().manual_seed(3)
    labels = torch.randint(0, 7, (40, 50), generator=g)
    res = 20
    # 1 crop pixel = 1 image pixel and crop pixel centres on image pixel centres
    center, scale = (24.5, 19.5), res / 200
    for rot in (0.0, 90.0):
        crop = crop_labels(labels, center, scale, res, rot)
        assert crop.dtype == torch.int64 and crop.shape == (res, res)
        back = uncrop_image(crop[None], center, scale, (40, 50), rot)[0]
        assert back.dtype == torch.int64 and back.shape == (40, 50)
        inside = torch.zeros(40, 50, dtype=torch.bool)
        inside[10:30, 15:35] = True
        assert torch.equal(back[inside], labels[inside])
        assert (back[~inside] == 0).all()
    assert torch.equal(crop_labels(labels, center, scale, res), labels[10:30, 15:35])


def test_uncrop_image_inverts_a_smooth_crop():
    H, W = 60, 80
    img = torch.from_numpy(gaussian_dot(H, W, 40.0, 30.0, sigma=6.0)).float()[None]
    center, scale, rot = (42.0, 28.0), 0.2, 25.0
    crop = crop_image(img, center, scale, 64, rot, flip=True)
    back = uncrop_image(crop, center, scale, (H, W), rot, flip=True, mode="bilinear")
    assert_close(back[:, 20:40, 30:50], img[:, 20:40, 30:50], atol=0.02)


@pytest.mark.parametrize("kwargs, match", [
    (dict(center=(1.0, 2.0, 3.0)), "center"),
    (dict(scale=0.0), "scale"),
    (dict(scale=-1.0), "scale"),
    (dict(center=torch.zeros(2, 2), scale=torch.ones(3)), "batch sizes"),
    (dict(rot=float("inf")), "rot"),
])
def test_crop_transform_bad_input(kwargs, match):
    args = dict(center=(10.0, 10.0), scale=1.0, res=32)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        crop_transform(**args)


def test_crop_image_bad_input():
    with pytest.raises(ValueError, match="img"):
        crop_image(torch.zeros(5), (1.0, 1.0), 1.0, 8)
    with pytest.raises(ValueError, match="mode"):
        crop_image(torch.zeros(3, 8, 8), (1.0, 1.0), 1.0, 8, mode="area")
    with pytest.raises(ValueError, match="batch size"):
        crop_image(torch.zeros(2, 3, 8, 8), torch.zeros(3, 2), 1.0, 8)
    with pytest.raises(ValueError, match="labels"):
        crop_labels(torch.zeros(8, 8), (1.0, 1.0), 1.0, 8)
    with pytest.raises(ValueError, match="points"):
        transform_points(torch.zeros(4, 3), (1.0, 1.0), 1.0, 8)


def test_device(device):
    img = torch.rand(2, 3, 30, 40, generator=torch.Generator().manual_seed(4))
    center = torch.tensor([[20.0, 15.0], [18.0, 12.0]])
    ref = crop_image(img, center, 0.15, 16, rot=20.0, flip=True)
    out = crop_image(img.to(device), center.to(device), torch.tensor(0.15, device=device), 16, 20.0, True)
    assert out.device.type == device.type
    assert_close(out, ref, atol=1e-5)
    pts = torch.rand(2, 5, 2, dtype=torch.float64) * 30
    p = transform_points(pts.to(device), center.to(device), 0.15, 16, 20.0, True)
    assert p.device.type == device.type
    assert_close(p, transform_points(pts, center, 0.15, 16, 20.0, True), atol=1e-9)
    back = uncrop_image(out, center, 0.15, (30, 40), 20.0, True, mode="bilinear")
    assert back.device.type == device.type and back.shape == (2, 3, 30, 40)
