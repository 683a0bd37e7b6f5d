"""Evaluation metrics of DecoMR (Sec. 4, Tables 2-5).

* The errors between bodies — :func:`mpjpe`, :func:`pa_mpjpe`, :func:`per_vertex_error`,
  :func:`facing_error` (Tables 2, 3, 5) — live in :mod:`decomr.body.metrics` (training uses them
  too) and are re-exported here.
* :class:`SegmentationCounter` — LSP foreground / 6-part segmentation accuracy and F1 (Table 4),
  with pixel counts accumulated over the whole dataset like the official (UP-3D) evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from decomr.body import metrics as _body_metrics
from decomr.body.metrics import (LSP_HIP_INDICES, SimilarityTransform, facing_direction,  # noqa: F401 (re-exported)
                                 facing_error, mpjpe, pa_mpjpe, per_vertex_error, root_joint, similarity_procrustes,
                                 similarity_transform)

__all__ = [*_body_metrics.__all__, "SegmentationScores", "SegmentationCounter"]


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
        return float(self.f1_per_class().nanmean())  # NaN when no class occurs

    def result(self, ignored: Literal["background", "exclude"] = "background") -> SegmentationScores:
        """All scores as a :class:`SegmentationScores`."""
        return SegmentationScores(
            accuracy=self.accuracy(ignored), f1_per_class=self.f1_per_class(),
            mean_f1=self.mean_f1(), confusion=self.confusion.clone(),
            num_pixels=int(self.confusion.sum()),
        )
