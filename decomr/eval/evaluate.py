"""Evaluate a trained checkpoint (Tables 2-5 protocols) and write JSON + markdown reports.

``evaluate_checkpoint(checkpoint, dataset)`` runs one model over one evaluation set:

==============  =====================================================================================
dataset         what is measured (mm unless stated)
==============  =====================================================================================
``synthetic``   the synthetic test split of the checkpoint's config (works out of the box): MPJPE,
                PA-MPJPE (14 LSP joints, hip root), per-vertex error (hip-aligned), mask IoU, UV
                error, and foreground / 6-part segmentation from the projected mesh (Table 4's way)
``h36m-p1/p2``  Human3.6M protocol 1 / 2 (Table 2, 5): MPJPE and PA-MPJPE under both joint
                conventions (:mod:`decomr.eval.protocols`): ``decomr`` (14 LSP joints from the mesh,
                hip-midpoint root) and ``cmr-spin`` (H36M regressor, pelvis root; SMPL only — the
                report says so when the regressor or SMPL is absent)
``surreal``     SURREAL surface error (Table 3): mean per-vertex error after hip alignment; the GT
                mesh is posed from the file's SMPL parameters (needs SMPL)
``lsp``         LSP foreground and 6-part segmentation accuracy / F1 (Table 4): the predicted mesh is
                rendered with the predicted camera (:mod:`decomr.render`), pasted back into the
                original image and counted over the whole set (:class:`SegmentationCounter`)
``3dpw``        3DPW PA-MPJPE (supplementary Table 2); GT joints from the SMPL meshes (needs SMPL)
==============  =====================================================================================

Reports go to ``<run>/eval/<dataset>.json`` and ``.md`` with the paper's numbers beside ours.
"""
from __future__ import annotations

import copy
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from decomr.body import load as load_body
from decomr.data.batch import Batch, as_batch
from decomr.data.crop import uncrop_image
from decomr.data.official import OfficialDataset
from decomr.eval.metrics import SegmentationCounter, per_vertex_error
from decomr.eval.protocols import gt_eval_joints_from_j24, joint_errors, load_h36m_regressor, predicted_eval_joints
from decomr.models import ORACLE_LINKS, Oracle, read_name
from decomr.paths import atomic_write_bytes
from decomr.render import render_body
from decomr.train.checkpoint import load_model
from decomr.train.data import build_test_dataset, to_device
from decomr.train.errors import MM as _MM
from decomr.train.errors import MeanTally, batch_errors, nan_where as _nan_where, template_errors
from decomr.train.loop import _float_output

logger = logging.getLogger(__name__)

__all__ = [
    "EVAL_DATASETS",
    "PAPER_NUMBERS",
    "EvalReport",
    "batch_errors",
    "template_errors",
    "template_baseline",
    "segmentation_from_mesh",
    "synthetic_test_data",
    "evaluate_checkpoint",
    "evaluate_oracles",
    "write_report",
    "report_markdown",
]

EVAL_DATASETS = ("synthetic", "h36m-p1", "h36m-p2", "surreal", "lsp", "3dpw")

#: The paper's numbers (DecoMR, "Ours"), by dataset and metric (Tables 2-4 of the paper, supplementary Table for 3DPW).
PAPER_NUMBERS: dict[str, dict[str, float]] = {
    "h36m-p1": {"decomr/mpjpe": 62.7, "decomr/pa_mpjpe": 42.2},  # Table 5, last-but-one row
    "h36m-p2": {"decomr/mpjpe": 60.6, "decomr/pa_mpjpe": 39.3},  # Tables 2 and 5
    "surreal": {"pve": 56.5},  # Table 3
    "lsp": {"fb_acc": 92.10, "fb_f1": 0.88, "parts_acc": 89.45, "parts_f1": 0.69},  # Table 4
    "3dpw": {"decomr/pa_mpjpe": 68.5},  # supplementary Table 2, "Ours-A" (61.7 with SPIN's fits)
}
_PAPER_SOURCES = {
    "h36m-p1": "Table 5 (continuous UV, local+global)", "h36m-p2": "Tables 2 and 5",
    "surreal": "Table 3", "lsp": "Table 4", "3dpw": "supplementary Table 2 (Ours-A, no SPIN fits)",
}


