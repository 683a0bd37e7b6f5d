"""Body models: Anny behind the common interface, SMPL through smplx on a synthetic SMPL file."""
from __future__ import annotations

import math
import pickle
import sys

import numpy as np
import pytest
import torch

from decomr.body import (
    LSP_FLIP_PERM,
    LSP_JOINT_NAMES,
    LSP_PART_FLIP_PERM,
    SMPL_FLIP_PERM,
    SMPL_JOINT_NAMES,
    axis_angle_to_matrix,
    load,
)
from decomr.body.anny_body import SMPL_TO_ANNY_BONE
from decomr.body.pose import POSE_NAMES, sample_components
from tests.helpers import assert_close
from tests.smpl_fixture import write_fake_smpl as _write_fake_smpl


# ---------------------------------------------------------------------------------- Anny
def test_anny_sizes_and_dtypes(anny_body):
    b = anny_body
    assert (b.num_vertices, b.num_faces, b.shape_dim, b.pose_dim) == (13348, 26692, 6, 103)
    assert b.template.dtype == torch.float32 and b.faces.dtype == torch.int64
    assert int(b.faces.min()) == 0 and int(b.faces.max()) == b.num_vertices - 1
    out = b(shape=b.sample_shape(3), pose=b.sample_pose(3))
    assert out.vertices.shape == (3, 13348, 3) and out.vertices.dtype == torch.float32
    assert out.joints.shape == (3, 24, 3) and out.lsp_joints.shape == (3, 14, 3)


def test_anny_template_is_upright_in_canonical_frame(anny_body):
    v = anny_body.template
    extent = v.max(0).values - v.min(0).values
    assert 1.4 < float(extent[1]) < 2.1, "height along +y"
    # Head above feet; nose (most frontal head point) towards +z.
    j = anny_body(shape=None).joints[0]
    assert j[SMPL_JOINT_NAMES.index("head"), 1] > j[SMPL_JOINT_NAMES.index("left_ankle"), 1] + 1.0
    # The body's left is +x.
    assert j[SMPL_JOINT_NAMES.index("left_shoulder"), 0] > 0 > j[SMPL_JOINT_NAMES.index("right_shoulder"), 0]


def test_mirror_map_maps_template_onto_itself(anny_body):
    b = anny_body
    m = b.mirror_map
    assert torch.equal(m[m], torch.arange(b.num_vertices)), "mirror map is an involution"
    mirrored = b.template[m] * torch.tensor([-1.0, 1.0, 1.0])
    assert float((mirrored - b.template).norm(dim=1).max()) < 2e-3  # metres


def test_joint_flip_permutations_match_mirrored_body(anny_body):
    b = anny_body
    flip = torch.tensor([-1.0, 1.0, 1.0])
    mirrored = b.template[b.mirror_map] * flip
    j, lsp = b.regress_joints(b.template[None])
    jm, lspm = b.regress_joints(mirrored[None])
    assert_close(jm[0], (j[0] * flip)[list(SMPL_FLIP_PERM)], atol=5e-3)
    assert_close(lspm[0], (lsp[0] * flip)[list(LSP_FLIP_PERM)], atol=5e-3)
    assert SMPL_FLIP_PERM[SMPL_JOINT_NAMES.index("left_wrist")] == SMPL_JOINT_NAMES.index("right_wrist")
    assert LSP_JOINT_NAMES[LSP_FLIP_PERM[0]] == "left_ankle"


def test_joint_regressor_reproduces_skeleton(anny_body):
    """The linear regressor (fit by NNLS) against the independent FK skeleton on unseen bodies."""
    b = anny_body
    g = torch.Generator().manual_seed(7)
    shape, pose = b.sample_shape(8, g), b.sample_pose(8, g)
    out = b(shape=shape, pose=pose)
    bones = [b.bone_labels.index(SMPL_TO_ANNY_BONE[n]) for n in SMPL_JOINT_NAMES]
    skeleton = b.skeleton(shape, pose)[:, bones]
    err = (out.joints - skeleton).norm(dim=-1)
    assert float(err.mean()) < 0.015 and float(err.max()) < 0.08
    R = b.joint_regressor
    assert float(R.min()) >= 0 and torch.allclose(R.sum(1), torch.ones(24), atol=1e-3)
    assert torch.allclose(b.lsp_regressor.sum(1), torch.ones(14), atol=1e-3)


def test_lsp_joints_are_smpl_joints_plus_head_top(anny_body):
    out = anny_body(pose=anny_body.sample_pose(2, torch.Generator().manual_seed(1)))
    for i, name in enumerate(LSP_JOINT_NAMES[:-1]):
        assert_close(out.lsp_joints[:, i], out.joints[:, SMPL_JOINT_NAMES.index(name)], atol=1e-5)
    head_top = out.lsp_joints[0, 13]
    assert float(head_top[1]) > float(out.joints[0, SMPL_JOINT_NAMES.index("head"), 1])


