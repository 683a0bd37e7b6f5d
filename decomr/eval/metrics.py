"""Evaluation metrics of DecoMR (Sec. 4, Tables 2-5), as pure batched torch functions.

* :func:`mpjpe` — mean per-joint position error after root alignment (Tables 2 and 5, "MPJPE").
* :func:`similarity_procrustes` / :func:`pa_mpjpe` — error after the best similarity transform
  (scale, rotation, translation; Umeyama 1991, SPIN/CMR ``compute_similarity_transform``):
  "MPJPE-PA" / reconstruction error of Tables 2 and 5.
* :func:`per_vertex_error` — SURREAL surface error (Table 3): mean vertex distance after aligning
  the hip midpoints.
* :class:`SegmentationCounter` — LSP foreground / 6-part segmentation accuracy and F1 (Table 4),
  with pixel counts accumulated over the whole dataset like the official (UP-3D) evaluation.

All functions keep the input units (the official numbers are millimetres: multiply metres by
1000) and dtype; the Procrustes solve runs in float64 internally.

>>> import torch
>>> gt = torch.randn(2, 14, 3, dtype=torch.float64)
>>> mpjpe(gt + 1.0, gt).shape
torch.Size([2])
>>> bool(mpjpe(gt + 1.0, gt).max() < 1e-12)   # a translation vanishes after root alignment
True
>>> bool(pa_mpjpe(3 * gt, gt).max() < 1e-12)
True
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence, Union

import numpy as np
import torch

__all__ = [
    "LSP_HIP_INDICES",
    "root_joint",
    "mpjpe",
    "SimilarityTransform",
    "similarity_transform",
    "similarity_procrustes",
    "pa_mpjpe",
    "per_vertex_error",
    "facing_direction",
    "facing_error",
    "SegmentationScores",
    "SegmentationCounter",
]

#: Right and left hip among the 14 LSP joints (order: R ankle, R knee, R hip, L hip, L knee,
#: L ankle, R wrist, R elbow, R shoulder, L shoulder, L elbow, L wrist, neck, head top).
#: DecoMR's evaluation centres both skeletons on their midpoint (official ``eval.py``).
LSP_HIP_INDICES: tuple[int, int] = (2, 3)

Root = Union[int, Literal["hips"], None]


def _check_points(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor of shape (B, N, 3), got {type(x).__name__}")
    if x.dim() != 3 or x.shape[-1] != 3:
        raise ValueError(f"{name}: expected shape (B, N, 3), got {tuple(x.shape)}")


def _check_pair(pred: torch.Tensor, gt: torch.Tensor) -> None:
    _check_points("pred", pred)
    _check_points("gt", gt)
    if pred.shape != gt.shape:
        raise ValueError(f"gt: expected the shape of pred {tuple(pred.shape)}, got {tuple(gt.shape)}")


def root_joint(joints: torch.Tensor, root: Root = "hips",
               hips: Sequence[int] = LSP_HIP_INDICES) -> torch.Tensor:
    """The root used to align a skeleton.

    Args:
        joints: (B, J, 3).
        root: ``"hips"`` (midpoint of ``joints[:, hips]``, DecoMR's convention on the 14 LSP
            joints), a joint index (e.g. 0 = the H36M/SMPL pelvis, CMR/SPIN's convention) or
            ``None`` (no alignment: the origin).
        hips: indices of the two hips for ``root="hips"``.

    Returns:
        (B, 1, 3) root positions (zeros for ``root=None``).
    """
    _check_points("joints", joints)
    J = joints.shape[1]
    if root is None:
        return joints.new_zeros(joints.shape[0], 1, 3)
    if root == "hips":
        if len(hips) != 2 or not all(-J <= h < J for h in hips):
            raise ValueError(f"hips: expected two joint indices in [0, {J}), got {tuple(hips)}")
        return joints[:, list(hips)].mean(dim=1, keepdim=True)
    if isinstance(root, (int, np.integer)) and not isinstance(root, bool):
        if not -J <= root < J:
            raise ValueError(f"root: expected a joint index in [0, {J}), got {root}")
        return joints[:, [int(root)]]
    raise ValueError(f"root: expected 'hips', a joint index or None, got {root!r}")


def mpjpe(pred: torch.Tensor, gt: torch.Tensor, root: Root = "hips",
          hips: Sequence[int] = LSP_HIP_INDICES) -> torch.Tensor:
    """Mean per-joint position error after root alignment (Tables 2, 5: "MPJPE").

    Each skeleton is translated so that its own root is at the origin, then the Euclidean joint
    distances are averaged.

    Args:
        pred: (B, J, 3) predicted joints.
        gt: (B, J, 3) ground-truth joints, same units.
        root: see :func:`root_joint` (``"hips"`` for the DecoMR protocol, ``0`` for the H36M
            pelvis of the CMR/SPIN protocol, ``None`` for no alignment).
        hips: hip indices for ``root="hips"`` (LSP order by default).

    Returns:
        (B,) per-sample error in the input units.
    """
    _check_pair(pred, gt)
    p = pred - root_joint(pred, root, hips)
    g = gt - root_joint(gt, root, hips)
    return torch.linalg.norm(p - g, dim=-1).mean(dim=-1)


@dataclass(frozen=True)
class SimilarityTransform:
    """``x -> scale * R x + t`` that best maps one point set onto another.

    Attributes:
        scale: (B,) scale factors (>= 0).
        rotation: (B, 3, 3) proper rotations (det = +1).
        translation: (B, 3).
    """

    scale: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor

    def apply(self, points: torch.Tensor) -> torch.Tensor:
        """Transform (B, N, 3) points; returns (B, N, 3) in the points' dtype."""
        _check_points("points", points)
        s = self.scale.to(points.dtype)[:, None, None]
        R = self.rotation.to(points.dtype)
        t = self.translation.to(points.dtype)[:, None, :]
        return s * points @ R.transpose(1, 2) + t  # (B, N, 3)


def similarity_transform(pred: torch.Tensor, gt: torch.Tensor, eps: float = 1e-12) -> SimilarityTransform:
    """Least-squares similarity transform from ``pred`` to ``gt`` (Umeyama; SPIN's
    ``compute_similarity_transform``).

    Minimises ``sum_i |s R p_i + t - g_i|^2`` over s >= 0, R in SO(3) and t. The reflection that
    an unconstrained orthogonal Procrustes may return is fixed by flipping the sign of the
    smallest singular direction. Solved in float64.

    Args:
        pred: (B, N, 3) source points.
        gt: (B, N, 3) target points.
        eps: a degenerate ``pred`` (all points equal, variance <= eps) gets scale 0, i.e. it is
            mapped onto the centroid of ``gt``.

    Returns:
        :class:`SimilarityTransform` (float64).
    """
    _check_pair(pred, gt)
    if pred.shape[1] < 1:
        raise ValueError("pred: expected at least one point")
    X = pred.double()
    Y = gt.double()
    mu_x, mu_y = X.mean(dim=1, keepdim=True), Y.mean(dim=1, keepdim=True)  # (B, 1, 3)
    Xc, Yc = X - mu_x, Y - mu_y
    var_x = (Xc ** 2).sum(dim=(1, 2))  # (B,)
    K = Xc.transpose(1, 2) @ Yc  # (B, 3, 3) = sum_i x_i y_i^T
    U, _, Vh = torch.linalg.svd(K)
    V = Vh.transpose(1, 2)
    # Z = diag(1, 1, sign(det(V U^T))) makes det(R) = +1 (the reflection fix).
    d = torch.where(torch.linalg.det(V @ U.transpose(1, 2)) < 0, -1.0, 1.0).to(X.dtype)
    Z = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = V @ Z @ U.transpose(1, 2)  # (B, 3, 3), maps x to y
    trace = torch.diagonal(R @ K, dim1=1, dim2=2).sum(-1)
    degenerate = var_x <= eps
    scale = torch.where(degenerate, torch.zeros_like(var_x), trace / var_x.clamp_min(eps))
    t = mu_y[:, 0] - scale[:, None] * (mu_x @ R.transpose(1, 2))[:, 0]
    return SimilarityTransform(scale=scale, rotation=R, translation=t)


def similarity_procrustes(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """``pred`` after the best similarity transform onto ``gt`` (Procrustes alignment).

    Args:
        pred: (B, N, 3).
        gt: (B, N, 3).

    Returns:
        (B, N, 3) aligned ``pred``, in ``pred``'s dtype.
    """
    return similarity_transform(pred, gt).apply(pred.double()).to(pred.dtype)


def pa_mpjpe(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Procrustes-aligned MPJPE (Tables 2 and 5: "MPJPE-PA", a.k.a. reconstruction error).

    Args:
        pred: (B, J, 3) predicted joints.
        gt: (B, J, 3) ground-truth joints.

    Returns:
        (B,) per-sample error in the input units (root alignment is irrelevant: the similarity
        transform includes a translation).
    """
    aligned = similarity_procrustes(pred, gt)
    return torch.linalg.norm(aligned - gt.to(aligned.dtype), dim=-1).mean(dim=-1)


def facing_direction(lsp_joints: torch.Tensor) -> torch.Tensor:
    """Unit vector the torso faces, from 14 LSP joints (not a paper metric: a diagnostic).

    ``forward = normalize(left x up)`` with ``left`` = (left hip - right hip) + (left shoulder -
    right shoulder) and ``up`` = neck - hip midpoint: perpendicular to the shoulders and hips, in
    the direction the chest faces.

    Args:
        lsp_joints: (B, 14, 3) LSP joints (order of :data:`decomr.body.joints.LSP_JOINT_NAMES`).

    Returns:
        (B, 3) unit vectors.
    """
    _check_points("lsp_joints", lsp_joints)
    if lsp_joints.shape[1] != 14:
        raise ValueError(f"lsp_joints: expected (B, 14, 3), got {tuple(lsp_joints.shape)}")
    j = lsp_joints
    left = (j[:, 3] - j[:, 2]) + (j[:, 9] - j[:, 8])  # (B, 3)
    up = j[:, 12] - 0.5 * (j[:, 2] + j[:, 3])
    return torch.nn.functional.normalize(torch.linalg.cross(left, up), dim=-1, eps=1e-12)


def facing_error(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Angle between the predicted and the true facing directions, degrees (0..180).

    Tells whether a model knows which way a person faces: a model that cannot tell front from
    back scores ~90 on average over people facing every direction, and predicts squashed
    bodies (the average over orientations).

    Args:
        pred: (B, 14, 3) predicted LSP joints. gt: (B, 14, 3) true LSP joints (same frame).

    Returns:
        (B,) degrees.

    >>> j = torch.zeros(1, 14, 3); j[0, 2, 0], j[0, 3, 0], j[0, 8, 0], j[0, 9, 0], j[0, 12, 1] = -1, 1, -1, 1, 1
    >>> float(facing_error(j, j)), float(facing_error(j * torch.tensor([-1.0, 1.0, -1.0]), j))
    (0.0, 180.0)
    """
    _check_pair(pred, gt)
    cos = (facing_direction(pred) * facing_direction(gt.to(pred.dtype))).sum(-1).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.arccos(cos))


def per_vertex_error(pred: torch.Tensor, gt: torch.Tensor,
                     align: Literal["hips", "pelvis"] | None = "hips",
                     pred_joints: torch.Tensor | None = None,
                     gt_joints: torch.Tensor | None = None,
                     hips: Sequence[int] = LSP_HIP_INDICES) -> torch.Tensor:
    """Mean per-vertex Euclidean error (Table 3: SURREAL "surface error").

    The paper (and the official ``eval.py``) translate each mesh so that the midpoint of its two
    hips (regressed from that mesh) is at the origin, then average the vertex distances.

    Args:
        pred: (B, V, 3) predicted vertices.
        gt: (B, V, 3) ground-truth vertices (same topology).
        align: ``"hips"`` (Table 3): subtract the hip midpoint of ``pred_joints``/``gt_joints``
            (the 14 LSP joints regressed from each mesh, hips at ``hips``); ``"pelvis"``:
            subtract joint 0 of the joints given (e.g. the 24 SMPL-like joints, pelvis first);
            ``None``: compare the raw vertices.
        pred_joints: (B, J, 3) joints of the predicted mesh (required unless ``align=None``).
        gt_joints: (B, J, 3) joints of the ground-truth mesh.
        hips: hip indices for ``align="hips"``.

    Returns:
        (B,) per-sample mean vertex error in the input units.
    """
    _check_pair(pred, gt)
    if align is None:
        return torch.linalg.norm(pred - gt, dim=-1).mean(dim=-1)
    if align not in ("hips", "pelvis"):
        raise ValueError(f"align: expected 'hips', 'pelvis' or None, got {align!r}")
    if pred_joints is None or gt_joints is None:
        raise ValueError(f"pred_joints/gt_joints: required for align={align!r} (joints regressed from each mesh)")
    _check_points("pred_joints", pred_joints)
    _check_points("gt_joints", gt_joints)
    if pred_joints.shape[0] != pred.shape[0] or gt_joints.shape != pred_joints.shape:
        raise ValueError(
            f"gt_joints: expected matching (B, J, 3) joints for both meshes with B={pred.shape[0]}, "
            f"got {tuple(pred_joints.shape)} and {tuple(gt_joints.shape)}")
    root = "hips" if align == "hips" else 0
    p = pred - root_joint(pred_joints, root, hips)
    g = gt - root_joint(gt_joints, root, hips)
    return torch.linalg.norm(p - g, dim=-1).mean(dim=-1)


# --------------------------------------------------------------------------------------------
# Segmentation (Table 4)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SegmentationScores:
    """Dataset-level segmentation scores (Table 4).

    Attributes:
        accuracy: fraction of correctly labelled pixels.
        f1_per_class: (C,) float64 F1 per class, background first (NaN for a class that never
            occurs in the ground truth nor in the prediction).
        mean_f1: mean of ``f1_per_class`` over the classes that occur (background included).
        confusion: (C, C) int64 pixel counts, rows = ground truth, columns = prediction.
        num_pixels: number of pixels counted (ignored pixels excluded).
    """

    accuracy: float
    f1_per_class: torch.Tensor
    mean_f1: float
    confusion: torch.Tensor
    num_pixels: int


class SegmentationCounter:
    """Accumulates a confusion matrix over a dataset for foreground/part segmentation (Table 4).

    Scores are computed from counts summed over *all* pixels of *all* images (not averaged per
    image), like the official evaluation: ``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)``, the mean F1
    is over every class including background (2 classes for foreground-background, 7 for the six
    LSP parts + background).

    Ground-truth pixels equal to ``ignore_index`` (255 in the UP-3D part annotations) never
    count as TP/FP/FN. For accuracy the official code treats them as background (a prediction of
    0 there is "correct"); ``accuracy(ignored="background")`` reproduces that, ``"exclude"``
    leaves them out.

    Args:
        num_classes: C (2 or 7 for Table 4).
        ignore_index: optional ground-truth label to ignore.

    >>> counter = SegmentationCounter(2)
    >>> counter.update(torch.tensor([[1, 1], [0, 0]]), torch.tensor([[1, 0], [0, 0]]))
    >>> counter.accuracy(), round(counter.mean_f1(), 4)
    (0.75, 0.7333)
    """

    def __init__(self, num_classes: int, ignore_index: int | None = None):
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
            raise ValueError(f"num_classes: expected an int >= 2, got {num_classes!r}")
        if ignore_index is not None and 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index: expected a label outside [0, {num_classes}), got {ignore_index}")
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index
        self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)
        self.num_ignored = 0  # ground-truth pixels equal to ignore_index
        self.num_ignored_pred_background = 0  # ... where the prediction is 0 (background)
        self.num_images = 0

    @staticmethod
    def _labels(name: str, x) -> torch.Tensor:
        t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.array(x))
        if t.dtype == torch.bool:
            t = t.long()
        if t.is_floating_point() or t.is_complex():
            raise ValueError(f"{name}: expected integer or bool labels, got {t.dtype}")
        if t.dim() not in (2, 3):
            raise ValueError(f"{name}: expected shape (H, W) or (B, H, W), got {tuple(t.shape)}")
        return t.detach().cpu().long()

    def update(self, pred, gt) -> None:
        """Add one image or a batch.

        Args:
            pred: (H, W) or (B, H, W) predicted labels in [0, C) (bool for masks).
            gt: same shape, ground-truth labels in [0, C) or ``ignore_index``.
        """
        p, g = self._labels("pred", pred), self._labels("gt", gt)
        if p.shape != g.shape:
            raise ValueError(f"gt: expected the shape of pred {tuple(p.shape)}, got {tuple(g.shape)}")
        C = self.num_classes
        if p.numel() and (p.min() < 0 or p.max() >= C):
            raise ValueError(f"pred: expected labels in [0, {C}), got values in [{p.min().item()}, {p.max().item()}]")
        valid = torch.ones_like(g, dtype=torch.bool)
        if self.ignore_index is not None:
            ignored = g == self.ignore_index
            valid = ~ignored
            self.num_ignored += int(ignored.sum())
            self.num_ignored_pred_background += int((ignored & (p == 0)).sum())
        gv, pv = g[valid], p[valid]
        if gv.numel() and (gv.min() < 0 or gv.max() >= C):
            bad = gv[(gv < 0) | (gv >= C)][0].item()
            raise ValueError(f"gt: expected labels in [0, {C})"
                             + (f" or {self.ignore_index}" if self.ignore_index is not None else "")
                             + f", got {bad}")
        self.confusion += torch.bincount(gv * C + pv, minlength=C * C).reshape(C, C)
        self.num_images += 1 if g.dim() == 2 else g.shape[0]

    def merge(self, other: "SegmentationCounter") -> "SegmentationCounter":
        """Add another counter's counts (e.g. from another worker); returns ``self``."""
        if other.num_classes != self.num_classes or other.ignore_index != self.ignore_index:
            raise ValueError("other: expected a counter with the same num_classes and ignore_index")
        self.confusion += other.confusion
        self.num_ignored += other.num_ignored
        self.num_ignored_pred_background += other.num_ignored_pred_background
        self.num_images += other.num_images
        return self

    def _require_counts(self) -> None:
        if int(self.confusion.sum()) + self.num_ignored == 0:
            raise ValueError("SegmentationCounter: no pixel counted yet (call update first)")

    def accuracy(self, ignored: Literal["background", "exclude"] = "background") -> float:
        """Pixel accuracy over the dataset.

        Args:
            ignored: how ground-truth ``ignore_index`` pixels count: ``"background"`` (official:
                correct when predicted as background) or ``"exclude"``.
        """
        self._require_counts()
        correct = int(torch.diagonal(self.confusion).sum())
        total = int(self.confusion.sum())
        if ignored == "background":
            correct += self.num_ignored_pred_background
            total += self.num_ignored
        elif ignored != "exclude":
            raise ValueError(f"ignored: expected 'background' or 'exclude', got {ignored!r}")
        return correct / total if total else float("nan")

    def f1_per_class(self) -> torch.Tensor:
        """(C,) float64 F1 of each class, background first (NaN where the class never occurs)."""
        self._require_counts()
        cm = self.confusion.double()
        tp = torch.diagonal(cm)
        fp = cm.sum(dim=0) - tp  # predicted c, ground truth not c
        fn = cm.sum(dim=1) - tp  # ground truth c, predicted not c
        denom = 2 * tp + fp + fn
        return torch.where(denom > 0, 2 * tp / denom.clamp_min(1), torch.full_like(tp, float("nan")))

    def mean_f1(self) -> float:
        """Mean F1 over the classes (background included) that occur in gt or prediction."""
        f1 = self.f1_per_class()
        f1 = f1[~torch.isnan(f1)]
        return float(f1.mean()) if f1.numel() else float("nan")

    def result(self, ignored: Literal["background", "exclude"] = "background") -> SegmentationScores:
        """All scores as a :class:`SegmentationScores`."""
        return SegmentationScores(
            accuracy=self.accuracy(ignored), f1_per_class=self.f1_per_class(),
            mean_f1=self.mean_f1(), confusion=self.confusion.clone(),
            num_pixels=int(self.confusion.sum()),
        )
