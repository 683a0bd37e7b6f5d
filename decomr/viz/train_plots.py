"""Training plots: loss curves from ``metrics.jsonl`` and predictions beside ground truth.

* :func:`load_history` / :func:`plot_loss_curves` — the weighted loss terms (Eq. 1) and the
  evaluation metrics over the steps of a run, with the stage-1/stage-2 boundary marked.
* :func:`plot_learning_curve` — validation PA-MPJPE / MPJPE / mask IoU / facing error against
  the images seen, beside the template body's (and, optionally, the best constant prediction's).
* :func:`plot_probe` — what :func:`decomr.eval.diagnose.probe_run` measured over the first
  steps: errors and facing error, and each loss term's share of the gradient.
* :func:`iuv_rgb`, :func:`mesh_overlay`, :func:`prediction_panel` — IUV colours, a mesh over its
  crop, one row (input | GT IUV | predicted IUV | predicted mesh) as an image array: what
  TensorBoard shows during training (:mod:`decomr.train.panels`, re-exported here).
* :func:`plot_predictions` — a grid of such rows, GT mesh included, for notebooks.

>>> iuv_rgb(torch.zeros(3, 4, 4)).shape
(4, 4, 3)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from decomr.data.batch import Batch, as_batch
from decomr.train.panels import iuv_rgb, mesh_overlay, prediction_panel
from decomr.viz.body_plots import clean_axes, image_rgb

__all__ = ["load_history", "plot_loss_curves", "plot_learning_curve", "plot_probe", "iuv_rgb", "mesh_overlay", "prediction_panel", "plot_predictions"]

LOSS_TERMS = ("mask", "uv", "location_map", "joints3d", "joints2d", "consistency", "tv")


def load_history(run: str | Path | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The logged rows of a run: a run folder / ``metrics.jsonl`` path, or rows already loaded."""
    if not isinstance(run, (str, Path)):
        return list(run)
    path = Path(run)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no training log at {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_loss_curves(run: str | Path | Sequence[dict[str, Any]], terms: Sequence[str] = LOSS_TERMS,
                     metrics: Sequence[str] = ("pve", "mpjpe", "pa_mpjpe"), log_scale: bool = True):
    """Loss terms, evaluation errors (mm) and mask IoU against the step.

    Args:
        run: run folder, ``metrics.jsonl`` or a list of rows (``TrainResult.history``).
        terms: weighted loss terms to draw (``total`` is always drawn).
        metrics: evaluation errors (mm) to draw when logged.
        log_scale: log-scale y axis for the losses.

    Returns:
        matplotlib ``Figure`` with three panels.
    """
    import matplotlib.pyplot as plt

    rows = load_history(run)
    train = [r for r in rows if r.get("kind") == "train"]
    evals = [r for r in rows if r.get("kind") == "eval"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), gridspec_kw={"width_ratios": [2, 1.4, 1]})
    ax = axes[0]
    if train:
        steps = [r["step"] for r in train]
        ax.plot(steps, [r["total"] for r in train], color="black", lw=2, label="total (Eq. 1)")
        for term in terms:
            values = [r.get(term, 0.0) for r in train]
            if any(v > 0 for v in values):
                ax.plot(steps, [v if v > 0 else np.nan for v in values], lw=1, label=term)
        stage1 = [r["step"] for r in train if r.get("stage") == 1]
        if stage1 and any(r.get("stage") == 2 for r in train):
            for a in axes:
                a.axvline(max(stage1), color="grey", ls="--", lw=1)
            ax.text(max(stage1), 1.0, " stage 2 ", transform=ax.get_xaxis_transform(), va="top", fontsize=8,
                    color="grey")
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss")
    ax.set_title("training losses")
    ax.legend(fontsize=7, ncol=2)
    for ax, names, ylabel, title in ((axes[1], metrics, "error (mm)", "evaluation errors"),
                                     (axes[2], ("mask_iou",), "IoU", "foreground mask IoU (CNet)")):
        for name in names:
            pts = [(r["step"], r[name]) for r in evals if name in r]
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, marker="o", label=name)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if ax.get_legend_handles_labels()[1]:  # a metric was logged
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


#: Panels of :func:`plot_learning_curve`: metric, axis label.
CURVE_PANELS = (("pa_mpjpe", "PA-MPJPE (mm)"), ("mpjpe", "MPJPE (mm)"), ("mask_iou", "foreground IoU"),
                ("facing_error", "facing error (degrees)"))