# ------------------------------------------------------------------------------------------------
# Per-batch metrics (shared with the training loop's `evaluate`)
# ------------------------------------------------------------------------------------------------
@torch.no_grad()
def template_baseline(body: Any, data: Any, max_samples: int | None = None, batch_size: int = 32) -> dict[str, float]:
    """Mean :func:`template_errors` over a synthetic dataset (the first ``max_samples`` samples).

    Args:
        body: the body model. data: a synthetic dataset (e.g. ``build_test_dataset(...)``).
        max_samples: limit. batch_size: samples rendered per batch.

    Returns:
        name -> mean (mm; degrees for ``facing_error``).
    """
    n = len(data) if max_samples is None else min(len(data), int(max_samples))
    means = MeanTally()
    for batch in DataLoader(Subset(data, range(n)), batch_size=batch_size, shuffle=False, collate_fn=Batch.collate):
        for name, values in template_errors(body, batch).items():
            means.add(name, values)
    return means.result()


def segmentation_from_mesh(vertices: torch.Tensor, camera: torch.Tensor, body: Any, size: int | tuple[int, int]
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground and 6-part labels of meshes projected with their weak-perspective camera (Table 4).

    Args:
        vertices: (B, V, 3) predicted vertices (pelvis-centred camera frame), metres.
        camera: (B, 3) predicted cameras [s, tx, ty].
        body: the body model (``faces``, ``lsp_parts`` in 1..6).
        size: output (H, W) or one int.

    Returns:
        mask (B, H, W) int64 in {0, 1}, parts (B, H, W) int64 in 0..6 (0 = background).
    """
    size = (size, size) if isinstance(size, int) else tuple(size)
    # Depth only orders the faces: push the mesh in front of the camera (weak perspective ignores it).
    verts = vertices + vertices.new_tensor([0.0, 0.0, 10.0])
    out = render_body(verts, body.faces.to(vertices.device), camera, size,
                      vertex_labels=body.lsp_parts.to(vertices.device), shade=False)
    return out.mask[:, 0].round().long(), out.parts.long()


# ------------------------------------------------------------------------------------------------
# Reports
# ------------------------------------------------------------------------------------------------
@dataclass
class EvalReport:
    """The result of :func:`evaluate_checkpoint`.

    Attributes:
        dataset: one of :data:`EVAL_DATASETS`.
        checkpoint: the file evaluated.
        num_samples: samples evaluated.
        metrics: name -> value (mm for errors; accuracy in %, F1 in [0, 1] for segmentation;
            H36M/3DPW errors are prefixed by their convention, ``decomr/`` or ``cmr-spin/``).
        paper: the paper's numbers for the same metrics (empty for ``synthetic``).
        baseline: the template body's errors on the same images (:func:`template_errors`;
            synthetic data only: official datasets are compared with the paper instead).
        notes: what was skipped and why, protocol details.
        model: a summary of the model (body, backbone, atlas, step).
        seconds: wall time.
        oracle: the links of the chain given their ground truth (``decomr.models.ORACLE_LINKS``);
            empty for the model as it is.
        read: ``"plain"`` or ``"seam-aware"`` when Eq. 3 was read otherwise than the model was
            trained (``evaluate_checkpoint(seam_aware_read=...)``); empty for the trained read.
    """

    dataset: str
    checkpoint: str
    num_samples: int
    metrics: dict[str, float]
    paper: dict[str, float] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    oracle: list[str] = field(default_factory=list)
    read: str = ""

    @property
    def name(self) -> str:
        """File stem of the report: the dataset, plus ``-oracle-<links>`` for an oracle run and
        ``-<read>-read`` for a read of Eq. 3 other than the trained one."""
        return (self.dataset + (f"-oracle-{'+'.join(self.oracle)}" if self.oracle else "")
                + (f"-{self.read}-read" if self.read else ""))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(value: float | None, metric: str) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.3f}" if metric.endswith(("_f1", "_iou")) or metric in ("uv_error",) else f"{value:.2f}"


def report_markdown(report: EvalReport) -> str:
    """The report as a markdown section (metric | ours | paper)."""
    m = report.model
    title = (f"# Evaluation on `{report.dataset}`" + (f", oracle: GT {' + GT '.join(report.oracle)}" if report.oracle else "")
             + (f", Eq. 3 read: {report.read}" if report.read else ""))
    lines = [title, "",
             f"- checkpoint: `{report.checkpoint}` (step {m.get('step')}, body {m.get('body')}, "
             f"backbone {m.get('backbone')}, atlas {m.get('atlas')}, LNet input {m.get('lnet_input')})",
             f"- samples: {report.num_samples}; time: {report.seconds:.1f} s"]
    if report.paper:
        lines.append(f"- paper numbers: DecoMR, {_PAPER_SOURCES.get(report.dataset, 'the paper')} "
                     "(SMPL, ResNet-50, H36M+UP-3D / SURREAL training)")
    if report.baseline:
        lines.append("- template body: the mean body, upright and facing the camera, predicted for every image "
                     "(what a model that learned nothing predicts)")
        lines += ["", "| metric | ours | template body | paper |", "|---|---:|---:|---:|"]
    else:
        lines += ["", "| metric | ours | paper |", "|---|---:|---:|"]
    for name in sorted(set(report.metrics) | set(report.paper)):
        base = f" {_fmt(report.baseline.get(name), name)} |" if report.baseline else ""
        lines.append(f"| {name} | {_fmt(report.metrics.get(name), name)} |{base} {_fmt(report.paper.get(name), name)} |")
    if report.notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def write_report(report: EvalReport, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``<out_dir>/<name>.json`` and ``<out_dir>/<name>.md`` (atomically; ``report.name``)."""
    out_dir = Path(out_dir)
    json_path, md_path = out_dir / f"{report.name}.json", out_dir / f"{report.name}.md"
    atomic_write_bytes(json_path, (json.dumps(report.to_dict(), indent=2, default=float) + "\n").encode())
    atomic_write_bytes(md_path, report_markdown(report).encode())
    return json_path, md_path


