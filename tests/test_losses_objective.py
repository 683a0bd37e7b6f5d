"""Tests for decomr.losses.objective (Eq. 1, Eq. 9): weights, composition, stage 1, edge cases."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from decomr.losses import (
    LossConfig,
    LossTargets,
    compute_losses,
    consistency_loss,
    joints2d_loss,
    joints3d_loss,
    location_map_loss,
    mask_loss,
    split_iuv,
    total_variation,
    uv_loss,
)
from decomr.render.cameras import weak_perspective_project
from tests.helpers import assert_close


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same random state (no flaky tolerances)."""
    torch.manual_seed(0)


def fake_batch(seed=0, b=2, h=8, r=16, j=24):
    g = torch.Generator().manual_seed(seed)
    output = SimpleNamespace(
        mask_logits=torch.randn(b, 1, h, h, generator=g),
        uv=torch.rand(b, 2, h, h, generator=g),
        camera=torch.tensor([[0.9, 0.0, 0.1]]).expand(b, 3),
        location_map=0.3 * torch.randn(b, 3, r, r, generator=g),
        joints=0.3 * torch.randn(b, j, 3, generator=g),
    )
    mask = (torch.rand(b, 1, h, h, generator=g) > 0.5).float()
    targets = LossTargets(
        iuv=torch.cat([mask, torch.rand(b, 2, h, h, generator=g) * mask], dim=1),
        location_map=0.3 * torch.randn(b, 3, r, r, generator=g),
        joints3d=0.3 * torch.randn(b, j, 3, generator=g),
        keypoints2d=torch.cat([torch.rand(b, j, 2, generator=g), (torch.rand(b, j, 1, generator=g) > 0.3).float()], 2),
    )
    return output, targets, torch.rand(r, r, generator=g) * 2


def test_defaults_are_the_papers_weights():
    cfg = LossConfig()
    assert (cfg.mask, cfg.uv, cfg.location_map, cfg.joints3d, cfg.joints2d, cfg.consistency, cfg.tv) == (
        0.2, 1.0, 1.0, 1.0, 1.0, 1.0, 1e-4)
    assert LossConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        LossConfig.from_dict({"lambda": 1.0})
    with pytest.raises(ValueError, match="LossConfig"):
        LossConfig(mask=-1.0)


def test_total_is_the_weighted_sum_of_the_pure_functions():
    output, targets, weight_map = fake_batch()
    cfg = LossConfig(mask=0.3, uv=0.7, location_map=1.5, joints3d=2.0, joints2d=0.5, consistency=0.25, tv=0.01)
    terms = compute_losses(output, targets, weight_map, cfg)
    gt_mask, gt_uv = split_iuv(targets.iuv)
    expected = {
        "mask": 0.3 * mask_loss(output.mask_logits, gt_mask),
        "uv": 0.7 * uv_loss(output.uv, gt_uv, gt_mask),
        "location_map": 1.5 * location_map_loss(output.location_map, targets.location_map, weight_map),
        "joints3d": 2.0 * joints3d_loss(output.joints, targets.joints3d),
        "joints2d": 0.5 * joints2d_loss(weak_perspective_project(output.joints, output.camera), targets.keypoints2d),
        "consistency": 0.25 * consistency_loss(output.location_map, output.camera, targets.iuv),
        "tv": 0.01 * total_variation(output.location_map),
    }
    for name, value in expected.items():
        assert_close(getattr(terms, name), value, atol=1e-7, msg=name)
    assert_close(terms.iuv, expected["mask"] + expected["uv"], atol=1e-7)
    assert_close(terms.loc, expected["location_map"] + expected["joints3d"] + expected["joints2d"], atol=1e-7)
    assert_close(terms.total, sum(expected.values()), atol=1e-6)
    logged = terms.as_dict()
    assert set(logged) >= {"total", "iuv", "loc", "consistency"} and isinstance(logged["total"], float)


def test_stage_one_only_has_the_iuv_terms():
    output, targets, weight_map = fake_batch()
    output.location_map = None
    output.joints = None
    terms = compute_losses(output, targets, None)
    assert terms.iuv > 0 and terms.loc == 0 and terms.consistency == 0 and terms.tv == 0
    assert_close(terms.total, terms.iuv, atol=0)


def test_missing_targets_and_masks_never_give_nan():
    output, targets, weight_map = fake_batch()
    b = output.mask_logits.shape[0]
    no = torch.zeros(b, dtype=torch.bool)
    empty_iuv = torch.zeros_like(targets.iuv)
    invisible = targets.keypoints2d.clone()
    invisible[..., 2] = 0
    targets = LossTargets(iuv=empty_iuv, location_map=targets.location_map, joints3d=targets.joints3d,
                          keypoints2d=invisible, has_mesh=no, has_3d=no)
    terms = compute_losses(output, targets, weight_map)
    for name, value in terms.as_dict().items():
        assert value == value, name  # not NaN
    assert terms.uv == 0 and terms.location_map == 0 and terms.joints3d == 0
    assert terms.joints2d == 0 and terms.consistency == 0
    assert terms.mask > 0  # an empty ground-truth mask is still a valid target


def test_zero_weights_and_missing_weight_map():
    output, targets, weight_map = fake_batch()
    terms = compute_losses(output, targets, None, LossConfig(location_map=0.0))
    assert terms.location_map == 0
    with pytest.raises(ValueError, match="weight_map"):
        compute_losses(output, targets, None)


def test_targets_from_a_data_batch():
    class Rasteriser:
        def mesh_to_map(self, values):  # (B, V, 3) -> (B, 3, 2, 2): a recognisable stand-in
            return values.mean(dim=1)[:, :, None, None].expand(-1, -1, 2, 2)

    b = 2
    batch = {
        "iuv": torch.rand(b, 3, 8, 8), "keypoints": torch.rand(b, 24, 3), "joints3d": torch.rand(b, 24, 3),
        "vertices": torch.rand(b, 10, 3), "has_3d": torch.tensor([True, False]),
        "has_mesh": torch.ones(b, dtype=torch.bool), "image": torch.rand(b, 3, 32, 32),
    }
    targets = LossTargets.from_batch(batch, Rasteriser())
    assert targets.iuv is batch["iuv"] and targets.keypoints2d is batch["keypoints"]
    assert targets.joints3d is batch["joints3d"] and targets.has_3d is batch["has_3d"] and targets.has_iuv is None
    assert_close(targets.location_map[:, :, 1, 0], batch["vertices"].mean(1), atol=1e-7)
    assert LossTargets.from_batch(batch).location_map is None
