"""Figures 7, 8 and 9 of the paper, from the Table 5 runs, on the synthetic test split.

* :func:`fig7_continuity` — Figure 7: the same image reconstructed by the continuous-atlas and the
  default-atlas models (``local+global`` input, same seed), zoomed on hands and feet. Colour = the
  local shape error of each vertex (:func:`border_errors`): where the default atlas cuts the
  surface into charts, its Eq. 3 read-out averages copies predicted in different charts, which
  shows up as bumps and kinks that the continuous map avoids. Written to
  ``figures/fig7_continuity.png``, with the error near the default atlas' chart borders and away
  from them measured over the whole pool of test images (:class:`ContinuityResult`).
* :func:`fig8_qualitative` — Figure 8: image | predicted IUV | mesh overlay | side view
  (``figures/fig8_qualitative.png``).
* :func:`fig9_failures` — Figure 9: the worst test images by MPJPE, the same columns, and what they
  have in common measured against the whole pool (:class:`FailureAnalysis`:
  viewpoint, pose, occluders, truncation, CNet's mask) (``figures/fig9_failures.png``).

:func:`make_figures` draws all three from ``runs/table5/<budget>`` (``decomr reproduce figures``).
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import matplotlib.pyplot as plt
import torch

from decomr.body.base import axis_angle_to_matrix
from decomr.body.joints import LSP_JOINT_NAMES
from decomr.data.batch import Batch
from decomr.data.synthetic import sample_params
from decomr.eval.evaluate import synthetic_test_data
from decomr.eval.metrics import pa_mpjpe
from decomr.experiments.table5_grid import RESULT_FILE, CellSpec, table5_run_root
from decomr.models import read_name
from decomr.paths import atomic_write_bytes, figures_dir as default_figures, repo_relative
from decomr.train import load_model
from decomr.train.errors import batch_errors
from decomr.uv import load_atlas
from decomr.uv.maps import camera_frame_vertices
from decomr.viz.body_plots import finish_figure, plot_mesh, project, save_figure
from decomr.viz.experiment_plots import plot_mesh_zoom
from decomr.viz.train_plots import iuv_rgb, mesh_overlay

logger = logging.getLogger(__name__)

__all__ = [
    "PerSampleErrors",
    "per_sample_errors",
    "border_vertices",
    "laplacian_error",
    "border_errors",
    "ContinuityResult",
    "fig7_continuity",
    "fig8_qualitative",
    "FailureAnalysis",
    "sample_attributes",
    "fig9_failures",
    "make_figures",
]

_MM = 1000.0
#: LSP joint indices used as zoom centres: right/left wrist, right/left ankle.
_ZOOMS = tuple((label, LSP_JOINT_NAMES.index(joint)) for label, joint in (
    ("right hand", "right_wrist"), ("left hand", "left_wrist"),
    ("right foot", "right_ankle"), ("left foot", "left_ankle")))


# ------------------------------------------------------------------------------------------------
# Per-sample predictions and errors
# ------------------------------------------------------------------------------------------------
@dataclass
class PerSampleErrors:
    """One model on a pool of test images.

    Attributes:
        indices: (N,) test-split indices.
        mpjpe, pa_mpjpe, pve: (N,) mm (DecoMR convention, hip root; per-vertex after hip alignment).
        mask_iou: (N,) IoU of CNet's foreground mask.
        vertices: (N, V, 3) predicted vertices (pelvis-centred camera frame, metres).
        camera: (N, 3) predicted weak-perspective cameras.
        lsp_joints: (N, 14, 3) predicted LSP joints.
        uv: (N, 2, h, w) predicted UV, mask_logits: (N, 1, h, w).
    """

    indices: torch.Tensor
    mpjpe: torch.Tensor
    pa_mpjpe: torch.Tensor
    pve: torch.Tensor
    mask_iou: torch.Tensor
    vertices: torch.Tensor
    camera: torch.Tensor
    lsp_joints: torch.Tensor
    uv: torch.Tensor
    mask_logits: torch.Tensor


def _collate(data: Any, indices: Sequence[int]) -> Batch:
    return Batch.collate([data[int(i)] for i in indices])


def _pool(loaded: Any, pool: int) -> tuple[Any, list[int], Batch]:
    """The first ``pool`` synthetic test images of a loaded model's config: (dataset, indices, GT batch)."""
    data = synthetic_test_data(loaded, max(pool, 1))
    indices = list(range(min(pool, len(data))))
    return data, indices, _collate(data, indices)


