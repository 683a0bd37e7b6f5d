"""Joint conventions shared by every body model.

Two sets are used throughout decomr:

* the 24 **SMPL joints** (the skeleton of SMPL, and an SMPL-like skeleton for other models), used by
  the 3D joint loss (Eq. 7) and the 2D joint loss (Eq. 8);
* the 14 **LSP joints**, used by the evaluation (MPJPE / PA-MPJPE, Tables 2 and 5), in LSP order.

Both are linear functions of the mesh vertices (``J = R @ V``), so joints can be regressed from a
predicted mesh exactly like from a ground-truth one (Sec. 3.3: "get 3D joints from human mesh
employing joint regressor").
"""
from __future__ import annotations

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)

LSP_JOINT_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck", "head_top",
)


def _flip_perm(names: tuple[str, ...]) -> tuple[int, ...]:
    """Index permutation that swaps every ``left_*`` joint with its ``right_*`` twin."""
    def swap(name: str) -> str:
        if name.startswith("left_"):
            return "right_" + name[5:]
        if name.startswith("right_"):
            return "left_" + name[6:]
        return name

    return tuple(names.index(swap(n)) for n in names)


#: ``joints[:, SMPL_FLIP_PERM]`` is the joint set of the mirrored body (after negating x).
SMPL_FLIP_PERM: tuple[int, ...] = _flip_perm(SMPL_JOINT_NAMES)
#: ``lsp[:, LSP_FLIP_PERM]`` is the LSP joint set of the mirrored body (after negating x).
LSP_FLIP_PERM: tuple[int, ...] = _flip_perm(LSP_JOINT_NAMES)

#: LSP joints 0..12 taken from the 24 SMPL joints; joint 13 (head top) is a mesh vertex.
LSP_FROM_SMPL: tuple[int, ...] = tuple(
    SMPL_JOINT_NAMES.index(n) for n in LSP_JOINT_NAMES[:-1]
)

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
LSP_HIPS = (LSP_JOINT_NAMES.index("right_hip"), LSP_JOINT_NAMES.index("left_hip"))