def plot_learning_curve(run: str | Path | Sequence[dict[str, Any]], batch_size: int,
                        template: dict[str, float] | None = None, constant: dict[str, float] | None = None,
                        title: str | None = None):
    """Validation metrics against the number of training images seen.

    Args:
        run: run folder, ``metrics.jsonl`` or rows (the ``eval`` rows are drawn).
        batch_size: images per step (``config.train.batch_size``), for the x axis.
        template: the template body's metrics on the same validation images
            (:func:`decomr.eval.evaluate.template_baseline`), drawn as a dashed line.
        constant: optional metrics of the best constant prediction (the orientation-averaged body,
            :func:`decomr.eval.diagnose.constant_prediction_errors`), drawn dotted.
        title: figure title.

    Returns:
        matplotlib ``Figure``, one panel per metric of :data:`CURVE_PANELS` that was logged; the
        end of stage 1 (CNet alone: no mesh yet) is marked.
    """
    import matplotlib.pyplot as plt

    evals = sorted((r for r in load_history(run) if r.get("kind") == "eval"), key=lambda r: r["step"])
    if not evals:
        raise ValueError("run: no evaluation rows logged (train.eval_every = 0?)")
    panels = [(k, label) for k, label in CURVE_PANELS if any(k in r for r in evals)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    stage2 = [r["step"] for r in evals if r.get("stage") == 2]
    for ax, (key, label) in zip(axes[0], panels):
        rows = [r for r in evals if key in r]
        x = [r["step"] * batch_size / 1000 for r in rows]
        ax.plot(x, [r[key] for r in rows], "o-", color="tab:blue", markersize=3, label="DecoMR (validation)")
        for ref, color, style, name in ((template, "tab:red", "--", "template body"),
                                        (constant, "tab:gray", ":", "best constant (orientation average)")):
            if ref and key in ref:
                ax.axhline(ref[key], color=color, linestyle=style, linewidth=1.2, label=name)
        if stage2 and stage2[0] > min(r["step"] for r in evals):
            ax.axvline((stage2[0] - 1) * batch_size / 1000, color="0.7", linewidth=0.8)
        ax.set_xlabel("training images seen (thousands)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_probe(rows: Sequence[Any], template: dict[str, float] | None = None,
               constant: dict[str, float] | None = None):
    """The first steps of a run as measured by :func:`decomr.eval.diagnose.probe_run`.

    Args:
        rows: :class:`~decomr.eval.diagnose.ProbeRow` objects or their ``dataclasses.asdict`` dicts
            (e.g. read back from JSON).
        template, constant: metrics of the template body and of the best constant prediction
            (:func:`decomr.eval.diagnose.constant_prediction_errors`), drawn as lines.

    Returns:
        matplotlib ``Figure``: PA-MPJPE and MPJPE (mm), facing error (degrees), and the loss terms'
        shares of the summed gradient norms (stacked), against the step.
    """
    import dataclasses

    import matplotlib.pyplot as plt

    rows = [r if isinstance(r, dict) else dataclasses.asdict(r) for r in rows]
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    ax = axes[0]
    for key, colour in (("pa_mpjpe", "tab:blue"), ("mpjpe", "tab:orange")):
        ax.plot(steps, [r["metrics"].get(key, np.nan) for r in rows], "o-", color=colour, markersize=3, label=key)
        for ref, style, name in ((template, "--", "template"), (constant, ":", "best constant")):
            if ref and key in ref:
                ax.axhline(ref[key], color=colour, linestyle=style, linewidth=1, label=f"{name} {key}")
    ax.set_ylabel("validation error (mm)")
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.plot(steps, [r["metrics"].get("facing_error", np.nan) for r in rows], "o-", color="tab:green", markersize=3)
    ax.axhline(90, color="0.5", linestyle="--", linewidth=1, label="no idea of the orientation (90°)")
    ax.set_ylabel("facing error (degrees)")
    ax.legend(fontsize=7)
    ax = axes[2]
    terms = [t for t in LOSS_TERMS if any(t in r["terms"] for r in rows)]
    totals = [sum(g for _, g in r["terms"].values()) or 1.0 for r in rows]
    bottom = np.zeros(len(rows))
    for term in terms:
        share = np.array([r["terms"].get(term, (0.0, 0.0))[1] / t for r, t in zip(rows, totals)])
        ax.bar(steps, share, bottom=bottom, width=0.8 * (steps[1] - steps[0]) if len(steps) > 1 else 1.0, label=term)
        bottom += share
    ax.set_ylabel("share of the gradient norm")
    ax.legend(fontsize=7, ncol=2)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_predictions(batch: Batch | dict[str, Any], out: Any, faces: torch.Tensor, num: int = 4,
                     gt_camera: torch.Tensor | None = None):
    """A grid: for each sample, input | GT IUV | predicted IUV | GT mesh | predicted mesh.

    The GT mesh is drawn with ``gt_camera`` (B, 3) when given, else with the predicted camera
    (so the two meshes are compared in the same view). ``batch``: a
    :class:`~decomr.data.batch.Batch` (``image``, optional ``iuv``, ``vertices``) or a dict of its fields.

    Returns:
        matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    batch = as_batch(batch)
    n = min(num, len(batch))
    cols = ["input", "GT IUV", "predicted IUV", "GT mesh", "predicted mesh"]
    fig, axes = plt.subplots(n, len(cols), figsize=(2.2 * len(cols), 2.2 * n), squeeze=False)
    for i in range(n):
        image = batch.image[i]
        tiles = [image_rgb(image),
                 iuv_rgb(batch.iuv[i]) if batch.iuv is not None else np.zeros((8, 8, 3)),
                 iuv_rgb(torch.cat([(out.mask_logits[i] > 0).float(), out.uv[i]], dim=0))]
        cam = gt_camera[i] if gt_camera is not None else out.camera[i]
        tiles.append(mesh_overlay(image, batch.vertices[i], cam, faces) if batch.vertices is not None else tiles[0])
        tiles.append(mesh_overlay(image, out.vertices[i], out.camera[i], faces) if out.vertices is not None else tiles[0])
        for k, tile in enumerate(tiles):
            axes[i, k].imshow(tile)
            clean_axes(axes[i, k], cols[k] if i == 0 else None)
    fig.tight_layout()
    return fig