@torch.no_grad()
def per_sample_errors(loaded: Any, indices: Sequence[int], batch_size: int = 16, data: Any = None) -> PerSampleErrors:
    """Run a loaded model (:func:`decomr.train.load_model`) on test images and keep everything.

    Args:
        loaded: a ``LoadedModel``.
        indices: test-split indices.
        batch_size: images per forward pass.
        data: the test dataset (default: built from the model's config).

    Returns:
        :class:`PerSampleErrors` (CPU tensors).
    """
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("indices: expected at least one test index")
    data = data if data is not None else synthetic_test_data(loaded, max(indices) + 1)
    device = next(loaded.model.parameters()).device
    parts: dict[str, list[torch.Tensor]] = {f.name: [] for f in fields(PerSampleErrors) if f.name != "indices"}
    for start in range(0, len(indices), batch_size):
        batch = _collate(data, indices[start:start + batch_size]).to(device)
        out = loaded.model(batch.image)
        errs = batch_errors(out, batch)  # the errors; the rest are the model's outputs
        for k, values in parts.items():
            values.append((errs[k] if k in errs else getattr(out, k)).float().cpu())
    return PerSampleErrors(indices=torch.tensor(indices), **{k: torch.cat(v) for k, v in parts.items()})


# ------------------------------------------------------------------------------------------------
# Figure 7: continuity at the default atlas' chart borders
# ------------------------------------------------------------------------------------------------
def border_vertices(atlas: Any, rings: int = 1) -> torch.Tensor:
    """Mesh vertices on the chart borders (seams) of ``atlas``, grown by ``rings`` mesh rings.

    A mesh vertex is on a seam when it has more than one UV copy (``atlas.vt_to_v``).

    Args:
        atlas: a :class:`decomr.uv.UVAtlas` (``vt_to_v``, ``faces_uv``, ``num_vertices``).
        rings: how many one-ring neighbourhoods to add around the seam vertices.

    Returns:
        (V,) bool.
    """
    counts = torch.bincount(atlas.vt_to_v, minlength=atlas.num_vertices)
    mask = counts > 1
    faces = atlas.vt_to_v[atlas.faces_uv]  # (F, 3) mesh vertex indices
    for _ in range(rings):
        touched = mask[faces].any(dim=1)  # (F,) faces with a border vertex
        grown = torch.zeros_like(mask)
        grown[faces[touched].reshape(-1)] = True
        mask = mask | grown
    return mask


def _neighbour_mean(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) mean of each vertex' mesh neighbours (uniform Laplacian), edges counted per face."""
    b, v, _ = vertices.shape
    i = faces[:, [0, 1, 2, 1, 2, 0]].reshape(-1)  # (6F,) edge origins (both directions)
    j = faces[:, [1, 2, 0, 0, 1, 2]].reshape(-1)  # (6F,) edge ends
    sums = vertices.new_zeros(b, v, 3).index_add_(1, i, vertices[:, j])  # (B, V, 3)
    count = torch.bincount(i, minlength=v).clamp(min=1).to(vertices.dtype)  # (V,)
    return sums / count[None, :, None]


