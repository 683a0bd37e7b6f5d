"""Named evaluation protocols: which 14 joints, which root, which H36M frames (Tables 2, 5).

Papers report "MPJPE on H36M" under slightly different conventions, and the numbers move by a few
millimetres between them. decomr names the two that matter here:

``"decomr"`` (the official DecoMR ``eval.py``)
    The 14 LSP joints are regressed from the mesh with the body model's own LSP regressor
    (``body.regress_joints(vertices)[1]``; SMPL: ``get_train_joints`` + ``J24_TO_J14``), and every
    skeleton, predicted or ground truth, is centred on the midpoint of its two hips.
``"cmr-spin"`` (CMR / SPIN ``eval.py``)
    The 17 H36M joints are regressed with SMPL's ``J_regressor_h36m.npy`` (a 17 x 6890 matrix from
    the SPIN/CMR data folders), the 14 LSP joints are picked with ``H36M_TO_J14``, and every
    skeleton is centred on the H36M pelvis (H36M joint 0; the official ground-truth files are
    already pelvis-centred). Needs the SMPL mesh (6890 vertices).

Human3.6M protocols (Sec. 4.1, "as defined in [18]" = HMR): subjects S9 and S11, every 5th frame;
**P1** uses all four cameras, **P2** only the frontal camera 60457274. Official image names look
like ``images/S9_Directions_1.54138969_000001.jpg`` (subject, action, camera, 1-based frame).

>>> [parse_h36m_imgname(n).camera for n in ["images/S9_Directions_1.54138969_000001.jpg"]]
['54138969']
>>> names = ["S9_Walking.60457274_000001.jpg", "S9_Walking.54138969_000001.jpg",
...          "S11_Walking.60457274_000003.jpg", "S1_Walking.60457274_000001.jpg"]
>>> filter_h36m_imgnames(names, 1), filter_h36m_imgnames(names, 2)
([0, 1], [0])
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from decomr.body.joints import H36M_J17_NAMES, JOINT_SETS, OFFICIAL_J24_NAMES, conversion_indices, convert
from decomr.data.h36m import (H36M_FRAME_STRIDE, H36M_FRONTAL_CAMERA, H36M_TEST_SUBJECTS, H36MFrame,
                              filter_h36m_imgnames, h36m_protocol_mask, in_h36m_protocol, parse_h36m_imgname)
from decomr.eval.metrics import LSP_HIP_INDICES, mpjpe, pa_mpjpe, root_joint
from decomr.paths import data_dir

__all__ = [
    "OFFICIAL_J24_NAMES",
    "J24_TO_J14",
    "J24_PELVIS",
    "H36M_J17_NAMES",
    "H36M_TO_J14",
    "H36M_PELVIS",
    "JointConvention",
    "JOINT_CONVENTIONS",
    "h36m_regressor_path",
    "load_h36m_regressor",
    "EvalJoints",
    "predicted_eval_joints",
    "gt_eval_joints_from_j24",
    "JointErrors",
    "joint_errors",
    "H36M_TEST_SUBJECTS",
    "H36M_FRONTAL_CAMERA",
    "H36M_FRAME_STRIDE",
    "H36MFrame",
    "parse_h36m_imgname",
    "in_h36m_protocol",
    "h36m_protocol_mask",
    "filter_h36m_imgnames",
]

# --------------------------------------------------------------------------------------------
# Joint sets of the official files (owned by decomr.body.joints: "j24", "h36m17", "j14")
# --------------------------------------------------------------------------------------------
#: The 14 evaluation joints from the official 24 (head top -> H36M head, which H36M provides).
J24_TO_J14: tuple[int, ...] = conversion_indices("j24", "j14")
#: The pelvis among the official 24 joints (H36M's root; the official S files are centred on it).
J24_PELVIS = JOINT_SETS["j24"].index("pelvis_mpii")
#: The 14 LSP joints from the 17 H36M ones (CMR/SPIN ``H36M_TO_J14``; thorax as neck, H36M head).
H36M_TO_J14: tuple[int, ...] = conversion_indices("h36m17", "j14")
#: Root of the CMR/SPIN protocol: the H36M pelvis.
H36M_PELVIS = JOINT_SETS["h36m17"].index("pelvis")


@dataclass(frozen=True)
class JointConvention:
    """How the 14 evaluation joints are obtained from a mesh and aligned.

    Attributes:
        name: ``"decomr"`` or ``"cmr-spin"``.
        regressor: ``"body-lsp"`` (the body model's LSP regressor) or ``"smpl-h36m"``
            (``J_regressor_h36m.npy`` + ``H36M_TO_J14``).
        root: ``"hips"`` (midpoint of the LSP hips) or ``"pelvis"`` (H36M joint 0).
        description: one line for reports.
    """

    name: str
    regressor: Literal["body-lsp", "smpl-h36m"]
    root: Literal["hips", "pelvis"]
    description: str


JOINT_CONVENTIONS: dict[str, JointConvention] = {
    "decomr": JointConvention(
        "decomr", "body-lsp", "hips",
        "14 LSP joints regressed from the mesh, centred on the hip midpoint (official DecoMR eval.py)"),
    "cmr-spin": JointConvention(
        "cmr-spin", "smpl-h36m", "pelvis",
        "17 H36M joints (J_regressor_h36m) -> 14 via H36M_TO_J14, centred on the H36M pelvis (CMR/SPIN)"),
}


def _convention(name: str | JointConvention) -> JointConvention:
    if isinstance(name, JointConvention):
        return name
    if name not in JOINT_CONVENTIONS:
        raise ValueError(f"convention: expected one of {sorted(JOINT_CONVENTIONS)}, got {name!r}")
    return JOINT_CONVENTIONS[name]


# --------------------------------------------------------------------------------------------
# The H36M regressor (user-supplied, SMPL only)
# --------------------------------------------------------------------------------------------
def h36m_regressor_path() -> Path:
    """Where decomr looks for ``J_regressor_h36m.npy``: ``data/body_models/smpl/``."""
    return data_dir() / "body_models" / "smpl" / "J_regressor_h36m.npy"


def load_h36m_regressor(path: str | Path | None = None, num_vertices: int | None = None) -> torch.Tensor:
    """Load SMPL's H36M joint regressor (needed by the ``"cmr-spin"`` convention).

    Args:
        path: the ``.npy`` file; default :func:`h36m_regressor_path`.
        num_vertices: if given, check the regressor has this many columns (6890 for SMPL).

    Returns:
        (17, V) float32 regressor.

    Raises:
        FileNotFoundError: the file is missing (the message says where to get it and where to
            put it).
        ValueError: the file is not a (17, V) matrix, or V != ``num_vertices``.
    """
    path = Path(path) if path is not None else h36m_regressor_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"The 'cmr-spin' protocol needs SMPL's H36M joint regressor, not found at {path}. "
            "It ships with the CMR/SPIN data folders as 'J_regressor_h36m.npy' (SPIN: "
            "fetch_data.sh -> data/J_regressor_h36m.npy; DecoMR/CMR: data/J_regressor_h36m.npy). "
            f"Copy it to {h36m_regressor_path()} (or pass path=...). It only applies to the SMPL mesh; "
            "with other body models use the 'decomr' convention.")
    try:
        R = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ValueError(f"{path}: not a readable .npy array ({err}); re-copy J_regressor_h36m.npy") from err
    if R.ndim != 2 or R.shape[0] != 17:
        raise ValueError(f"{path}: expected a (17, V) regressor, got shape {R.shape}")
    if num_vertices is not None and R.shape[1] != num_vertices:
        raise ValueError(
            f"{path}: the H36M regressor has {R.shape[1]} columns but the mesh has {num_vertices} "
            "vertices; it is defined on SMPL (6890). Use the 'decomr' convention for other body models.")
    return torch.from_numpy(np.asarray(R, dtype=np.float32))


# --------------------------------------------------------------------------------------------
# Evaluation joints
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalJoints:
    """The 14 evaluation joints of a batch, root-centred.

    Attributes:
        joints: (B, 14, 3) joints minus ``root`` (LSP order).
        root: (B, 1, 3) the root that was subtracted.
        convention: the convention's name.
    """

    joints: torch.Tensor
    root: torch.Tensor
    convention: str


def predicted_eval_joints(vertices: torch.Tensor, convention: str | JointConvention = "decomr",
                          body=None, h36m_regressor: torch.Tensor | None = None) -> EvalJoints:
    """The 14 root-centred evaluation joints of meshes (predicted, or ground truth from SMPL
    parameters as for 3DPW/UP-3D).

    Args:
        vertices: (B, V, 3) meshes, metres.
        convention: ``"decomr"`` or ``"cmr-spin"`` (see the module docstring).
        body: the body model (``"decomr"``): anything with ``regress_joints(vertices) ->
            (joints (B, 24, 3), lsp_joints (B, 14, 3))`` (``decomr.body.BodyModel``).
        h36m_regressor: (17, V) for ``"cmr-spin"``; loaded with :func:`load_h36m_regressor`
            when omitted.

    Returns:
        :class:`EvalJoints`.
    """
    conv = _convention(convention)
    if vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices: expected shape (B, V, 3), got {tuple(vertices.shape)}")
    if conv.regressor == "body-lsp":
        if body is None or not hasattr(body, "regress_joints"):
            raise ValueError("body: the 'decomr' convention needs the body model (with regress_joints)")
        lsp = body.regress_joints(vertices)[1]  # (B, 14, 3)
        if lsp.shape[1:] != (14, 3):
            raise ValueError(f"body.regress_joints: expected LSP joints (B, 14, 3), got {tuple(lsp.shape)}")
        root = root_joint(lsp, "hips", LSP_HIP_INDICES)
        return EvalJoints(lsp - root, root, conv.name)
    R = h36m_regressor if h36m_regressor is not None else load_h36m_regressor(num_vertices=vertices.shape[1])
    if R.dim() != 2 or R.shape != (17, vertices.shape[1]):
        raise ValueError(f"h36m_regressor: expected shape (17, {vertices.shape[1]}), got {tuple(R.shape)}")
    j17 = torch.einsum("jv,bvc->bjc", R.to(vertices), vertices)  # (B, 17, 3)
    root = j17[:, [H36M_PELVIS]]
    return EvalJoints(convert(j17, "h36m17", "j14")[0] - root, root, conv.name)


def gt_eval_joints_from_j24(joints24: torch.Tensor, convention: str | JointConvention = "decomr") -> EvalJoints:
    """The 14 root-centred evaluation joints of the official ground truth ``S`` (H36M).

    Note: H36M has no LSP head top, so joint 13 here is the H36M head (``J24_TO_J14``), as in the
    official code, whose *predicted* joints come from a regressor that also returns the H36M head.
    A body model whose LSP joint 13 is the head top (Anny's ``lsp_regressor``) is therefore
    biased on that joint against H36M ground truth.

    Args:
        joints24: (B, 24, 3) or (B, 24, 4) joints in the official 24-joint order
            (:data:`OFFICIAL_J24_NAMES`; a 4th confidence column is dropped), metres.
        convention: ``"decomr"`` (hip midpoint) or ``"cmr-spin"`` (pelvis, joint 14).

    Returns:
        :class:`EvalJoints`.
    """
    conv = _convention(convention)
    if joints24.dim() != 3 or joints24.shape[1] != 24 or joints24.shape[2] not in (3, 4):
        raise ValueError(f"joints24: expected shape (B, 24, 3) or (B, 24, 4), got {tuple(joints24.shape)}")
    j24 = joints24[..., :3]
    j14, _ = convert(j24, "j24", "j14")
    root = root_joint(j14, "hips", LSP_HIP_INDICES) if conv.root == "hips" else j24[:, [J24_PELVIS]]
    return EvalJoints(j14 - root, root, conv.name)


@dataclass(frozen=True)
class JointErrors:
    """Per-sample joint errors (input units; the paper reports millimetres).

    Attributes:
        mpjpe: (B,) MPJPE after root alignment (Tables 2, 5).
        pa_mpjpe: (B,) MPJPE after Procrustes alignment (Tables 2, 5: "MPJPE-PA").
    """

    mpjpe: torch.Tensor
    pa_mpjpe: torch.Tensor


def joint_errors(pred: EvalJoints, gt: EvalJoints) -> JointErrors:
    """MPJPE and PA-MPJPE between two root-centred :class:`EvalJoints` of the same convention."""
    if pred.convention != gt.convention:
        raise ValueError(f"gt: expected convention {pred.convention!r} like pred, got {gt.convention!r}")
    return JointErrors(mpjpe=mpjpe(pred.joints, gt.joints, root=None),
                       pa_mpjpe=pa_mpjpe(pred.joints, gt.joints))
