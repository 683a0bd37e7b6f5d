"""Tests for decomr.losses.location (Eq. 6 and the TV regulariser)."""
from __future__ import annotations

import pytest
import torch

from decomr.losses.location import location_map_loss, total_variation
from tests.helpers import assert_close


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (no flaky tolerances)."""
    torch.manual_seed(0)


def test_weighted_l1_by_hand():
    pred = torch.zeros(1, 3, 2, 2)
    gt = torch.zeros(1, 3, 2, 2)
    gt[0, 0, 0, 0] = 1.0  # error 1 at a pixel of weight 2
    gt[0, 2, 1, 1] = -0.5  # error 0.5 at a pixel of weight 0 (outside the UV mask)
    weights = torch.tensor([[2.0, 1.0], [1.0, 0.0]])
    assert_close(location_map_loss(pred, gt, weights), torch.tensor(2.0 / 12), atol=1e-7)


def test_valid_mask_and_no_valid_sample():
    pred, gt = torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)
    w = torch.rand(4, 4)
    valid = torch.tensor([False, True, False])
    assert_close(location_map_loss(pred, gt, w, valid), location_map_loss(pred[1:2], gt[1:2], w), atol=1e-6)
    pred.requires_grad_(True)
    loss = location_map_loss(pred, gt, w, torch.zeros(3, dtype=torch.bool))
    loss.backward()
    assert loss == 0 and torch.isfinite(pred.grad).all()


def test_tv_of_a_linear_ramp_is_closed_form():
    r = 8
    a, b = 0.3, -0.7
    jj, ii = torch.meshgrid(torch.arange(r, dtype=torch.float64), torch.arange(r, dtype=torch.float64), indexing="xy")
    ramp = (a * jj + b * ii).expand(2, 3, r, r)
    # per channel: |a| r (r-1) + |b| (r-1) r, divided by (r-1)^2; 3 channels; batch mean.
    expected = 3 * (abs(a) + abs(b)) * r / (r - 1)
    assert_close(total_variation(ramp), torch.tensor(expected, dtype=torch.float64), atol=1e-10)
    assert total_variation(torch.ones(2, 3, r, r)) == 0


def test_tv_is_independent_of_batch_size():
    x = torch.randn(1, 3, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert_close(total_variation(x.expand(5, 3, 6, 6)), total_variation(x), atol=1e-12)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="weight_map"):
        location_map_loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.ones(8, 8))
    with pytest.raises(ValueError, match="gt_location_map"):
        location_map_loss(torch.zeros(1, 3, 4, 4), torch.zeros(2, 3, 4, 4), torch.ones(4, 4))
    with pytest.raises(ValueError, match="location_map"):
        location_map_loss(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), torch.ones(4, 4))