# ------------------------------------------------------------------------------------------------
# Evaluation of a checkpoint
# ------------------------------------------------------------------------------------------------
def synthetic_test_data(loaded: Any, size: int | None = None) -> Any:
    """The synthetic test split of a ``LoadedModel``'s config, ``size`` samples (default: its ``test_size``)."""
    data = replace(loaded.config.data, source="synthetic")
    if size is not None:
        data = replace(data, synthetic=replace(data.synthetic, test_size=int(size)))
    return build_test_dataset(loaded.config.replace(data=data), loaded.body, loaded.atlas, split="test")


#: The official evaluation sets: name -> (dataset folder, split).
_OFFICIAL_SPLITS = {"h36m-p1": ("h36m", "valid_p1"), "h36m-p2": ("h36m", "valid_p2"), "surreal": ("surreal", "val"),
                    "lsp": ("lsp", "test"), "3dpw": ("3dpw", "test")}


def _dataset_for(name: str, loaded: Any, root: str | Path | None, synthetic_size: int | None):
    if name == "synthetic":
        return synthetic_test_data(loaded, synthetic_size)
    folder, split = _OFFICIAL_SPLITS[name]
    return OfficialDataset(folder, split, root=Path(root) / folder if root is not None else None,
                           res=loaded.config.model.img_size)


def _smpl_bodies(loaded: Any, notes: list[str]) -> dict[int, Any] | None:
    """SMPL models by official gender code (0 male, 1 female, -1 neutral) for posing GT meshes."""
    bodies: dict[int, Any] = {}
    try:
        bodies[-1] = loaded.body if loaded.body.name == "smpl" else load_body("smpl", gender="neutral")
    except FileNotFoundError as err:
        notes.append(f"SMPL is absent, so the ground-truth meshes of this dataset cannot be posed: {err}")
        return None
    for code, gender in ((0, "male"), (1, "female")):
        try:
            bodies[code] = load_body("smpl", gender=gender)
        except FileNotFoundError:
            bodies[code] = bodies[-1]
            notes.append(f"SMPL {gender} model absent: its ground-truth meshes use the neutral model "
                         "(the official evaluation uses gendered models)")
    return bodies


