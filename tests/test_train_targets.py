"""Tests for decomr.train.targets: GT location maps, joint sets of synthetic and official batches,
the weak-perspective camera fit."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from decomr.models import DecoMROutput
from decomr.render.cameras import weak_perspective_project
from decomr.train.targets import batch_keypoint_format, fit_weak_perspective, joints_for_loss, make_targets
from decomr.uv import UVSampler, load_atlas
from tests.helpers import assert_close
from tests.train_helpers import one_thread  # noqa: F401 (autouse)


def test_camera_fit_recovers_a_known_camera_and_ignores_invisible_points():
    g = torch.Generator().manual_seed(0)
    points = torch.randn(3, 14, 3, generator=g)
    camera = torch.tensor([[0.9, 0.1, -0.2], [1.3, -0.3, 0.0], [0.5, 0.0, 0.4]])
    kp = weak_perspective_project(points, camera)  # (B, 14, 2)
    kp = torch.cat([kp, torch.ones(3, 14, 1)], dim=-1)
    kp[:, :3, :2] += 5.0  # outliers ...
    kp[:, :3, 2] = 0.0  # ... that are invisible
    assert_close(fit_weak_perspective(points, kp), camera, atol=1e-5)
    with pytest.raises(ValueError, match="points/keypoints"):
        fit_weak_perspective(points, kp[:, :5])


@pytest.fixture(scope="module")
def sampler(anny_body):
    return UVSampler(load_atlas(anny_body, "continuous"), 32)


def _synthetic_batch(body, b=2):
    g = torch.Generator().manual_seed(1)
    out = body(pose=body.sample_pose(b, generator=g), global_orient=torch.tensor([[3.14159, 0.0, 0.0]] * b))
    pelvis = out.joints[:, :1]
    return {
        "image": torch.rand(b, 3, 64, 64), "iuv": torch.rand(b, 3, 16, 16), "vertices": out.vertices - pelvis,
        "joints3d": out.joints - pelvis, "keypoints": torch.rand(b, 24, 3), "has_3d": torch.ones(b, dtype=torch.bool),
        "has_mesh": torch.tensor([True, False]),
    }


def test_synthetic_targets_build_the_location_map_on_the_fly(anny_body, sampler):
    batch = _synthetic_batch(anny_body)
    gt = make_targets(batch, sampler)
    assert gt.joint_set == "smpl24"
    assert_close(gt.targets.location_map, sampler.mesh_to_map(batch["vertices"]))
    assert gt.targets.location_map.shape == (2, 3, 32, 32)
    assert gt.targets.has_mesh.tolist() == [True, False]
    assert gt.targets.joints3d is batch["joints3d"] and gt.targets.iuv is batch["iuv"]
    out = SimpleNamespace(joints=torch.zeros(2, 24, 3), lsp_joints=torch.zeros(2, 14, 3))
    assert joints_for_loss(out, gt.joint_set) is out


def test_official_j24_batches_compare_lsp_joints_rooted_at_the_hips(sampler):
    b = 2
    joints = torch.randn(b, 24, 3)
    batch = {"image": torch.rand(b, 3, 64, 64), "keypoint_format": ["j24"] * b, "joints3d": joints,
             "joints3d_conf": torch.ones(b, 24), "keypoints": torch.rand(b, 24, 3), "has_3d": torch.ones(b, dtype=torch.bool)}
    gt = make_targets(batch, sampler)  # Anny body: no SMPL parameters to pose, no mesh targets
    t = gt.targets
    assert gt.joint_set == "lsp+hips" and t.location_map is None and t.iuv is None
    assert t.joints3d.shape == (b, 15, 4) and t.keypoints2d.shape == (b, 15, 3)
    assert_close(t.joints3d[:, 0, :3], joints[:, 2:4].mean(1))  # hip midpoint ...
    assert t.joints3d[:, 0, 3].eq(0).all() and t.keypoints2d[:, 0, 2].eq(0).all()  # ... only for centring
    assert_close(t.joints3d[:, 1:, :3], joints[:, :14])
    lsp = torch.randn(b, 14, 3)
    o = DecoMROutput(*(torch.zeros(1) for _ in range(5)), joints=torch.zeros(b, 24, 3), lsp_joints=lsp)
    assert_close(joints_for_loss(o, gt.joint_set).joints, torch.cat([lsp[:, 2:4].mean(1, keepdim=True), lsp], 1))


def test_one_joint_format_per_batch():
    assert batch_keypoint_format({}) == "smpl24"
    assert batch_keypoint_format({"keypoint_format": ["j24", "j24"]}) == "j24"
    with pytest.raises(ValueError, match="one joint format per batch"):
        batch_keypoint_format({"keypoint_format": ["j24", "smpl24"]})
    with pytest.raises(ValueError, match="expected 'smpl24' or 'j24'"):
        batch_keypoint_format({"keypoint_format": "coco"})
