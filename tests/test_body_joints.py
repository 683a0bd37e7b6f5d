"""decomr.body.joints: the named joint sets and ``convert`` between them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from decomr.body.joints import (
    J24_FLIP_PERM,
    JOINT_SETS,
    LSP_FLIP_PERM,
    LSP_JOINT_NAMES,
    SMPL_JOINT_NAMES,
    conversion_indices,
    convert,
    joint_set,
)

# Written from the joint names of SMPL's J_regressor (not from decomr's tables): where each LSP
# joint (but the head top, which SMPL lacks) is among the 24 SMPL joints.
SMPL_INDEX = {"pelvis": 0, "left_hip": 1, "right_hip": 2, "left_knee": 4, "right_knee": 5, "left_ankle": 7,
              "right_ankle": 8, "neck": 12, "head": 15, "left_shoulder": 16, "right_shoulder": 17,
              "left_elbow": 18, "right_elbow": 19, "left_wrist": 20, "right_wrist": 21}
LSP_ORDER = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
             "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top")
# SPIN / CMR constants: the 14 evaluation joints from the 17 H36M ones, and where the official H36M
# preprocessing stores the 17 H36M joints among the 24 of the superset.
SPIN_H36M_TO_J14 = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)
SPIN_H36M_IN_J24 = (14, 3, 4, 5, 2, 1, 0, 16, 12, 17, 18, 9, 10, 11, 8, 7, 6)


def _labelled(num_joints: int, dim: int = 3) -> np.ndarray:
    """(J, dim) keypoints whose joint j is (j + 1) * (1, 10, 100, ...): each row says which joint it is."""
    return (np.arange(1, num_joints + 1)[:, None] * 10.0 ** np.arange(dim)[None]).astype(np.float32)


def test_joint_sets_are_named_and_sized():
    assert {"smpl24", "lsp14", "j24", "h36m17", "j14"} <= set(JOINT_SETS)
    assert [len(JOINT_SETS[n]) for n in ("smpl24", "lsp14", "j24", "h36m17", "j14")] == [24, 14, 24, 17, 14]
    assert LSP_JOINT_NAMES == LSP_ORDER and joint_set("lsp14").names == LSP_ORDER
    assert all(SMPL_JOINT_NAMES[i] == n for n, i in SMPL_INDEX.items())
    assert joint_set("j24").names[:12] == LSP_ORDER[:12]
    assert joint_set("j24").keys[:14] == LSP_ORDER  # neck_lsp / head_top_lsp are the LSP neck / head top
    assert joint_set("j14").names[-1] == "head_h36m"


def test_smpl24_to_lsp14_picks_the_named_joints_numpy():
    kp = _labelled(24)
    lsp, mask = convert(kp, "smpl24", "lsp14")
    assert isinstance(lsp, np.ndarray) and lsp.shape == (14, 3) and lsp.dtype == np.float32
    assert isinstance(mask, np.ndarray) and mask.dtype == bool
    for k, name in enumerate(LSP_ORDER[:13]):
        np.testing.assert_array_equal(lsp[k], kp[SMPL_INDEX[name]])
        assert lsp[k, 0] == SMPL_INDEX[name] + 1
    assert mask.tolist() == [True] * 13 + [False]
    np.testing.assert_array_equal(lsp[13], [0.0, 0.0, 0.0])  # the head top: missing, zero


def test_convert_torch_keeps_batch_dims_dtype_confidence_and_gradients():
    kp = torch.from_numpy(np.stack([_labelled(24, 4), 2 * _labelled(24, 4)])).double()[None].repeat(3, 1, 1, 1)
    kp.requires_grad_(True)  # (3, 2, 24, 4): x, y, z, confidence
    lsp, mask = convert(kp, "smpl24", "lsp14")
    assert lsp.shape == (3, 2, 14, 4) and lsp.dtype == torch.float64
    assert mask.dtype == torch.bool and mask.shape == (14,) and mask.tolist() == [True] * 13 + [False]
    right_wrist = LSP_ORDER.index("right_wrist")
    assert lsp[1, 1, right_wrist].tolist() == [2 * 22.0, 2 * 220.0, 2 * 2200.0, 2 * 22000.0]
    assert lsp[..., 13, :].abs().sum().item() == 0.0
    lsp.sum().backward()
    grad = kp.grad[0, 0, :, 0]  # 1 where a joint was used, 0 elsewhere
    assert grad.nonzero().flatten().tolist() == sorted(SMPL_INDEX[n] for n in LSP_ORDER[:13])


def test_round_trips_keep_the_shared_joints():
    kp = _labelled(24)
    lsp, _ = convert(kp, "smpl24", "lsp14")
    back, mask = convert(lsp, "lsp14", "smpl24")
    shared = sorted(SMPL_INDEX[n] for n in LSP_ORDER[:13])
    assert np.flatnonzero(mask).tolist() == shared
    np.testing.assert_array_equal(back[shared], kp[shared])
    assert not back[~mask].any()
    for name, s in JOINT_SETS.items():  # a set into itself: the identity
        x = _labelled(len(s))
        y, m = convert(x, name, name)
        np.testing.assert_array_equal(y, x)
        assert m.all()


def test_j24_lsp14_and_the_evaluation_joints():
    j24 = _labelled(24, 4)
    lsp, mask = convert(j24, "j24", "lsp14")
    np.testing.assert_array_equal(lsp, j24[:14])  # the official superset starts with the LSP joints
    assert mask.all()
    again, mask24 = convert(lsp, "lsp14", "j24")
    np.testing.assert_array_equal(again[:14], j24[:14])
    assert mask24.tolist() == [True] * 14 + [False] * 10 and not again[14:].any()
    j14, mask14 = convert(j24, "j24", "j14")
    head_h36m = joint_set("j24").names.index("head_h36m")
    np.testing.assert_array_equal(j14, np.concatenate([j24[:13], j24[[head_h36m]]]))
    assert mask14.all()


def test_h36m_tables_match_the_spin_constants():
    assert conversion_indices("h36m17", "j14") == SPIN_H36M_TO_J14
    assert conversion_indices("j24", "j14") == tuple(range(13)) + (18,)
    h36m = _labelled(17)
    j24, mask = convert(h36m, "h36m17", "j24")
    ref = np.zeros((24, 3), np.float32)
    ref[list(SPIN_H36M_IN_J24)] = h36m
    np.testing.assert_array_equal(j24, ref)
    assert np.flatnonzero(mask).tolist() == sorted(SPIN_H36M_IN_J24)
    # The eval tables of decomr.eval.protocols are these
    from decomr.eval.protocols import H36M_TO_J14, J24_PELVIS, J24_TO_J14

    assert H36M_TO_J14 == SPIN_H36M_TO_J14 and J24_TO_J14 == tuple(range(13)) + (18,) and J24_PELVIS == 14


def test_masks_flag_joints_missing_in_the_source():
    _, mask = convert(np.zeros((24, 3)), "smpl24", "h36m17")
    h36m = joint_set("h36m17").names
    missing = {h36m[i] for i in np.flatnonzero(~mask)}
    assert missing == {"pelvis", "spine", "neck_nose", "head"}  # MPII pelvis, H36M spine/jaw/head
    assert conversion_indices("smpl24", "lsp14")[-1] == -1
    _, mask = convert(torch.zeros(2, 14, 2), "lsp14", "h36m17")
    assert {h36m[i] for i in (~mask).nonzero().flatten().tolist()} == {"pelvis", "spine", "neck_nose", "head"}


def test_flip_perms_swap_left_and_right_by_name():
    for s in JOINT_SETS.values():
        perm = s.flip_perm
        assert sorted(perm) == list(range(len(s)))
        for i, name in enumerate(s.names):
            mirrored = name.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
            assert s.names[perm[i]] == mirrored
    assert LSP_FLIP_PERM == (5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13)
    from decomr.train.data import J24_FLIP_PERM as train_perm

    assert train_perm == J24_FLIP_PERM == joint_set("j24").flip_perm


def test_index_by_label_or_key():
    h36m = joint_set("h36m17")
    assert h36m.index("thorax") == h36m.index("neck") == 8
    assert joint_set("j24").index("neck_lsp") == joint_set("j24").index("neck") == 12
    with pytest.raises(ValueError, match="joint: 'tail'"):
        h36m.index("tail")


def test_bad_input_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"src: .*'smpl'"):
        convert(np.zeros((24, 3)), "smpl", "lsp14")
    with pytest.raises(ValueError, match=r"dst: .*'coco17'"):
        convert(np.zeros((24, 3)), "smpl24", "coco17")
    with pytest.raises(ValueError, match=r"dst: "):
        conversion_indices("smpl24", "nope")
    with pytest.raises(ValueError, match=r"keypoints: expected shape \(\.\.\., 24, D\).*\(14, 3\)"):
        convert(np.zeros((14, 3)), "smpl24", "lsp14")
    with pytest.raises(ValueError, match=r"keypoints: expected shape \(\.\.\., 17, D\)"):
        convert(torch.zeros(17), "h36m17", "j14")
    with pytest.raises(ValueError, match="keypoints: expected a numpy array or torch tensor.*list"):
        convert([[0.0, 0.0]] * 24, "smpl24", "lsp14")
    with pytest.raises(ValueError, match="name: expected a joint set"):
        joint_set("lsp")