def _gt_smpl_meshes(batch: Batch, bodies: dict[int, Any], device: torch.device) -> torch.Tensor:
    """(B, V, 3) pelvis-centred GT meshes from the batch's SMPL parameters, per-sample gender."""
    b = len(batch)
    genders = (batch.gender if batch.gender is not None else torch.full((b,), -1)).tolist()
    out = None
    for code in set(genders):
        rows = [i for i, g in enumerate(genders) if g == code]
        body = bodies.get(code, bodies[-1])
        idx = torch.tensor(rows, device=device)
        res = body(shape=batch.shape[idx].float(), pose=batch.pose[idx].float(),
                   global_orient=batch.global_orient[idx].float())  # on the body's device
        verts = (res.vertices - res.joints[:, :1]).to(device)
        if out is None:
            out = verts.new_zeros(b, verts.shape[1], 3)
        out[idx] = verts
    return out


@torch.no_grad()
def evaluate_checkpoint(checkpoint: str | Path, dataset: str = "synthetic", *, out_dir: str | Path | None = None,
                        batch_size: int = 16, device: str | torch.device = "cpu", max_samples: int | None = None,
                        root: str | Path | None = None, synthetic_size: int | None = None,
                        num_workers: int = 0, progress: bool = False, write: bool = True,
                        oracle: str | Sequence[str] | None = None, seam_aware_read: bool | None = None) -> EvalReport:
    """Evaluate a checkpoint (training checkpoint, release or run folder) on one dataset.

    Args:
        checkpoint: ``.pt`` file or run folder (``best.pt``, else ``last.pt``).
        dataset: one of :data:`EVAL_DATASETS`.
        out_dir: where the reports go (default ``<run folder>/eval``, the checkpoint's folder).
        batch_size: evaluation batch size.
        device: torch device.
        max_samples: evaluate only the first samples (quick checks).
        root: folder holding the official ``<name>/`` dataset folders (default ``data/datasets``).
        synthetic_size: number of synthetic test samples (default: the config's test split).
        num_workers: DataLoader workers.
        progress: show a tqdm bar.
        write: write the JSON + markdown reports.
        oracle: links of the chain replaced by their ground truth (``"iuv"``, ``"camera"``,
            ``"location_map"``, or several; :class:`decomr.models.Oracle`): where does the error
            come from? Synthetic data only (it needs GT IUV images and meshes). The report is
            written as ``<dataset>-oracle-<links>``.
        seam_aware_read: read the location map into vertices (Eq. 3) with decomr's seam-aware
            sampler (True) or the paper's plain bilinear one (False) whatever the model was trained
            with (:meth:`decomr.models.DecoMR.set_seam_aware_read`); None: as trained. A read other
            than the trained one is written as ``<dataset>-<read>-read``.

    Returns:
        :class:`EvalReport`.

    Raises:
        ValueError: unknown dataset.
        FileNotFoundError: the official dataset is missing (the message says where to put it).
    """
    return _evaluate(checkpoint, dataset, [check_oracle_links(oracle)], out_dir=out_dir, batch_size=batch_size,
                     device=device, max_samples=max_samples, root=root, synthetic_size=synthetic_size,
                     num_workers=num_workers, progress=progress, write=write, seam_aware_read=seam_aware_read)[0]