def test_parts_cover_body_and_are_symmetric(anny_body):
    b = anny_body
    assert set(b.weight_parts.unique().tolist()) == {0, 1, 2, 3}
    assert set(b.lsp_parts.unique().tolist()) == {1, 2, 3, 4, 5, 6}
    flipped = torch.tensor(LSP_PART_FLIP_PERM)[b.lsp_parts[b.mirror_map]]
    assert float((flipped == b.lsp_parts).float().mean()) > 0.99
    assert float((b.weight_parts[b.mirror_map] == b.weight_parts).float().mean()) > 0.99
    # Hands/feet vertices are far from the pelvis, torso ones close to it.
    d = (b.template - b.joint_regressor[0] @ b.template).norm(dim=1)
    assert float(d[b.weight_parts == 3].mean()) > 2 * float(d[b.weight_parts == 0].mean())


def test_default_uv_layout(anny_body):
    uv, f = anny_body.default_uv_coords, anny_body.default_uv_faces
    assert uv.ndim == 2 and uv.shape[1] == 2 and f.shape == anny_body.faces.shape
    assert float(uv.min()) >= 0 and float(uv.max()) <= 1
    assert int(f.max()) == uv.shape[0] - 1


def test_global_orient_rotates_about_pelvis(anny_body):
    b = anny_body
    rest = b()
    go = torch.tensor([[math.pi, 0.0, 0.0]])
    flipped = b(global_orient=go)
    assert_close(flipped.joints[0, 0], rest.joints[0, 0], atol=1e-5)
    expected = (rest.vertices - rest.joints[:, :1]) * torch.tensor([1.0, -1.0, -1.0]) + rest.joints[:, :1]
    assert_close(flipped.vertices, expected, atol=1e-5)
    t = torch.tensor([[0.1, -0.2, 3.0]])
    moved = b(global_orient=go, transl=t)
    assert_close(moved.vertices, flipped.vertices + t[:, None], atol=1e-5)


def test_forward_is_differentiable(anny_body):
    b = anny_body
    shape = b.sample_shape(1).requires_grad_(True)
    pose = b.sample_pose(1).requires_grad_(True)
    go = torch.zeros(1, 3, requires_grad=True)
    out = b(shape=shape, pose=pose, global_orient=go)
    out.joints.square().sum().backward()
    for t in (shape, pose, go):
        assert t.grad is not None and torch.isfinite(t.grad).all() and float(t.grad.abs().sum()) > 0


def test_samplers_are_deterministic(anny_body):
    b = anny_body
    a = b.sample_shape(4, torch.Generator().manual_seed(3)), b.sample_pose(4, torch.Generator().manual_seed(3))
    c = b.sample_shape(4, torch.Generator().manual_seed(3)), b.sample_pose(4, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], c[0]) and torch.equal(a[1], c[1])
    d = b.sample_pose(4, torch.Generator().manual_seed(4))
    assert not torch.equal(a[1], d)
    assert float(a[0].min()) >= 0 and float(a[0].max()) <= 1


def test_pose_sampler_respects_limits(anny_body):
    prior = anny_body.prior
    pose = anny_body.sample_pose(256, torch.Generator().manual_seed(0))
    comps = prior.pose_to_components(pose)
    assert bool((comps >= prior.lo - 1e-5).all() and (comps <= prior.hi + 1e-5).all())
    # Only posable bones move.
    others = torch.ones(anny_body.pose_dim, dtype=torch.bool)
    others[prior.bone_index] = False
    assert float(pose[:, others].abs().max()) == 0.0
    # The samples are diverse: every limited component varies.
    varied = (comps.std(0) > 0.02) | (prior.hi - prior.lo < 1e-6)
    assert bool(varied.all())


def test_named_poses(anny_body):
    for name in POSE_NAMES:
        pose = anny_body.sample_pose(1, kind=name)
        assert pose.shape == (1, anny_body.pose_dim, 3)
    j_sit = anny_body(pose=anny_body.sample_pose(1, kind="sitting")).joints[0]
    knee, hip = SMPL_JOINT_NAMES.index("left_knee"), SMPL_JOINT_NAMES.index("left_hip")
    assert float(j_sit[knee, 2] - j_sit[hip, 2]) > 0.25, "sitting: thighs point forward (+z)"
    j_t = anny_body(pose=anny_body.sample_pose(1, kind="T")).joints[0]
    wrist, shoulder = SMPL_JOINT_NAMES.index("left_wrist"), SMPL_JOINT_NAMES.index("left_shoulder")
    assert abs(float(j_t[wrist, 1] - j_t[shoulder, 1])) < 0.12, "T pose: arms horizontal"
    with pytest.raises(ValueError, match="kind"):
        anny_body.sample_pose(1, kind="moonwalk")
    with pytest.raises(ValueError, match="n"):
        sample_components(anny_body.prior, -1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"shape": torch.zeros(2, 5)}, "shape"),
        ({"pose": torch.zeros(2, 103)}, "pose"),
        ({"global_orient": torch.zeros(2, 4)}, "global_orient"),
        ({"shape": torch.zeros(2, 6), "pose": torch.zeros(3, 103, 3)}, "batch sizes"),
        ({"transl": torch.full((1, 3), float("nan"))}, "NaN"),
        ({"shape": np.zeros((1, 6))}, "torch.Tensor"),
    ],
)
def test_bad_inputs(anny_body, kwargs, match):
    with pytest.raises(ValueError, match=match):
        anny_body(**kwargs)
    with pytest.raises(ValueError, match="vertices"):
        anny_body.regress_joints(torch.zeros(1, 10, 3))


