"""Tests for decomr.losses.joints (Eq. 7 and Eq. 8)."""
from __future__ import annotations

import pytest
import torch

from decomr.losses.joints import center_joints, joints2d_loss, joints3d_loss
from tests.helpers import assert_close


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (no flaky tolerances)."""
    torch.manual_seed(0)


def test_joints3d_by_hand_after_root_centring():
    pred = torch.tensor([[[1.0, 1.0, 1.0], [2.0, 1.0, 1.0]]])  # root-centred: [0,0,0], [1,0,0]
    gt = torch.tensor([[[5.0, 5.0, 5.0], [5.0, 7.0, 5.0]]])  # root-centred: [0,0,0], [0,2,0]
    expected = (0 + 0 + 0 + 1 + 2 + 0) / 6
    assert_close(joints3d_loss(pred, gt), torch.tensor(expected), atol=1e-7)


def test_joints3d_is_translation_invariant_and_root_options():
    pred, gt = torch.randn(2, 14, 3), torch.randn(2, 14, 3)
    shift = torch.randn(2, 1, 3)
    assert_close(joints3d_loss(pred + shift, gt), joints3d_loss(pred, gt), atol=1e-6)
    hips = (2, 3)
    centred = center_joints(pred, hips)
    assert_close(centred[:, [2, 3]].mean(1), torch.zeros(2, 3), atol=1e-6)
    assert_close(joints3d_loss(pred, gt, root=None), (pred - gt).abs().mean(), atol=1e-6)


def test_joints3d_masks_and_confidence():
    pred, gt = torch.randn(3, 5, 3), torch.randn(3, 5, 3)
    has_3d = torch.tensor([True, False, True])
    assert_close(joints3d_loss(pred, gt, has_3d), joints3d_loss(pred[[0, 2]], gt[[0, 2]]), atol=1e-6)
    pred.requires_grad_(True)
    loss = joints3d_loss(pred, gt, torch.zeros(3, dtype=torch.bool))
    loss.backward()
    assert loss == 0 and torch.isfinite(pred.grad).all()
    conf = torch.ones(3, 5, 1)
    conf[:, 4] = 0.0
    with_conf = joints3d_loss(pred, torch.cat([gt, conf], dim=2), root=None)
    assert_close(with_conf, (pred[:, :4] - gt[:, :4]).abs().mean(), atol=1e-6)


def test_joints2d_by_hand_with_visibility():
    pred = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]])
    gt = torch.tensor([[[0.5, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]])  # last joint invisible
    expected = (0.25 + 0.0 + 0.0 + 1.0) / 4
    assert_close(joints2d_loss(pred, gt), torch.tensor(expected), atol=1e-7)
    assert_close(joints2d_loss(pred, gt[..., :2], visibility=gt[..., 2]), torch.tensor(expected), atol=1e-7)


def test_joints2d_no_visible_joint_is_zero():
    pred = torch.randn(2, 4, 2, requires_grad=True)
    gt = torch.cat([torch.randn(2, 4, 2), torch.zeros(2, 4, 1)], dim=2)
    loss = joints2d_loss(pred, gt)
    loss.backward()
    assert loss == 0 and torch.isfinite(pred.grad).all()


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="gt_joints"):
        joints3d_loss(torch.zeros(1, 24, 3), torch.zeros(1, 14, 3))
    with pytest.raises(ValueError, match="joints_2d"):
        joints2d_loss(torch.zeros(1, 24, 3), torch.zeros(1, 24, 3))
    with pytest.raises(ValueError, match="gt_keypoints"):
        joints2d_loss(torch.zeros(1, 24, 2), torch.zeros(1, 24, 4))