@torch.no_grad()
def evaluate_oracles(checkpoint: str | Path, oracles: Sequence[Sequence[str]], *, synthetic_size: int | None = None,
                     out_dir: str | Path | None = None, batch_size: int = 16, device: str | torch.device = "cpu",
                     max_samples: int | None = None, num_workers: int = 0, progress: bool = False,
                     write: bool = True, seam_aware_read: bool | None = None) -> list[EvalReport]:
    """:func:`evaluate_checkpoint` on the synthetic test split under several oracles in one pass.

    Each batch is rendered once and run through the model once per oracle (``()`` = the model as
    it is), so every row sees exactly the same images; the template body's errors are computed once.

    Args:
        checkpoint: ``.pt`` file or run folder.
        oracles: link sets, e.g. ``[(), ("iuv",), ("location_map",)]``.
        synthetic_size, out_dir, batch_size, device, max_samples, num_workers, progress, write,
        seam_aware_read: see :func:`evaluate_checkpoint`.

    Returns:
        One :class:`EvalReport` per link set, in order.
    """
    return _evaluate(checkpoint, "synthetic", [check_oracle_links(o) for o in oracles], out_dir=out_dir,
                     batch_size=batch_size, device=device, max_samples=max_samples, root=None,
                     synthetic_size=synthetic_size, num_workers=num_workers, progress=progress, write=write,
                     seam_aware_read=seam_aware_read)


class _Tally:
    """Running means and segmentation counts of one model variant over an evaluation set."""

    def __init__(self) -> None:
        self.means = MeanTally()
        self.fb = SegmentationCounter(2)
        self.parts = SegmentationCounter(7, ignore_index=255)


