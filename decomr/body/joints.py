"""Joint sets and the conversions between them (one module owns every joint order).

Every joint order decomr reads or writes is a named :class:`JointSet` in :data:`JOINT_SETS`:

``"smpl24"``
    The 24 SMPL joints (the skeleton of SMPL, and an SMPL-like skeleton for other models), used
    by the 3D joint loss (Eq. 7) and the 2D joint loss (Eq. 8); SURREAL's ``part_smpl`` /
    ``S_smpl``. Order of SMPL's ``J_regressor`` (Loper et al. 2015; SPIN / CMR ``smpl.py``).
``"lsp14"``
    The 14 LSP joints (Leeds Sports Pose, Johnson & Everingham 2010), used by the evaluation
    (MPJPE / PA-MPJPE, Tables 2 and 5) and regressed from every mesh (``lsp_joints``).
``"j24"``
    The 24-joint superset of the official preprocessed ``.npz`` files of H36M, UP-3D, LSP and
    3DPW (``part``, ``S``; CMR / DecoMR ``utils/config.py``): the 14 LSP joints first, then
    MPII, H36M and face joints. Labels as in that file (``"neck_lsp"``, ``"pelvis_mpii"``, ...).
``"h36m17"``
    The 17 Human3.6M joints of ``J_regressor_h36m.npy`` and of the official H36M ground truth,
    in the order the CMR / SPIN files use.
``"j14"``
    The 14 evaluation joints of the official DecoMR / CMR / SPIN ``eval.py`` (``J24_TO_J14``,
    ``H36M_TO_J14``): the LSP joints with the H36M head in place of the LSP head top, which
    H36M does not annotate.

Joints of different sets are matched by **key**, a name in a vocabulary shared by all sets
(:attr:`JointSet.keys`): two joints with the same key are the same point for :func:`convert`.
A set's keys are its labels except where a label names a joint of another set: the official
files store the H36M thorax in the LSP neck slot of ``"j24"``, its pelvis in ``"pelvis_mpii"``
and its head in ``"head_h36m"`` (SPIN / CMR ``datasets/preprocess/h36m_train.py``), so those
H36M joints carry the keys of these slots. The SMPL joint centres share their names (and so
their keys) with the LSP limb joints and the LSP neck, which they approximate (DecoMR does the
same for SURREAL's LSP keypoints); SMPL's ``"pelvis"`` and ``"head"`` are kept apart from the
MPII pelvis and the H36M head.

>>> import numpy as np
>>> kp = np.arange(24 * 3, dtype=np.float32).reshape(24, 3)  # smpl24
>>> lsp, has = convert(kp, "smpl24", "lsp14")
>>> lsp.shape, has.tolist()[-2:], lsp[13].tolist()  # no head top in SMPL: zero, masked
((14, 3), [True, False], [0.0, 0.0, 0.0])
>>> conversion_indices("h36m17", "j14")
(6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)

All sets are linear functions of the mesh vertices (``J = R @ V``), so joints can be regressed
from a predicted mesh exactly like from a ground-truth one (Sec. 3.3: "get 3D joints from human
mesh employing joint regressor"); :func:`convert` also selects the rows of such a regressor.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Mapping, TypeVar

import numpy as np
import torch

__all__ = [
    "JointSet", "JOINT_SETS", "joint_set", "conversion_indices", "convert",
    "SMPL_JOINT_NAMES", "LSP_JOINT_NAMES", "OFFICIAL_J24_NAMES", "H36M_J17_NAMES", "J14_JOINT_NAMES",
    "SMPL_FLIP_PERM", "LSP_FLIP_PERM", "J24_FLIP_PERM",
    "SMPL_PARENTS", "SMPL_BONES", "LSP_BONES", "PELVIS", "LSP_HIPS",
]

Keypoints = TypeVar("Keypoints", np.ndarray, torch.Tensor)

#: The 24 SMPL joints, in the order of SMPL's ``J_regressor``.
SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)

#: The 14 LSP joints, in LSP order (the first 14 of the official 24-joint superset).
LSP_JOINT_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)

#: The 24-joint superset of the official ``.npz`` files (``part``, ``S``; CMR ``utils/config.py``).
#: The first 14 are the LSP joints. SURREAL's files use the 24 SMPL joints instead.
OFFICIAL_J24_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck_lsp", "head_top_lsp", "pelvis_mpii", "thorax_mpii", "spine_h36m", "jaw_h36m",
    "head_h36m", "nose", "left_eye", "right_eye", "left_ear", "right_ear",
)

#: The 17 joints of ``J_regressor_h36m.npy`` and of the official H36M ground truth, in the order
#: the CMR/SPIN files use (their preprocessing puts the raw "Left*" leg joints at 1-3, hence
#: left before right).
H36M_J17_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle",
    "spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)

#: The 14 evaluation joints of the official ``eval.py``: LSP order, joint 13 the H36M head.
J14_JOINT_NAMES: tuple[str, ...] = LSP_JOINT_NAMES[:13] + ("head_h36m",)


@dataclass(frozen=True)
class JointSet:
    """A named joint order.

    Attributes:
        name: the set's name in :data:`JOINT_SETS` (e.g. ``"smpl24"``).
        names: (J,) joint labels, in order, as the set's source spells them.
        description: one line: what the set is and where its order comes from.
        aliases: label -> key for the labels whose key differs (see :attr:`keys`).
    """

    name: str
    names: tuple[str, ...]
    description: str
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"names: the joint labels of {self.name!r} must be unique")
        unknown = set(self.aliases) - set(self.names)
        if unknown:
            raise ValueError(f"aliases: {sorted(unknown)} are not joints of {self.name!r}")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError(f"aliases: the keys of {self.name!r} must be unique")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def keys(self) -> tuple[str, ...]:
        """(J,) the joints' names in the vocabulary shared by all sets (what :func:`convert` matches)."""
        return tuple(self.aliases.get(n, n) for n in self.names)

    @property
    def flip_perm(self) -> tuple[int, ...]:
        """(J,) ``joints[..., flip_perm, :]`` is the joint set of the mirrored body (after negating x)."""
        return _flip_perm(self.names)

    def index(self, joint: str) -> int:
        """Position of a joint, by label (``names``) or by key.

        Raises:
            ValueError: ``joint`` is not in the set.
        """
        for order in (self.names, self.keys):
            if joint in order:
                return order.index(joint)
        raise ValueError(f"joint: {joint!r} is not a joint of {self.name!r} (joints: {', '.join(self.names)})")