def laplacian_error(pred: torch.Tensor, gt: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Local shape error of each vertex: ``|L(pred) - L(gt)|`` with ``L(v) = v - mean(neighbours)``.

    Insensitive to the global pose and position (a rigid motion changes it only by the rotation of
    the Laplacian vectors, which are small): it shows kinks, bumps and cracks of the surface.

    Args:
        pred, gt: (B, V, 3) vertices, metres.
        faces: (F, 3).

    Returns:
        (B, V) error in the input's units.
    """
    if pred.shape != gt.shape or pred.dim() != 3 or pred.shape[-1] != 3:
        raise ValueError(f"pred, gt: expected two (B, V, 3) tensors, got {tuple(pred.shape)} and {tuple(gt.shape)}")
    lp = pred - _neighbour_mean(pred, faces)
    lg = gt - _neighbour_mean(gt, faces)
    return (lp - lg).norm(dim=-1)


def border_errors(pred: torch.Tensor, gt: torch.Tensor, faces: torch.Tensor, border: torch.Tensor) -> dict[str, float]:
    """Mean local shape error (mm) on border vertices and elsewhere, and their ratio.

    Args:
        pred, gt: (B, V, 3) predicted and GT vertices, metres.
        faces: (F, 3).
        border: (V,) bool, e.g. :func:`border_vertices` of the default atlas.

    Returns:
        ``{"border_mm", "interior_mm", "ratio"}``.
    """
    err = laplacian_error(pred, gt, faces) * _MM  # (B, V)
    b, i = float(err[:, border].mean()), float(err[:, ~border].mean())
    return {"border_mm": b, "interior_mm": i, "ratio": b / i if i > 0 else math.nan}


def _zooms(axes: Sequence[Any], vertices: torch.Tensor, lsp_joints: torch.Tensor, faces: torch.Tensor,
           seams: torch.Tensor, **colors: Any) -> None:
    """Camera-view zooms on hands and feet (:data:`_ZOOMS`), seam vertices as tiny dots (back-side ones too)."""
    dots = project(vertices[seams].detach().cpu().numpy(), "front", "camera")
    for ax, (label, joint_index) in zip(axes, _ZOOMS):
        plot_mesh_zoom(ax, vertices, faces, lsp_joints[joint_index], 0.16, title=label, **colors)
        ax.scatter(dots[:, 0], dots[:, 1], s=0.4, c="black", alpha=0.5, linewidths=0, zorder=3)


@dataclass
class ContinuityResult:
    """Figure 7's numbers over a pool of test images.

    Attributes:
        pool: test images measured.
        index: the test image shown.
        errors: atlas -> ``border_errors`` on the default atlas' chart borders (mm).
        seam_errors: atlas -> ``border_errors`` along the continuous map's own seam (mm): the one
            cut of the one-chart map, where the continuous model could show the same kind of kink.
        joint_errors: atlas -> mean MPJPE / PA-MPJPE / per-vertex error over the pool (mm).
        border_fraction: share of the mesh's vertices counted as border.
        rule: how the image shown was chosen.
        seam_fraction: share of the mesh's vertices counted as the continuous map's seam.
        read: the read of Eq. 3 both models were evaluated with (``"seam-aware"`` or ``"plain"``).
    """

    pool: int
    index: int
    errors: dict[str, dict[str, float]]
    joint_errors: dict[str, dict[str, float]]
    border_fraction: float
    rule: str
    seam_errors: dict[str, dict[str, float]] = field(default_factory=dict)
    seam_fraction: float = 0.0
    read: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finish(fig: Any, title: str, name: str | None, folder: str | Path | None) -> None:
    """Title and lay out a figure; save it as ``<folder>/<name>.png`` unless ``name`` is None."""
    finish_figure(fig, title, fontsize=9)
    if name:
        save_figure(fig, name, folder=folder)


def fig7_continuity(continuous: Any, default: Any, pool: int = 64, index: int | None = None,
                    batch_size: int = 16, name: str | None = "fig7_continuity",
                    folder: str | Path | None = None, seam_aware_read: bool | None = None
                    ) -> tuple[Any, ContinuityResult]:
    """Figure 7: one test image through the continuous- and the default-atlas models, zoomed.

    Args:
        continuous, default: checkpoints (paths or run folders) of the two models — same LNet
            input and seed, e.g. the Table 5 runs ``continuous_local_global/seed0`` and
            ``default_local_global/seed0``.
        pool: test images over which the border errors are measured.
        index: the image to show (default: the pool image where the default model's border error
            exceeds the continuous model's by the most — the figure illustrates the effect; the
            pool averages in :class:`ContinuityResult` say how typical it is).
        batch_size: forward batch size.
        name: save as ``<folder>/<name>.png`` (None: do not save).
        folder: default ``figures/``.
        seam_aware_read: read both location maps into vertices (Eq. 3) with decomr's seam-aware
            sampler (True) or the paper's plain one (False); None: as each model was trained.

    Returns:
        (matplotlib Figure, :class:`ContinuityResult`).
    """
    models = {"continuous": load_model(continuous), "default": load_model(default)}
    for atlas, m in models.items():
        if m.config.model.atlas != atlas:
            raise ValueError(f"{atlas}: expected a model trained with atlas {atlas!r}, got {m.config.model.atlas!r}")
        if seam_aware_read is not None:
            m.model.set_seam_aware_read(seam_aware_read, body=m.body)
    reads = {read_name(m.model.config.seam_aware_read) for m in models.values()}
    body = models["continuous"].body
    faces = body.faces
    border = border_vertices(load_atlas(body, "default"))
    border_only = border_vertices(load_atlas(body, "default"), rings=0)  # the seams themselves (dots)
    own_seam = border_vertices(load_atlas(body, "continuous"))  # the continuous map's single cut, one ring grown
    data, indices, gt = _pool(models["continuous"], pool)
    preds = {a: per_sample_errors(m, indices, batch_size, data) for a, m in models.items()}
    errors, seam, per_image, joint = {}, {}, {}, {}
    for atlas, p in preds.items():
        errors[atlas] = border_errors(p.vertices, gt.vertices, faces, border)
        seam[atlas] = border_errors(p.vertices, gt.vertices, faces, own_seam)
        lap = laplacian_error(p.vertices, gt.vertices, faces) * _MM  # (N, V)
        per_image[atlas] = lap[:, border].mean(1)  # (N,)
        joint[atlas] = {k: float(getattr(p, k).nanmean()) for k in ("mpjpe", "pa_mpjpe", "pve")}
    rule = "given"
    if index is None:
        index = int(torch.argmax(per_image["default"] - per_image["continuous"]))
        rule = (f"the image of the first {len(indices)} test images where the default model's local shape error on "
                "the default atlas' chart borders exceeds the continuous model's by the most")
    result = ContinuityResult(pool=len(indices), index=index, errors=errors, joint_errors=joint,
                              border_fraction=float(border.float().mean()), rule=rule, seam_errors=seam,
                              seam_fraction=float(own_seam.float().mean()), read="/".join(sorted(reads)))

    lap_all = {a: laplacian_error(p.vertices[index:index + 1], gt.vertices[index:index + 1], faces)[0] * _MM
               for a, p in preds.items()}
    vmax = float(max(torch.quantile(v, 0.98) for v in lap_all.values()))
    cols = 3 + len(_ZOOMS)
    fig, axes = plt.subplots(3, cols, figsize=(2.3 * cols, 7.4), squeeze=False)
    image = gt.image[index]
    for row, atlas in enumerate(("continuous", "default")):
        p = preds[atlas]
        ax = axes[row]
        ax[0].imshow(iuv_rgb(torch.cat([(p.mask_logits[index] > 0).float(), p.uv[index]])))
        ax[0].set_title(f"{atlas}: predicted IUV", fontsize=8)
        ax[1].imshow(mesh_overlay(image, p.vertices[index], p.camera[index], faces))
        ax[1].set_title("mesh on the image", fontsize=8)
        plot_mesh(ax[2], p.vertices[index], faces, lap_all[atlas].numpy(), view="front", frame="camera",
                  cmap="magma", vmin=0.0, vmax=vmax)
        ax[2].set_title(f"local shape error (0-{vmax:.0f} mm)", fontsize=8)
        _zooms(ax[3:], p.vertices[index], p.lsp_joints[index], faces, border_only, colors=lap_all[atlas].numpy(),
               cmap="magma", vmin=0.0, vmax=vmax)
        plt.setp(ax[:2], xticks=[], yticks=[])
        e = errors[atlas]
        ax[0].set_ylabel(f"{atlas} UV map\n{result.pool} images: borders {e['border_mm']:.1f} mm,\n"
                         f"elsewhere {e['interior_mm']:.1f} mm;\ncontinuous seam {seam[atlas]['border_mm']:.1f} mm",
                         fontsize=8)
    ax = axes[2]  # the ground truth, for reference
    ax[0].imshow(iuv_rgb(gt.iuv[index]))
    ax[0].set_title("ground-truth IUV (continuous)", fontsize=8)
    ax[1].imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
    ax[1].set_title("input image", fontsize=8)
    plot_mesh(ax[2], gt.vertices[index], faces, None, view="front", frame="camera")
    ax[2].set_title("ground-truth mesh", fontsize=8)
    _zooms(ax[3:], gt.vertices[index], gt.lsp_joints3d[index], faces, border_only)
    plt.setp(ax[:2], xticks=[], yticks=[])
    ax[0].set_ylabel("ground truth", fontsize=9)
    _finish(fig, f"Figure 7 counterpart: test image {index}; colour = local shape error (Laplacian, same scale in "
            f"both rows); black dots = the default atlas' chart borders; Eq. 3 read: {result.read}", name, folder)
    return fig, result


# ------------------------------------------------------------------------------------------------
# Figures 8 and 9
# ------------------------------------------------------------------------------------------------
def _rows(fig_axes: Any, gt: Batch, pred: PerSampleErrors, rows: Sequence[int], faces: torch.Tensor,
          titles: Sequence[str] | None = None) -> None:
    """Draw one row per sample: image | predicted IUV | mesh overlay | side view (GT in grey)."""
    axes = fig_axes
    for r, i in enumerate(rows):
        ax = axes[r]
        ax[0].imshow(gt.image[i].permute(1, 2, 0).clamp(0, 1).numpy())
        ax[1].imshow(iuv_rgb(torch.cat([(pred.mask_logits[i] > 0).float(), pred.uv[i]])))
        ax[2].imshow(mesh_overlay(gt.image[i], pred.vertices[i], pred.camera[i], faces))
        plot_mesh(ax[3], gt.vertices[i], faces, "#bdbdbd", view="right", frame="camera", alpha=0.35)
        plot_mesh(ax[3], pred.vertices[i], faces, "#8fb3de", view="right", frame="camera")
        plt.setp(ax[:3], xticks=[], yticks=[])
        if titles is not None:
            ax[0].set_ylabel(titles[r], fontsize=7)
        if r == 0:
            for a, t in zip(ax, ("image", "predicted IUV", "mesh overlay", "side view (blue; GT grey)")):
                a.set_title(t, fontsize=8)


def fig8_qualitative(checkpoint: Any, indices: Sequence[int] = (0, 1, 2, 3), batch_size: int = 16,
                     name: str | None = "fig8_qualitative", folder: str | Path | None = None) -> Any:
    """Figure 8: for a few test images: image | predicted IUV | mesh overlay | side view.

    Args:
        checkpoint: path or run folder (or a ``LoadedModel``).
        indices: test-split indices (default: the first four, not chosen).
        batch_size: forward batch size.
        name, folder: save as ``<folder>/<name>.png`` (None: do not save; default folder ``figures/``).

    Returns:
        matplotlib ``Figure``.
    """
    loaded = checkpoint if hasattr(checkpoint, "model") else load_model(checkpoint)
    data = synthetic_test_data(loaded, max(indices) + 1)
    pred = per_sample_errors(loaded, indices, batch_size, data)
    gt = _collate(data, indices)
    titles = [f"test {i}: MPJPE {pred.mpjpe[r]:.0f}\nPA {pred.pa_mpjpe[r]:.0f} mm" for r, i in enumerate(indices)]
    fig, axes = plt.subplots(len(indices), 4, figsize=(8.4, 2.2 * len(indices)), squeeze=False)
    _rows(axes, gt, pred, range(len(indices)), loaded.body.faces, titles)
    _finish(fig, f"Figure 8 counterpart: {loaded.config.model.atlas} UV map, LNet input "
            f"{loaded.config.model.lnet_input}, step {loaded.step}", name, folder)
    return fig


@dataclass
class FailureAnalysis:
    """What the worst test images have in common, against the whole pool.

    Attributes:
        pool: test images ranked; worst: how many count as failures (the worst by MPJPE).
        shown: indices of the images drawn.
        worst_mean, pool_mean: attribute -> mean over the failures / the pool (see
            :func:`sample_attributes`).
        metric: the ranking metric.
    """

    pool: int
    worst: int
    shown: list[int]
    worst_mean: dict[str, float]
    pool_mean: dict[str, float]
    metric: str = "mpjpe"
    rows: list[dict[str, float]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per attribute: failures vs pool."""
        return [f"{k}: {self.worst_mean[k]:.2f} (worst {self.worst}) vs {self.pool_mean[k]:.2f} (all {self.pool})"
                for k in self.worst_mean]


def sample_attributes(data: Any, indices: Sequence[int], gt: Batch | None = None) -> dict[str, torch.Tensor]:
    """Per-image attributes of synthetic test samples that can explain failures.

    Returns:
        name -> (N,) float: ``yaw_deg`` (0 = facing the camera, 180 = back to it), ``back_facing``
        (yaw > 90), ``pose_from_rest_mm`` (PA-MPJPE of the rest pose against the sample: how unusual the
        pose is), ``occluded`` (occluding
        rectangles drawn), ``truncated`` (LSP joints outside the crop), ``blur`` (sigma, px).
    """
    gt = gt if gt is not None else _collate(data, indices)
    rot = axis_angle_to_matrix(gt.global_orient.float())  # (N, 3, 3) canonical -> camera
    forward = rot[:, :, 2]  # the body's +z (its front) in the camera frame
    yaw = torch.rad2deg(torch.atan2(forward[:, 0], -forward[:, 2])).abs()
    base = data.dataset if hasattr(data, "dataset") else data
    body = base._body
    template = body.regress_joints(camera_frame_vertices(body))[1]  # (1, 14, 3) the rest pose
    lsp = gt.lsp_joints3d.float()
    pose_mm = pa_mpjpe(template.expand(lsp.shape[0], -1, -1).to(lsp), lsp) * _MM  # how far from the rest pose
    params = [sample_params(base.config, "test", int(i), base._body) for i in indices]  # what each image was drawn from
    return {"yaw_deg": yaw, "back_facing": (yaw > 90).float(), "pose_from_rest_mm": pose_mm.float(),
            "occluded": torch.tensor([float(p.occluders.boxes[..., 4].sum() > 0) for p in params]),
            "truncated_joints": (gt.lsp_keypoints[..., 2] < 0.5).float().sum(-1),
            "blur_px": torch.tensor([float(p.blur.reshape(-1)[0]) for p in params])}


def fig9_failures(checkpoint: Any, pool: int = 64, n: int = 4, worst: int | None = None, batch_size: int = 16,
                  name: str | None = "fig9_failures", folder: str | Path | None = None) -> tuple[Any, FailureAnalysis]:
    """Figure 9: the worst test images by MPJPE, and what they have in common.

    Args:
        checkpoint: path or run folder (or a ``LoadedModel``).
        pool: test images ranked.
        n: images drawn.
        worst: images counted as failures for the statistics (default ``max(n, pool // 8)``).
        batch_size, name, folder: as in :func:`fig8_qualitative`.

    Returns:
        (matplotlib Figure, :class:`FailureAnalysis`).
    """
    loaded = checkpoint if hasattr(checkpoint, "model") else load_model(checkpoint)
    data, indices, gt = _pool(loaded, pool)
    pred = per_sample_errors(loaded, indices, batch_size, data)
    attrs = sample_attributes(data, indices, gt)
    attrs["cnet_mask_iou"] = pred.mask_iou
    attrs["mpjpe"], attrs["pa_mpjpe"] = pred.mpjpe, pred.pa_mpjpe
    worst = worst or max(n, len(indices) // 8)
    order = torch.argsort(torch.nan_to_num(pred.mpjpe, nan=-1.0), descending=True)
    rows = [int(i) for i in order[:n]]  # the images drawn
    analysis = FailureAnalysis(
        pool=len(indices), worst=worst, shown=rows,
        worst_mean={k: float(v[order[:worst]].float().mean()) for k, v in attrs.items()},
        pool_mean={k: float(v.float().mean()) for k, v in attrs.items()},
        rows=[{k: float(v[i]) for k, v in attrs.items()} | {"index": i} for i in rows])
    titles = [f"test {i}: MPJPE {pred.mpjpe[i]:.0f}, PA {pred.pa_mpjpe[i]:.0f}\nyaw {attrs['yaw_deg'][i]:.0f}°, "
              f"{'occluded' if attrs['occluded'][i] else 'no occluder'}, IoU {pred.mask_iou[i]:.2f}" for i in rows]
    fig, axes = plt.subplots(n, 4, figsize=(8.4, 2.3 * n), squeeze=False)
    _rows(axes, gt, pred, rows, loaded.body.faces, titles)
    _finish(fig, f"Figure 9 counterpart: the {n} worst of {len(indices)} test images by MPJPE "
            f"({loaded.config.model.atlas} UV map, {loaded.config.model.lnet_input})", name, folder)
    return fig, analysis


# ------------------------------------------------------------------------------------------------
# All three from the Table 5 runs
# ------------------------------------------------------------------------------------------------
def make_model_figures(checkpoint: Any, figures_dir: str | Path | None = None, pool: int = 64) -> list[Path]:
    """Figures 8 and 9 of one model (e.g. the released checkpoint): ``fig8_qualitative.png``,
    ``fig9_failures.png`` and the failure statistics ``fig9_failures.json`` in ``figures_dir``
    (default ``figures/``). Figure 7 compares two models:
    see :func:`make_figures`."""
    folder = Path(figures_dir) if figures_dir is not None else default_figures()
    loaded = load_model(checkpoint)
    plt.close(fig8_qualitative(loaded, folder=folder))
    fig, analysis = fig9_failures(loaded, pool=pool, folder=folder)
    plt.close(fig)
    stats = _write_stats(folder / "fig9_failures.json", {"checkpoint": str(loaded.path), **asdict(analysis)})
    for line in analysis.lines():
        logger.info("Figure 9: %s", line)
    return [folder / f"{n}.png" for n in ("fig8_qualitative", "fig9_failures")] + [stats]


def _write_stats(path: Path, payload: dict[str, Any]) -> Path:
    """A figure's numbers beside it, as JSON (atomically)."""
    atomic_write_bytes(path, (json.dumps(payload, indent=2) + "\n").encode())
    return path


def make_figures(budget: str = "cpu", seed: int = 0, out_dir: str | Path | None = None,
                 figures_dir: str | Path | None = None, pool: int = 64) -> list[Path]:
    """Figures 7, 8 and 9 from the ``local+global`` runs of a Table 5 grid.

    Writes ``fig7_continuity.png``, ``fig8_qualitative.png``, ``fig9_failures.png`` to
    ``figures_dir`` (default ``figures/``) with their numbers beside them (``fig7_continuity.json``,
    ``fig9_failures.json``) and all of them to ``<grid>/figures_stats.json``: Figure 7's with the
    read of Eq. 3 the runs trained with (the figure) and with the other one (``fig7_other_read``;
    the paper reads plainly, decomr's default is seam-aware).

    Returns:
        the three PNGs, then the two JSON files.

    Raises:
        FileNotFoundError: the grid has no finished ``local+global`` run of both atlases for ``seed``.
    """
    root = Path(out_dir) if out_dir is not None else table5_run_root(budget)
    runs = {a: root / CellSpec(a, "local+global", seed).folder for a in ("continuous", "default")}
    missing = [str(p) for p in runs.values() if not (p / RESULT_FILE).exists()]
    if missing:
        raise FileNotFoundError(f"no finished local+global run for seed {seed} in {missing}; run "
                                f"`decomr reproduce table5 --budget {budget}` first")
    folder = Path(figures_dir) if figures_dir is not None else default_figures()
    ckpt = {a: p / "last.pt" for a, p in runs.items()}
    fig, continuity = fig7_continuity(ckpt["continuous"], ckpt["default"], pool=pool, folder=folder)
    plt.close(fig)
    trained = continuity.read  # the same for both runs of a grid
    fig, other = fig7_continuity(ckpt["continuous"], ckpt["default"], pool=pool, index=continuity.index, name=None,
                                 seam_aware_read=trained != "seam-aware")
    plt.close(fig)
    plt.close(fig8_qualitative(ckpt["continuous"], folder=folder))
    fig, failures = fig9_failures(ckpt["continuous"], pool=pool, folder=folder)
    plt.close(fig)
    source = {"budget": str(budget), "seed": seed}
    fig7 = {**source, "checkpoints": {a: repo_relative(p) for a, p in ckpt.items()}, "fig7": continuity.to_dict(),
            "fig7_other_read": other.to_dict()}
    fig9 = {**source, "checkpoint": repo_relative(ckpt["continuous"]), **asdict(failures)}
    _write_stats(root / "figures_stats.json", {**fig7, "fig9": asdict(failures)})
    return [folder / f"{n}.png" for n in ("fig7_continuity", "fig8_qualitative", "fig9_failures")] + [
        _write_stats(folder / "fig7_continuity.json", fig7), _write_stats(folder / "fig9_failures.json", fig9)]
