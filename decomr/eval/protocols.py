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

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence, Union

import numpy as np
import torch

from decomr.eval.metrics import LSP_HIP_INDICES, mpjpe, pa_mpjpe, root_joint

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
# Joint sets of the official files
# --------------------------------------------------------------------------------------------
#: The 24-joint superset of the official ``.npz`` files (``part``, ``S``; CMR ``utils/config.py``).
#: The first 14 are the LSP joints. SURREAL's files use the 24 SMPL joints instead.
OFFICIAL_J24_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "neck_lsp", "head_top_lsp", "pelvis_mpii", "thorax_mpii", "spine_h36m", "jaw_h36m",
    "head_h36m", "nose", "left_eye", "right_eye", "left_ear", "right_ear",
)
#: The 14 evaluation joints from the official 24 (head top -> H36M head, which H36M provides).
J24_TO_J14: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 18)
#: The pelvis among the official 24 joints (H36M's root; the official S files are centred on it).
J24_PELVIS = 14

#: The 17 joints of ``J_regressor_h36m.npy`` and of the official H36M ground truth, in the order
#: the CMR/SPIN files use (their preprocessing puts the raw "Left*" leg joints at 1-3, hence
#: left before right; consistent with ``H36M_TO_J14`` below).
H36M_J17_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle",
    "spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)
#: The 14 LSP joints from the 17 H36M ones (CMR/SPIN ``H36M_TO_J14``).
H36M_TO_J14: tuple[int, ...] = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)
#: Root of the CMR/SPIN protocol: the H36M pelvis.
H36M_PELVIS = 0


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
    from decomr.paths import data_dir

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
    return EvalJoints(j17[:, list(H36M_TO_J14)] - root, root, conv.name)


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
    j14 = j24[:, list(J24_TO_J14)]
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


# --------------------------------------------------------------------------------------------
# Human3.6M protocols P1 / P2
# --------------------------------------------------------------------------------------------
#: Test subjects (Sec. 4.1: S1, S5, S6, S7, S8 train; S9, S11 test).
H36M_TEST_SUBJECTS: tuple[int, ...] = (9, 11)
#: The frontal camera of protocol 2.
H36M_FRONTAL_CAMERA = "60457274"
#: Both protocols keep every 5th frame (frames 1, 6, 11, ... in the 1-based image names).
H36M_FRAME_STRIDE = 5

_H36M_NAME = re.compile(r"(?:^|[/\\])S(\d+)_(.+)\.(\d+)_(\d+)\.(?:jpg|jpeg|png)$", re.IGNORECASE)


@dataclass(frozen=True)
class H36MFrame:
    """What an official H36M image name encodes.

    Attributes:
        subject: e.g. 9 for ``S9``.
        action: e.g. ``"Directions_1"`` (spaces were replaced by underscores).
        camera: e.g. ``"60457274"``.
        frame: 1-based frame number in the video.
    """

    subject: int
    action: str
    camera: str
    frame: int


def parse_h36m_imgname(name: str) -> H36MFrame:
    """Parse ``[images/]S9_Directions_1.54138969_000001.jpg``.

    Raises:
        ValueError: the name does not follow the official pattern.
    """
    m = _H36M_NAME.search(str(name))
    if m is None:
        raise ValueError(
            f"name: expected an official H36M image name like 'images/S9_Directions_1.54138969_000001.jpg', got {name!r}")
    return H36MFrame(int(m.group(1)), m.group(2), m.group(3), int(m.group(4)))


def _protocol(protocol: Union[int, str]) -> int:
    p = {1: 1, 2: 2, "1": 1, "2": 2, "p1": 1, "p2": 2}.get(
        protocol.lower() if isinstance(protocol, str) else protocol)
    if p is None:
        raise ValueError(f"protocol: expected 1, 2, 'p1' or 'p2', got {protocol!r}")
    return p


def in_h36m_protocol(frame: H36MFrame, protocol: Union[int, str]) -> bool:
    """Whether a parsed frame belongs to protocol P1 or P2 (see :func:`h36m_protocol_mask`)."""
    p = _protocol(protocol)
    return (frame.subject in H36M_TEST_SUBJECTS
            and (frame.frame - 1) % H36M_FRAME_STRIDE == 0
            and (p == 1 or frame.camera == H36M_FRONTAL_CAMERA))


def h36m_protocol_mask(imgnames: Sequence[str], protocol: Union[int, str]) -> np.ndarray:
    """Which official H36M image names belong to protocol P1 or P2.

    Both protocols: subjects S9 and S11, frames 1, 6, 11, ... (every 5th). P1: all cameras;
    P2: camera 60457274 only.

    Args:
        imgnames: official image names (with or without the ``images/`` folder).
        protocol: 1 / 2 (or ``"p1"`` / ``"p2"``).

    Returns:
        (N,) bool array.
    """
    p = _protocol(protocol)
    return np.fromiter((in_h36m_protocol(parse_h36m_imgname(n), p) for n in imgnames),
                       dtype=bool, count=len(imgnames))


def filter_h36m_imgnames(imgnames: Sequence[str], protocol: Union[int, str]) -> list[int]:
    """Indices of the image names kept by protocol P1 or P2 (see :func:`h36m_protocol_mask`)."""
    return np.flatnonzero(h36m_protocol_mask(imgnames, protocol)).tolist()