def _flip_perm(names: tuple[str, ...]) -> tuple[int, ...]:
    """Index permutation that swaps every ``left_*`` joint with its ``right_*`` twin."""
    def swap(name: str) -> str:
        if name.startswith("left_"):
            return "right_" + name[5:]
        if name.startswith("right_"):
            return "left_" + name[6:]
        return name

    return tuple(names.index(swap(n)) for n in names)


#: Every joint set, by name (see the module docstring).
JOINT_SETS: Mapping[str, JointSet] = {
    s.name: s for s in (
        JointSet("smpl24", SMPL_JOINT_NAMES,
                 "24 SMPL joints, SMPL J_regressor order (SMPL; SPIN/CMR smpl.py); SURREAL part_smpl/S_smpl"),
        JointSet("lsp14", LSP_JOINT_NAMES,
                 "14 LSP joints, LSP order (Leeds Sports Pose); the body models' lsp_joints"),
        JointSet("j24", OFFICIAL_J24_NAMES,
                 "official 24-joint superset of the H36M/UP-3D/LSP/3DPW .npz files (CMR/DecoMR utils/config.py)",
                 {"neck_lsp": "neck", "head_top_lsp": "head_top"}),
        JointSet("h36m17", H36M_J17_NAMES,
                 "17 H36M joints, order of J_regressor_h36m.npy and the CMR/SPIN H36M files",
                 {"pelvis": "pelvis_mpii", "spine": "spine_h36m", "thorax": "neck", "neck_nose": "jaw_h36m",
                  "head": "head_h36m"}),
        JointSet("j14", J14_JOINT_NAMES,
                 "14 evaluation joints of the official DecoMR/CMR/SPIN eval.py: LSP order, H36M head last"),
    )
}


def joint_set(name: str, argument: str = "name") -> JointSet:
    """The :class:`JointSet` called ``name``.

    Args:
        name: a key of :data:`JOINT_SETS`.
        argument: the caller's argument name, for the error message.

    Raises:
        ValueError: unknown name (the message names ``argument`` and lists the sets).
    """
    if not isinstance(name, str) or name not in JOINT_SETS:
        raise ValueError(f"{argument}: expected a joint set, one of {sorted(JOINT_SETS)}, got {name!r}")
    return JOINT_SETS[name]


@functools.lru_cache(maxsize=None)
def _indices(src: str, dst: str) -> tuple[int, ...]:
    keys = joint_set(src, "src").keys
    return tuple(keys.index(k) if k in keys else -1 for k in joint_set(dst, "dst").keys)