def test_load_rejects_unknown_model():
    with pytest.raises(ValueError, match="anny"):
        load("scape")


def test_axis_angle_matches_scipy():
    from scipy.spatial.transform import Rotation

    rv = torch.randn(16, 3, dtype=torch.float64)
    rv[0] = 0.0
    rv[1] = 1e-8
    assert_close(axis_angle_to_matrix(rv), Rotation.from_rotvec(rv.numpy()).as_matrix(), atol=1e-12)
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (x,))


def test_mesh_hash_ignores_float_noise_but_not_the_topology(anny_body):
    """The hash keys atlases and checkpoints: the same mesh computed with ~1e-5 m of float noise
    (another machine's BLAS) keeps it; other faces change it."""
    import copy

    other = copy.deepcopy(anny_body)  # an independently held copy
    assert other.mesh_hash() == anny_body.mesh_hash() and len(anny_body.mesh_hash()) == 16
    noise = torch.randn(other.template.shape, generator=torch.Generator().manual_seed(0)) * 2e-5
    other.template = other.template + noise
    assert other.mesh_hash() == anny_body.mesh_hash()
    flipped = copy.deepcopy(anny_body)
    flipped.faces = flipped.faces[:, [0, 2, 1]].contiguous()  # reversed orientation: another mesh
    assert flipped.mesh_hash() != anny_body.mesh_hash()


def test_device(anny_body, device):
    import copy

    b = anny_body if device.type == "cpu" else copy.deepcopy(anny_body).to(device)
    out = b(shape=b.sample_shape(2), pose=b.sample_pose(2))
    assert out.vertices.device.type == device.type


# ---------------------------------------------------------------------------------- SMPL
def test_smpl_missing_files_explain_where_to_get_them(tmp_path):
    from decomr.body.smpl_body import SMPLBody

    with pytest.raises(FileNotFoundError) as err:
        SMPLBody(folder=tmp_path)
    msg = str(err.value)
    assert "SMPL_NEUTRAL.pkl" in msg and str(tmp_path) in msg and "smpl.is.tue.mpg.de" in msg


def test_smpl_forward_equals_smplx(tmp_path):
    import smplx
    from smplx.utils import Struct

    from decomr.body.smpl_body import SMPLX_NO_EXTRA_JOINTS, SMPLBody, load_smpl_pickle

    v, faces, J = _write_fake_smpl(tmp_path)
    assert "chumpy" not in sys.modules
    body = SMPLBody(folder=tmp_path)
    assert body.num_vertices == v.shape[0] and body.shape_dim == 10 and body.pose_dim == 23
    assert_close(body.template, v, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    betas, pose = body.sample_shape(3, g), body.sample_pose(3, g)
    ours = body(shape=betas, pose=pose)
    data = load_smpl_pickle(tmp_path / "SMPL_NEUTRAL.pkl")
    data["J_regressor"] = np.asarray(data["J_regressor"].todense())
    ref = smplx.SMPL(model_path=str(tmp_path), data_struct=Struct(**data), **SMPLX_NO_EXTRA_JOINTS)(
        betas=betas, body_pose=pose.reshape(3, -1), global_orient=torch.zeros(3, 3)
    )
    assert_close(ours.vertices, ref.vertices, atol=1e-5)
    assert_close(ours.joints, torch.einsum("jv,bvc->bjc", torch.tensor(J, dtype=torch.float32), ref.vertices), atol=1e-5)
    # Global orientation: a rotation about the pelvis, equal to smplx's up to the rotation centre.
    go = torch.tensor([[0.3, -0.2, 0.5]] * 3)
    ours_go = body(shape=betas, pose=pose, global_orient=go).vertices
    ref_go = smplx.SMPL(model_path=str(tmp_path), data_struct=Struct(**data), **SMPLX_NO_EXTRA_JOINTS)(
        betas=betas, body_pose=pose.reshape(3, -1), global_orient=go
    ).vertices
    centred = lambda x: x - x.mean(1, keepdim=True)  # noqa: E731
    assert_close(centred(ours_go), centred(ref_go), atol=1e-5)
    # Mirror map of a symmetric model pairs each vertex with its twin.
    n = v.shape[0] // 2
    assert torch.equal(body.mirror_map[:n], torch.arange(n, 2 * n))


def test_smpl_rejects_non_model_file(tmp_path):
    from decomr.body.smpl_body import SMPLBody

    with open(tmp_path / "SMPL_NEUTRAL.pkl", "wb") as fh:
        pickle.dump({"v_template": np.zeros((3, 3))}, fh)
    with pytest.raises(ValueError, match="missing fields"):
        SMPLBody(folder=tmp_path)
