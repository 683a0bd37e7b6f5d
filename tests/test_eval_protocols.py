"""Tests for decomr.eval.protocols: joint conventions, the H36M regressor, P1/P2 frame filters."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from decomr.eval.metrics import mpjpe, pa_mpjpe
from decomr.eval.protocols import (
    H36M_J17_NAMES,
    H36M_TO_J14,
    J24_PELVIS,
    J24_TO_J14,
    JOINT_CONVENTIONS,
    OFFICIAL_J24_NAMES,
    EvalJoints,
    filter_h36m_imgnames,
    gt_eval_joints_from_j24,
    h36m_protocol_mask,
    h36m_regressor_path,
    joint_errors,
    load_h36m_regressor,
    parse_h36m_imgname,
    predicted_eval_joints,
)
from tests.helpers import assert_close

LSP = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
       "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist")


def test_index_maps_pick_the_lsp_joints():
    assert tuple(H36M_J17_NAMES[i] for i in H36M_TO_J14[:12]) == LSP
    assert tuple(OFFICIAL_J24_NAMES[i] for i in J24_TO_J14[:12]) == LSP
    assert H36M_J17_NAMES[H36M_TO_J14[12]] == "thorax" and H36M_J17_NAMES[H36M_TO_J14[13]] == "head"
    assert OFFICIAL_J24_NAMES[J24_PELVIS] == "pelvis_mpii"
    assert set(JOINT_CONVENTIONS) == {"decomr", "cmr-spin"}


class FakeBody:
    """Stands in for decomr.body.BodyModel: linear LSP regressor on V vertices."""

    def __init__(self, V, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.lsp_regressor = torch.softmax(torch.randn(14, V, generator=g, dtype=torch.float64), dim=1)

    def regress_joints(self, vertices):
        lsp = torch.einsum("jv,bvc->bjc", self.lsp_regressor.to(vertices), vertices)
        return torch.zeros(vertices.shape[0], 24, 3, dtype=vertices.dtype), lsp


def test_decomr_convention_centres_on_hips():
    body = FakeBody(30)
    verts = torch.randn(2, 30, 3, dtype=torch.float64)
    ej = predicted_eval_joints(verts, "decomr", body=body)
    lsp = body.regress_joints(verts)[1]
    assert isinstance(ej, EvalJoints) and ej.joints.shape == (2, 14, 3)
    assert_close(ej.joints, lsp - lsp[:, 2:4].mean(1, keepdim=True), atol=1e-12)
    assert ej.joints[:, 2:4].mean(1).abs().max() < 1e-12
    with pytest.raises(ValueError, match="body"):
        predicted_eval_joints(verts, "decomr")


def test_cmr_spin_convention_with_given_regressor():
    V = 25
    R = torch.softmax(torch.randn(17, V, dtype=torch.float64), dim=1)
    verts = torch.randn(3, V, 3, dtype=torch.float64)
    ej = predicted_eval_joints(verts, "cmr-spin", h36m_regressor=R)
    j17 = np.einsum("jv,bvc->bjc", R.numpy(), verts.numpy())
    ref = j17[:, list(H36M_TO_J14)] - j17[:, [0]]
    assert_close(ej.joints, ref, atol=1e-12)
    with pytest.raises(ValueError, match="h36m_regressor"):
        predicted_eval_joints(verts, "cmr-spin", h36m_regressor=R[:, :10])
    with pytest.raises(ValueError, match="convention"):
        predicted_eval_joints(verts, "hmr", h36m_regressor=R)


def test_missing_h36m_regressor_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DECOMR_DATA", str(tmp_path))
    expected = tmp_path / "body_models" / "smpl" / "J_regressor_h36m.npy"
    assert h36m_regressor_path() == expected
    with pytest.raises(FileNotFoundError, match="J_regressor_h36m.npy") as err:
        load_h36m_regressor()
    assert str(expected) in str(err.value) and "SPIN" in str(err.value)
    with pytest.raises(FileNotFoundError):
        predicted_eval_joints(torch.zeros(1, 6890, 3), "cmr-spin")


def test_h36m_regressor_file_checks(tmp_path):
    path = tmp_path / "J_regressor_h36m.npy"
    np.save(path, np.full((17, 12), 1 / 12))
    R = load_h36m_regressor(path, num_vertices=12)
    assert R.shape == (17, 12) and R.dtype == torch.float32
    with pytest.raises(ValueError, match="6890"):
        load_h36m_regressor(path, num_vertices=6890)
    np.save(path, np.zeros((14, 12)))
    with pytest.raises(ValueError, match="17"):
        load_h36m_regressor(path)


def test_gt_joints_from_official_j24_and_errors():
    g = torch.Generator().manual_seed(1)
    S = torch.zeros(2, 24, 4, dtype=torch.float64)
    S[..., :3] = torch.randn(2, 24, 3, generator=g, dtype=torch.float64)
    S[..., 3] = 1
    d = gt_eval_joints_from_j24(S, "decomr")
    j14 = S[:, list(J24_TO_J14), :3]
    assert_close(d.joints, j14 - j14[:, 2:4].mean(1, keepdim=True), atol=1e-12)
    c = gt_eval_joints_from_j24(S[..., :3], "cmr-spin")
    assert_close(c.joints, j14 - S[:, [J24_PELVIS], :3], atol=1e-12)
    pred = EvalJoints(d.joints + 0.01, d.root, "decomr")
    errs = joint_errors(pred, d)
    assert_close(errs.mpjpe, mpjpe(pred.joints, d.joints, root=None))
    assert_close(errs.pa_mpjpe, pa_mpjpe(pred.joints, d.joints))
    with pytest.raises(ValueError, match="convention"):
        joint_errors(pred, c)
    with pytest.raises(ValueError, match="joints24"):
        gt_eval_joints_from_j24(torch.zeros(2, 17, 3))


def test_parse_h36m_imgname():
    f = parse_h36m_imgname("images/S11_Sitting_Down_2.60457274_000126.jpg")
    assert (f.subject, f.action, f.camera, f.frame) == (11, "Sitting_Down_2", "60457274", 126)
    with pytest.raises(ValueError, match="name"):
        parse_h36m_imgname("images/im1001.jpg")


def test_protocol_filters():
    names = [
        "images/S9_Directions_1.60457274_000001.jpg",   # P1, P2
        "images/S9_Directions_1.54138969_000006.jpg",   # P1
        "images/S11_Eating.55011271_000011.jpg",        # P1
        "images/S11_Eating.60457274_000011.jpg",        # P1, P2
        "images/S9_Directions_1.60457274_000002.jpg",   # not every 5th frame
        "images/S1_Directions_1.60457274_000001.jpg",   # training subject
    ]
    assert filter_h36m_imgnames(names, 1) == [0, 1, 2, 3]
    assert filter_h36m_imgnames(names, "p2") == [0, 3]
    assert h36m_protocol_mask(names, "P1").dtype == bool
    with pytest.raises(ValueError, match="protocol"):
        filter_h36m_imgnames(names, 3)
