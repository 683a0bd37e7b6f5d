"""Tests for decomr.models.transfer (Eq. 5): against a naive per-pixel loop, gradients, bad input."""
from __future__ import annotations

import pytest
import torch

from decomr.models.config import ModelConfig
from decomr.models.transfer import pixel_centers, transfer_for_config, transfer_to_uv, uv_cell_index
from tests.helpers import assert_close


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (no flaky tolerances)."""
    torch.manual_seed(0)


def naive_transfer(features, uv, mask, grid, threshold=0.5):
    """Reference: loop over every pixel, accumulate into a dict of cells, average."""
    b, c, h, w = features.shape
    out = torch.zeros(b, c + 3, grid, grid, dtype=features.dtype)
    for n in range(b):
        sums, counts = {}, {}
        for i in range(h):
            for j in range(w):
                if float(mask[n, 0, i, j]) <= threshold:
                    continue
                u = min(max(float(uv[n, 0, i, j]), 0.0), 1.0)
                v = min(max(float(uv[n, 1, i, j]), 0.0), 1.0)
                col, row = round(u * (grid - 1)), round(v * (grid - 1))
                x = (2 * j + 1) / w - 1
                y = (2 * i + 1) / h - 1
                vec = torch.cat([features[n, :, i, j], torch.tensor([x, y], dtype=features.dtype)])
                sums[(row, col)] = sums.get((row, col), 0) + vec
                counts[(row, col)] = counts.get((row, col), 0) + 1
        for (row, col), total in sums.items():
            out[n, : c + 2, row, col] = total / counts[(row, col)]
            out[n, c + 2, row, col] = 1.0
    return out


def random_inputs(b=2, c=5, h=6, w=7, grid=4, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(b, c, h, w, generator=g, dtype=dtype)
    # Snap UV to cell centres +- a small offset so that round() never sits on a tie.
    cells = torch.randint(0, grid, (b, 2, h, w), generator=g).to(dtype)
    uv = (cells + 0.3 * (torch.rand(b, 2, h, w, generator=g, dtype=dtype) - 0.5)) / (grid - 1)
    mask = torch.rand(b, 1, h, w, generator=g, dtype=dtype)
    return features, uv, mask


def test_pixel_centers_follow_the_contract():
    xy = pixel_centers(2, 4)
    assert xy.shape == (2, 2, 4)
    assert_close(xy[0, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    assert_close(xy[1, :, 0], torch.tensor([-0.5, 0.5]))


def test_cell_index_rounds_with_align_corners_true():
    uv = torch.tensor([0.0, 0.49 / 3, 0.51 / 3, 1.0, 1.7, -0.2]).view(1, 6, 1).expand(2, 6, 1)
    idx = uv_cell_index(uv.reshape(1, 2, 6, 1), grid=4)  # u row and v row are the same values
    cols = torch.tensor([0, 0, 1, 3, 3, 0])
    assert torch.equal(idx[0, :, 0], cols * 4 + cols)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_naive_loop(seed):
    features, uv, mask = random_inputs(seed=seed)
    out = transfer_to_uv(features, uv, mask, grid=4)
    assert out.shape == (2, 5 + 3, 4, 4) and out.dtype == features.dtype
    assert_close(out, naive_transfer(features, uv, mask, 4), atol=1e-5)


def test_matches_naive_loop_with_many_pixels_per_cell_and_threshold():
    features, uv, mask = random_inputs(b=3, c=3, h=9, w=8, grid=3, seed=5)
    out = transfer_to_uv(features, uv, mask, grid=3, threshold=0.3)
    assert_close(out, naive_transfer(features, uv, mask, 3, threshold=0.3), atol=1e-5)


def test_empty_mask_gives_zero_map_without_nan():
    features, uv, _ = random_inputs()
    out = transfer_to_uv(features, uv, torch.zeros(2, 1, 6, 7), grid=4)
    assert torch.count_nonzero(out) == 0


def test_gradients_flow_to_features_only():
    features, uv, mask = random_inputs(dtype=torch.float64)
    features.requires_grad_(True)
    uv.requires_grad_(True)
    mask.requires_grad_(True)
    out = transfer_to_uv(features, uv, mask, grid=4)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0
    # The cell indices and the foreground test are detached: nothing reaches uv or mask.
    assert uv.grad is None and mask.grad is None
    # Background pixels receive no gradient.
    background = (mask <= 0.5).expand_as(features)
    assert torch.count_nonzero(features.grad[background]) == 0


def test_gradcheck_features():
    features, uv, mask = random_inputs(b=1, c=2, h=3, w=3, grid=3, dtype=torch.float64)
    features.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: transfer_to_uv(f, uv, mask, grid=3), (features,))


def test_raw_pixel_variant_transfers_rgb():
    cfg = ModelConfig.quick(pretrained=None, lnet_input="pixels+global")
    images = torch.rand(2, 3, 224, 224)
    features, uv, mask = random_inputs(b=2, c=cfg.local_channels, h=56, w=56, grid=cfg.uv_grid)
    out = transfer_for_config(cfg, features, images, uv, mask)
    assert out.shape == (2, cfg.transferred_channels, cfg.uv_grid, cfg.uv_grid) == (2, 6, 32, 32)
    pooled = torch.nn.functional.avg_pool2d(images, 4)
    assert_close(out, transfer_to_uv(pooled, uv, mask, grid=cfg.uv_grid), atol=1e-6)
    assert transfer_for_config(cfg.replace(lnet_input="global"), features, images, uv, mask) is None


def test_raw_pixels_at_the_input_resolution_official_option():
    """pixel_transfer="input": every input pixel goes to the UV cell of the IUV image upsampled to
    the input size (the official code's warped image)."""
    cfg = ModelConfig.quick(pretrained=None, lnet_input="pixels+global", pixel_transfer="input")
    g = torch.Generator().manual_seed(0)
    images = torch.rand(1, 3, 32, 32, generator=g)
    uv = torch.zeros(1, 2, 8, 8)
    uv[0, 0] = 0.25
    uv[0, 1] = 0.75  # every pixel lands in one cell
    mask = torch.ones(1, 1, 8, 8)
    out = transfer_for_config(cfg, torch.zeros(1, cfg.local_channels, 8, 8), images, uv, mask)
    cell = uv_cell_index(uv[:, :, :1, :1], cfg.uv_grid)  # (1, 1, 1) flat index of that cell
    flat = out[0, :3].reshape(3, -1)[:, int(cell)]
    assert_close(flat, images[0].mean((1, 2)), atol=1e-5)  # all 1024 input pixels averaged
    assert float(out[0, -1].sum()) == 1.0  # one occupied cell
    # the area option averages 4x4 blocks first: same mean here, but from 64 transferred pixels
    area = transfer_for_config(cfg.replace(pixel_transfer="area"), torch.zeros(1, cfg.local_channels, 8, 8),
                               images, uv, mask)
    assert_close(area[0, :3].reshape(3, -1)[:, int(cell)], flat, atol=1e-5)
    # a u ramp over 8 columns: the area option fills 8 UV columns, the input option (32 upsampled
    # pixel columns) about four times as many
    ramp = torch.zeros(1, 2, 8, 8)
    ramp[0, 0] = torch.linspace(0, 1, 8)[None, :]
    ramp[0, 1] = 0.5
    occupied = {}
    for option in ("area", "input"):
        o = transfer_for_config(cfg.replace(pixel_transfer=option), torch.zeros(1, cfg.local_channels, 8, 8),
                                images, ramp, mask)
        occupied[option] = int(o[0, -1].sum())
    assert occupied["area"] == 8 and occupied["input"] >= 3 * occupied["area"], occupied
    with pytest.raises(ValueError, match="pixel_transfer"):
        ModelConfig.quick(pixel_transfer="nearest")


@pytest.mark.parametrize(
    "shapes",
    [
        ((2, 5, 6, 7), (2, 2, 6, 6), (2, 1, 6, 7)),  # uv size differs
        ((2, 5, 6, 7), (2, 3, 6, 7), (2, 1, 6, 7)),  # uv channels
        ((2, 5, 6, 7), (2, 2, 6, 7), (1, 1, 6, 7)),  # mask batch
        ((5, 6, 7), (2, 6, 7), (1, 6, 7)),  # no batch dim
    ],
)
def test_bad_shapes_raise(shapes):
    f, u, m = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match="expected"):
        transfer_to_uv(f, u, m, grid=4)