def _evaluate(checkpoint: str | Path, dataset: str, link_sets: list[tuple[str, ...]], *, out_dir: str | Path | None,
              batch_size: int, device: str | torch.device, max_samples: int | None, root: str | Path | None,
              synthetic_size: int | None, num_workers: int, progress: bool, write: bool,
              seam_aware_read: bool | None = None) -> list[EvalReport]:
    """The evaluation loop behind :func:`evaluate_checkpoint` and :func:`evaluate_oracles`."""
    if dataset not in EVAL_DATASETS:
        raise ValueError(f"dataset: expected one of {EVAL_DATASETS}, got {dataset!r}")
    for links in link_sets:
        if links and dataset != "synthetic":
            raise ValueError(f"oracle {'+'.join(links)}: needs ground-truth IUV images, cameras and meshes, which only "
                             f"the synthetic data has (got dataset {dataset!r}); use --dataset synthetic")
    start = time.perf_counter()
    device = torch.device(device)
    loaded = load_model(checkpoint, device=device)
    model = loaded.model
    body = loaded.body if device.type == "cpu" else copy.deepcopy(loaded.body).to(device)  # keep the cached one
    notes: list[str] = []
    read = ""
    if seam_aware_read is not None and bool(seam_aware_read) != loaded.config.model.seam_aware_read:
        model.set_seam_aware_read(seam_aware_read, body=loaded.body)
        read = read_name(seam_aware_read)
        notes.append(f"Eq. 3 read with the {_READ_NOTES[read]}; the model was trained with the "
                     f"{_READ_NOTES[read_name(not seam_aware_read)]}")
    stage = "full" if loaded.stage == 2 else "cnet"
    if stage == "cnet":
        notes.append("the checkpoint only finished stage 1 (CNet alone): mesh metrics are not available")
    data = _dataset_for(dataset, loaded, root, synthetic_size)
    if max_samples is not None and max_samples < len(data):
        data = Subset(data, range(int(max_samples)))
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=Batch.collate)
    tallies, baseline = [_Tally() for _ in link_sets], MeanTally()
    h36m_reg = None
    conventions = ["decomr"]
    if dataset.startswith("h36m") or dataset == "3dpw":
        try:
            h36m_reg = load_h36m_regressor(num_vertices=body.num_vertices).to(device)
            conventions.append("cmr-spin")
        except (FileNotFoundError, ValueError) as err:
            notes.append(f"'cmr-spin' convention (H36M regressor, pelvis root) skipped: {err}")
    bodies = _smpl_bodies(loaded, notes) if dataset in ("surreal", "3dpw") else None
    if dataset in ("surreal", "3dpw") and loaded.body.name != "smpl":
        notes.append(f"the model predicts {loaded.body.name} meshes; {dataset}'s ground truth is SMPL: "
                     "per-vertex errors need a model trained with body=smpl")

    def add_joint_errors(means: MeanTally, pred_verts: torch.Tensor, gt_of: Any, valid: torch.Tensor) -> None:
        for conv in conventions:  # gt_of: convention -> GT joints
            err = joint_errors(predicted_eval_joints(pred_verts, conv, body=body, h36m_regressor=h36m_reg), gt_of(conv))
            means.add(f"{conv}/mpjpe", _nan_where(err.mpjpe * _MM, valid))
            means.add(f"{conv}/pa_mpjpe", _nan_where(err.pa_mpjpe.float() * _MM, valid))

    def update(out: Any, batch: Batch, tally: _Tally) -> None:
        means, fb, parts = tally.means, tally.fb, tally.parts
        if dataset == "synthetic":
            for name, values in batch_errors(out, batch).items():
                means.add(name, values)
            if stage == "full" and batch.parts is not None:
                gt_parts = batch.parts.long()
                if gt_parts.dim() == 4:
                    gt_parts = gt_parts[:, 0]
                mask, labels = segmentation_from_mesh(out.vertices, out.camera, body, tuple(gt_parts.shape[-2:]))
                fb.update(mask.cpu(), (gt_parts > 0).long().cpu())
                parts.update(labels.cpu(), gt_parts.cpu())
            return
        if stage != "full":
            return
        if dataset.startswith("h36m"):
            add_joint_errors(means, out.vertices, lambda conv: gt_eval_joints_from_j24(batch.joints3d.float(), conv),
                             batch.has_3d.bool())
        elif dataset in ("surreal", "3dpw"):
            if bodies is None or loaded.body.name != "smpl":
                return
            gt_verts = _gt_smpl_meshes(batch, bodies, device)
            valid = batch.has_smpl.bool()
            if dataset == "surreal":
                _, gt_lsp = body.regress_joints(gt_verts)
                pve = per_vertex_error(out.vertices, gt_verts, "hips", out.lsp_joints, gt_lsp)
                means.add("pve", _nan_where(pve * _MM, valid))
            else:
                add_joint_errors(means, out.vertices, lambda conv: predicted_eval_joints(
                    gt_verts, conv, body=body, h36m_regressor=h36m_reg), valid)
        elif dataset == "lsp":
            _lsp_update(out, batch, data, body, fb, parts, loaded.config.model.img_size)

    n = 0
    for batch in tqdm(loader, disable=not progress, desc=f"eval {dataset}", unit="batch"):
        batch = to_device(batch, device)
        n += len(batch)
        if dataset == "synthetic":
            for name, values in template_errors(body, batch).items():
                baseline.add(name, values)
        for links, tally in zip(link_sets, tallies):  # the same images under every oracle
            update(_float_output(model(batch.image, stage=stage,
                                       oracle=oracle_for_batch(model, batch, links) if links else None)), batch, tally)

    if dataset.startswith("h36m"):
        notes.append("H36M: 14 LSP joints; 'decomr' = the body model's LSP regressor on the mesh, hip-midpoint "
                     "root (official DecoMR eval.py); 'cmr-spin' = J_regressor_h36m + H36M_TO_J14, pelvis root")
    if dataset == "synthetic":
        notes.append("synthetic test split (Anny renders, decomr.data.synthetic): no paper numbers exist for it")
    if loaded.path.name == "best.pt":
        d = loaded.config.data
        where = (f"the validation records held out of the training sets (the last {100 * d.official_val_fraction:g}% of "
                 "each)" if d.source == "official" else f"the synthetic '{d.eval_split}' split")
        notes.append(f"checkpoint best.pt: selected during training on {where}, never on test data")
    seconds = (time.perf_counter() - start) / len(link_sets)  # the shared pass, split evenly
    reports = []
    for links, tally in zip(link_sets, tallies):
        metrics, row_notes = tally.means.result(), list(notes)
        fb, parts = tally.fb, tally.parts
        if fb.num_images:
            metrics.update(fb_acc=100 * fb.accuracy(), fb_f1=fb.mean_f1(),
                           parts_acc=100 * parts.accuracy(), parts_f1=parts.mean_f1())
            where = ("the resolution of the ground-truth part maps (the IUV size)" if dataset == "synthetic"
                     else "the original image resolution (official protocol)")
            row_notes.append(f"segmentation: the predicted mesh projected with the predicted camera, counted over the "
                             f"whole set at {where}; F1 = mean over classes incl. background")
        if links:
            row_notes.append(f"oracle: {', '.join(ORACLE_NOTES[k] for k in links)}")
        report = EvalReport(
            dataset=dataset, checkpoint=str(loaded.path), num_samples=n, metrics=metrics,
            paper=dict(PAPER_NUMBERS.get(dataset, {})), baseline=baseline.result(), notes=row_notes,
            model={"body": loaded.config.body, "backbone": loaded.config.model.backbone,
                   "atlas": loaded.config.model.atlas, "lnet_input": loaded.config.model.lnet_input,
                   "img_size": loaded.config.model.img_size, "step": loaded.step, "run": loaded.config.name,
                   "seam_aware_read": bool(getattr(model.sampler, "seam_aware", False))},
            seconds=seconds, oracle=list(links), read=read)
        if write:
            write_report(report, Path(out_dir) if out_dir is not None else loaded.path.parent / "eval")
        reports.append(report)
    return reports


