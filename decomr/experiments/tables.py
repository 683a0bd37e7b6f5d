"""Tables 2-4 and supplementary Table 2 for one checkpoint, beside the paper's comparison rows.

:func:`reproduce_tables` evaluates a checkpoint on every evaluation set that is present
(:func:`decomr.eval.evaluate.evaluate_checkpoint`): Human3.6M protocols 1 and 2 (Table 2), SURREAL
(Table 3), LSP segmentation (Table 4), 3DPW (supplementary Table 2), and the synthetic test split,
which works out of the box and is our counterpart of all of them. A licence-gated dataset that is
missing is skipped with the reason (where to put its files). The result is one markdown file,
``figures/tables_2_4.md``::

    decomr reproduce tables --checkpoint runs/table5/cpu/continuous_local_global/seed0/last.pt
"""
from __future__ import annotations

import datetime
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from decomr.eval.evaluate import EVAL_DATASETS, evaluate_checkpoint
from decomr.paths import atomic_write_bytes, figures_dir

logger = logging.getLogger(__name__)

__all__ = ["PAPER_COMPARISONS", "TablesReport", "reproduce_tables", "tables_markdown"]

#: The paper's comparison tables: title, dataset, metric columns (our report's keys) and rows.
PAPER_COMPARISONS: dict[str, dict[str, Any]] = {
    "table2": {
        "title": "Table 2 — Human3.6M test set, protocol 2, PA-MPJPE (mm, lower is better)",
        "dataset": "h36m-p2",
        "columns": {"decomr/pa_mpjpe": "PA-MPJPE"},
        "rows": [("Lassner et al.", (93.9,)), ("SMPLify", (82.3,)), ("Pavlakos et al.", (75.9,)), ("HMR", (56.8,)),
                 ("NBF", (59.9,)), ("CMR", (50.1,)), ("DenseRaC", (48.0,)), ("SPIN", (41.1,)),
                 ("DecoMR (paper)", (39.3,))],
    },
    "table2_p1": {
        "title": "Human3.6M protocol 1 (Table 5's P1 columns; mm, lower is better)",
        "dataset": "h36m-p1",
        "columns": {"decomr/mpjpe": "MPJPE", "decomr/pa_mpjpe": "PA-MPJPE"},
        "rows": [("DecoMR (paper, Table 5)", (62.7, 42.2))],
    },
    "table3": {
        "title": "Table 3 — SURREAL, surface error (mean per-vertex error after hip alignment, mm)",
        "dataset": "surreal",
        "columns": {"pve": "surface error"},
        "rows": [("SMPLify++", (75.3,)), ("Tung et al.", (74.5,)), ("BodyNet", (73.6,)), ("DecoMR (paper)", (56.5,))],
    },
    "table4": {
        "title": "Table 4 — LSP test set, foreground and 6-part segmentation (higher is better)",
        "dataset": "lsp",
        "columns": {"fb_acc": "FB acc.", "fb_f1": "FB F1", "parts_acc": "parts acc.", "parts_f1": "parts F1"},
        "rows": [("SMPLify oracle", (92.17, 0.88, 88.82, 0.67)), ("SMPLify", (91.89, 0.88, 87.71, 0.67)),
                 ("SMPLify on Pavlakos et al.", (92.17, 0.88, 88.24, 0.64)), ("HMR", (91.67, 0.87, 87.12, 0.60)),
                 ("CMR", (91.46, 0.87, 88.69, 0.66)), ("SPIN", (91.83, 0.87, 89.41, 0.68)),
                 ("DecoMR (paper)", (92.10, 0.88, 89.45, 0.69))],
    },
    "supp_table2": {
        "title": "Supplementary Table 2 — 3DPW test set, PA-MPJPE (mm, lower is better)",
        "dataset": "3dpw",
        "columns": {"decomr/pa_mpjpe": "PA-MPJPE"},
        "rows": [("HMR", (81.3,)), ("CMR", (70.2,)), ("Kanazawa et al. 2019", (72.6,)), ("Arnab et al.", (72.2,)),
                 ("Sun et al.", (69.9,)), ("DecoMR Ours-A (paper)", (68.5,)),
                 ("DecoMR Ours-B (paper, SPIN fits)", (61.7,)), ("SPIN", (59.2,))],
    },
}

#: The synthetic test split's metrics, with the table whose metric each one mirrors.
_SYNTHETIC_COLUMNS = (
    ("mpjpe", "MPJPE (Tables 2, 5)"), ("pa_mpjpe", "PA-MPJPE (Tables 2, 5)"), ("pve", "per-vertex error (Table 3)"),
    ("fb_acc", "FB acc. (Table 4)"), ("fb_f1", "FB F1 (Table 4)"), ("parts_acc", "parts acc. (Table 4)"),
    ("parts_f1", "parts F1 (Table 4)"), ("mask_iou", "CNet mask IoU"), ("uv_error", "CNet UV error"),
)


@dataclass
class TablesReport:
    """The outcome of :func:`reproduce_tables`.

    Attributes:
        checkpoint: the file evaluated.
        reports: dataset -> :class:`~decomr.eval.evaluate.EvalReport` of the datasets evaluated.
        skipped: dataset -> why it was skipped (missing files, ...).
        path: the markdown written (None if not written).
    """

    checkpoint: str
    reports: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    path: Path | None = None