def conversion_indices(src: str, dst: str) -> tuple[int, ...]:
    """Where each joint of ``dst`` is in ``src``: the index table behind :func:`convert`.

    Args:
        src: the source joint set's name (:data:`JOINT_SETS`).
        dst: the destination joint set's name.

    Returns:
        (J_dst,) index into ``src`` of each ``dst`` joint (same key), -1 where ``src`` lacks it.

    Raises:
        ValueError: unknown ``src`` or ``dst``.
    """
    joint_set(src, "src")
    joint_set(dst, "dst")
    return _indices(src, dst)


def convert(keypoints: Keypoints, src: str, dst: str) -> tuple[Keypoints, Keypoints]:
    """Reorder joints from one set into another (MMHuman3D-style ``convert_kps``).

    Joints are matched by key (:attr:`JointSet.keys`); destination joints the source lacks are
    zero (coordinates and confidence alike) and flagged in the mask. Values are copied, never
    interpolated, so converting back recovers the source joints the destination kept.

    Args:
        keypoints: (..., J_src, D) numpy array or torch tensor in the order of ``src``; D is
            usually 2 or 3 (coordinates) plus an optional confidence channel, but any D works
            (e.g. (J_src, V) regressor rows).
        src: name of the source joint set (:data:`JOINT_SETS`), e.g. ``"smpl24"``.
        dst: name of the destination joint set, e.g. ``"lsp14"``.

    Returns:
        ``(converted, mask)``: (..., J_dst, D) keypoints of the same type, dtype (and device)
        as ``keypoints``, and a (J_dst,) bool mask (numpy array, or tensor on the same device),
        True where the destination joint exists in the source.

    Raises:
        ValueError: unknown ``src`` / ``dst``, ``keypoints`` not an array or tensor, or its
            joint axis (-2) not of ``src``'s length.
    """
    source = joint_set(src, "src")
    joint_set(dst, "dst")
    is_tensor = isinstance(keypoints, torch.Tensor)
    if not is_tensor and not isinstance(keypoints, np.ndarray):
        raise ValueError(f"keypoints: expected a numpy array or torch tensor of shape (..., {len(source)}, D), "
                         f"got {type(keypoints).__name__}")
    if keypoints.ndim < 2 or keypoints.shape[-2] != len(source):
        raise ValueError(f"keypoints: expected shape (..., {len(source)}, D) for the {len(source)} joints of "
                         f"{src!r}, got {tuple(keypoints.shape)}")
    idx = _indices(src, dst)
    dst_pos = [k for k, i in enumerate(idx) if i >= 0]
    src_pos = [i for i in idx if i >= 0]
    shape = (*keypoints.shape[:-2], len(idx), keypoints.shape[-1])
    found = [i >= 0 for i in idx]
    if is_tensor:
        out, mask = keypoints.new_zeros(shape), torch.tensor(found, dtype=torch.bool, device=keypoints.device)
    else:
        out, mask = np.zeros(shape, dtype=keypoints.dtype), np.array(found, dtype=bool)
    if src_pos:
        out[..., dst_pos, :] = keypoints[..., src_pos, :]
    return out, mask


#: ``joints[:, SMPL_FLIP_PERM]`` is the joint set of the mirrored body (after negating x).
SMPL_FLIP_PERM: tuple[int, ...] = JOINT_SETS["smpl24"].flip_perm
#: ``lsp[:, LSP_FLIP_PERM]`` is the LSP joint set of the mirrored body (after negating x).
LSP_FLIP_PERM: tuple[int, ...] = JOINT_SETS["lsp14"].flip_perm
#: ``j24[:, J24_FLIP_PERM]`` swaps left and right in the official 24-joint superset.
J24_FLIP_PERM: tuple[int, ...] = JOINT_SETS["j24"].flip_perm

#: Parent of each of the 24 SMPL joints (SMPL's kinematic tree, ``SMPL_JOINT_NAMES`` order).
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
#: (parent, child) pairs of the SMPL skeleton, for drawing.
SMPL_BONES: tuple[tuple[int, int], ...] = tuple((p, j) for j, p in enumerate(SMPL_PARENTS) if p >= 0)
#: Limbs of the 14 LSP joints (``LSP_JOINT_NAMES`` order), for drawing.
LSP_BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (3, 4), (4, 5), (6, 7), (7, 8), (9, 10), (10, 11),
    (2, 3), (8, 12), (9, 12), (12, 13), (2, 8), (3, 9),
)

#: Index of the pelvis (root) among the SMPL joints, used to centre location maps and joints.
PELVIS = SMPL_JOINT_NAMES.index("pelvis")
#: Indices of the hips among the LSP joints (DecoMR's evaluation root is their midpoint).
LSP_HIPS: tuple[int, int] = (LSP_JOINT_NAMES.index("right_hip"), LSP_JOINT_NAMES.index("left_hip"))