#: The two reads of Eq. 3 (report notes).
_READ_NOTES = {"plain": "paper's plain bilinear sampler",
               "seam-aware": "seam-aware sampler (no reads across chart slits, model.seam_aware_read)"}

#: What each oracle link replaces (report notes).
ORACLE_NOTES = {
    "iuv": "the GT IUV image feeds the UV transfer (Eq. 5) instead of CNet's",
    "camera": "the GT camera replaces CNet's (2D alignment only: the 3D errors do not change)",
    "location_map": "the GT location map replaces LNet's and is read with Eq. 3 (the UV map's resolution floor)",
}


def check_oracle_links(oracle: str | Sequence[str] | None) -> tuple[str, ...]:
    """Normalise an ``oracle`` argument to a tuple of links in chain order.

    Raises:
        ValueError: an unknown link (the message lists the valid ones).
    """
    if oracle is None:
        return ()
    items = [oracle] if isinstance(oracle, str) else list(oracle)
    bad = [k for k in items if k not in ORACLE_LINKS]
    if bad:
        raise ValueError(f"oracle: expected links among {ORACLE_LINKS}, got {bad}")
    return tuple(k for k in ORACLE_LINKS if k in items)


def oracle_for_batch(model: Any, batch: Batch | dict[str, Any], links: Sequence[str]) -> Any:
    """The :class:`decomr.models.Oracle` of a synthetic :class:`~decomr.data.batch.Batch` for the given links.

    The GT location map is the GT mesh (pelvis-centred camera frame, like LNet's output) drawn
    into the model's UV map at its resolution with its own sampler (``mesh_to_map``).
    """
    batch = as_batch(batch)
    missing = [k for k, need in (("iuv", "iuv"), ("camera", "camera"), ("location_map", "vertices"))
               if k in links and getattr(batch, need) is None]
    if missing:
        raise ValueError(f"oracle {missing}: the batch has no ground truth for it "
                         f"(fields: {sorted(k for k, _ in batch.items())})")
    location_map = None
    if "location_map" in links:
        with torch.no_grad():
            location_map = model.sampler.mesh_to_map(batch.vertices.float())  # (B, 3, R, R)
    return Oracle(iuv=batch.iuv.float() if "iuv" in links else None,
                  camera=batch.camera.float() if "camera" in links else None, location_map=location_map)


def _lsp_update(out: Any, batch: Batch, data: Any, body: Any, fb: SegmentationCounter,
                parts: SegmentationCounter, res: int) -> None:
    """Table 4: render in the crop, paste back into the original image, count against the GT there."""
    base = data.dataset if hasattr(data, "dataset") else data  # Subset -> OfficialDataset
    mask, labels = segmentation_from_mesh(out.vertices, out.camera, body, res)
    for i in range(mask.shape[0]):
        seg = base.load_segmentation(int(batch.index[i]))  # original resolution
        center, scale = batch.center[i].double().cpu(), batch.scale[i].double().cpu()
        pred = uncrop_image(torch.stack([mask[i], labels[i]]).cpu(), center, scale, tuple(seg.mask.shape))  # (2, H, W)
        fb.update(pred[0].long(), seg.mask)
        parts.update(pred[1].long(), seg.parts)
