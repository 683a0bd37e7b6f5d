"""Tests for decomr.losses.iuv (Eq. 4): hand-computed values, masking, resizing, edge cases."""
from __future__ import annotations

import math

import pytest
import torch

from decomr.losses.iuv import iuv_loss, mask_loss, split_iuv, uv_loss
from tests.helpers import assert_close


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (no flaky tolerances)."""
    torch.manual_seed(0)


def bce(x, y):
    p = 1 / (1 + math.exp(-x))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_mask_loss_matches_the_bce_formula():
    logits = torch.tensor([[[[0.5, -1.0], [2.0, 0.0]]]])
    gt = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    expected = (bce(0.5, 1) + bce(-1.0, 0) + bce(2.0, 0) + bce(0.0, 1)) / 4
    assert_close(mask_loss(logits, gt), torch.tensor(expected), atol=1e-6)


def test_mask_loss_ignores_invalid_samples():
    logits = torch.randn(3, 1, 4, 4)
    gt = (torch.rand(3, 1, 4, 4) > 0.5).float()
    valid = torch.tensor([True, False, True])
    expected = mask_loss(logits[[0, 2]], gt[[0, 2]])
    assert_close(mask_loss(logits, gt, valid), expected, atol=1e-6)
    assert mask_loss(logits, gt, torch.zeros(3, dtype=torch.bool)) == 0


def test_uv_loss_is_a_foreground_only_mean():
    uv = torch.tensor([[[[0.1, 0.9], [0.5, 0.5]], [[0.2, 0.2], [0.0, 1.0]]]])  # (1, 2, 2, 2)
    gt_uv = torch.tensor([[[[0.3, 0.0], [0.5, 0.0]], [[0.2, 0.0], [0.4, 0.0]]]])
    gt_mask = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])  # left column only
    # foreground errors: pixel (0,0): |0.1-0.3| + |0.2-0.2|; pixel (1,0): |0.5-0.5| + |0.0-0.4|
    expected = (0.2 + 0.0 + 0.0 + 0.4) / 4
    assert_close(uv_loss(uv, gt_uv, gt_mask), torch.tensor(expected), atol=1e-6)


def test_no_foreground_gives_zero_without_nan():
    uv = torch.rand(2, 2, 4, 4, requires_grad=True)
    loss = uv_loss(uv, torch.rand(2, 2, 4, 4), torch.zeros(2, 1, 4, 4))
    loss.backward()
    assert loss == 0 and torch.isfinite(uv.grad).all() and uv.grad.abs().sum() == 0


def test_prediction_is_resized_to_the_ground_truth():
    uv = torch.rand(1, 2, 3, 3)
    gt = torch.rand(1, 2, 6, 6)
    mask = torch.ones(1, 1, 6, 6)
    upsampled = uv.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # nearest x2
    assert_close(uv_loss(uv, gt, mask), (upsampled - gt).abs().mean(), atol=1e-6)
    logits = torch.randn(1, 1, 3, 3)
    assert mask_loss(logits, torch.ones(1, 1, 6, 6)).shape == ()


def test_iuv_loss_combines_with_the_paper_weights():
    logits, uv = torch.randn(2, 1, 4, 4), torch.rand(2, 2, 4, 4)
    gt_iuv = torch.cat([(torch.rand(2, 1, 4, 4) > 0.4).float(), torch.rand(2, 2, 4, 4)], dim=1)
    gt_mask, gt_uv = split_iuv(gt_iuv)
    expected = 0.2 * mask_loss(logits, gt_mask) + 1.0 * uv_loss(uv, gt_uv, gt_mask)
    assert_close(iuv_loss(logits, uv, gt_iuv), expected, atol=1e-7)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="mask_logits"):
        mask_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="gt_uv"):
        uv_loss(torch.zeros(1, 2, 4, 4), torch.zeros(2, 2, 4, 4), torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="gt_iuv"):
        split_iuv(torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="per-sample"):
        mask_loss(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4), torch.ones(3))


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    uv = torch.rand(2, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    gt_iuv = torch.cat([(torch.rand(2, 1, 3, 3, generator=g) > 0.5).double(),
                        torch.rand(2, 2, 3, 3, generator=g, dtype=torch.float64)], dim=1)
    assert torch.autograd.gradcheck(lambda lg, u: iuv_loss(lg, u, gt_iuv), (logits, uv))