def _fmt(value: float | None, key: str) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.2f}" if key.endswith(("_f1", "_iou", "_acc", "uv_error")) else f"{value:.1f}"  # Table 4: 2 decimals


def tables_markdown(report: TablesReport) -> str:
    """The report as markdown: one section per paper table with our row appended."""
    model = next(iter(report.reports.values())).model if report.reports else {}
    lines = [
        "# Tables 2-4 and supplementary Table 2 — one checkpoint beside the paper",
        "",
        f"Checkpoint `{report.checkpoint}` (body {model.get('body')}, backbone {model.get('backbone')}, "
        f"{model.get('img_size')} px crops, atlas {model.get('atlas')}, LNet input {model.get('lnet_input')}, "
        f"step {model.get('step')}). Written {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} by "
        "`decomr reproduce tables`. The paper's rows are copied from its tables (SMPL, ResNet-50, "
        "H36M + UP-3D training; SURREAL training for Table 3).",
    ]
    for key, table in PAPER_COMPARISONS.items():
        dataset, cols = table["dataset"], table["columns"]
        lines += ["", f"## {table['title']}", "", "| method | " + " | ".join(cols.values()) + " |",
                  "|---|" + "---:|" * len(cols)]
        for name, values in table["rows"]:
            lines.append(f"| {name} | " + " | ".join(_fmt(v, k) for v, k in zip(values, cols)) + " |")
        if dataset in report.reports:
            r = report.reports[dataset]
            ours = [_fmt(r.metrics.get(k), k) for k in cols]
            lines.append(f"| **this checkpoint** ({r.num_samples} samples) | " + " | ".join(ours) + " |")
            extra = {k: v for k, v in r.metrics.items() if k not in cols}
            if extra:
                lines += ["", "Also measured: " + ", ".join(f"{k} {_fmt(v, k)}" for k, v in sorted(extra.items()))
                          + "."]
            if not r.metrics:
                lines += ["", "Nothing could be measured: " + " ".join(r.notes)]
            elif r.notes:
                lines += ["", "Notes: " + " ".join(r.notes)]
        else:
            reason = report.skipped.get(dataset, "not requested")
            lines += ["", f"**this checkpoint**: skipped — {reason}"]
    lines += ["", "## Synthetic test split — our counterpart of every table", ""]
    syn = report.reports.get("synthetic")
    if syn is None:
        lines.append(f"skipped — {report.skipped.get('synthetic', 'not requested')}")
    else:
        lines += [f"{syn.num_samples} synthetic Anny test images (`decomr.data.synthetic`, the checkpoint's own "
                  "crop size); joints in the DecoMR convention (14 LSP joints from the mesh, hip-midpoint root), "
                  "segmentation from the projected mesh as in Table 4. mm for errors, % for accuracies.", "",
                  "| " + " | ".join(label for _, label in _SYNTHETIC_COLUMNS) + " |",
                  "|" + "---:|" * len(_SYNTHETIC_COLUMNS),
                  "| " + " | ".join(_fmt(syn.metrics.get(k), k) for k, _ in _SYNTHETIC_COLUMNS) + " |"]
    return "\n".join(lines) + "\n"


def reproduce_tables(checkpoint: str | Path, *, root: str | Path | None = None, out: str | Path | None = None,
                     datasets: Sequence[str] | None = None, synthetic_size: int | None = None,
                     device: str = "cpu", batch_size: int = 16, max_samples: int | None = None,
                     write: bool = True) -> TablesReport:
    """Evaluate one checkpoint on every available dataset and write the side-by-side report.

    Args:
        checkpoint: ``.pt`` file or run folder.
        root: folder holding the official ``<name>/`` dataset folders (default ``data/datasets``).
        out: the markdown file (default ``figures/tables_2_4.md``).
        datasets: which of :data:`~decomr.eval.evaluate.EVAL_DATASETS` (default: all).
        synthetic_size: synthetic test samples (default: the checkpoint's test split).
        device: torch device.
        batch_size: evaluation batch size.
        max_samples: evaluate only the first samples of each dataset (quick checks).
        write: write the markdown (the per-dataset JSON/markdown reports go to
            ``<checkpoint folder>/eval/`` either way).

    Returns:
        :class:`TablesReport`.

    Raises:
        ValueError: an unknown dataset name.
    """
    datasets = tuple(EVAL_DATASETS if datasets is None else datasets)
    bad = [d for d in datasets if d not in EVAL_DATASETS]
    if bad:
        raise ValueError(f"datasets: expected names from {EVAL_DATASETS}, got {bad}")
    report = TablesReport(checkpoint=str(checkpoint))
    for dataset in datasets:
        try:
            r = evaluate_checkpoint(checkpoint, dataset, root=root, device=device, batch_size=batch_size,
                                    max_samples=max_samples, synthetic_size=synthetic_size)
        except FileNotFoundError as err:
            report.skipped[dataset] = str(err)
            logger.info("tables: %s skipped: %s", dataset, err)
            continue
        report.reports[dataset] = r
        report.checkpoint = r.checkpoint
    if write:
        path = Path(out) if out is not None else figures_dir() / "tables_2_4.md"
        atomic_write_bytes(path, tables_markdown(report).encode())
        report.path = path
    return report
