"""Where does the error come from? Each link of DecoMR's chain replaced by its ground truth.

DecoMR is a chain (Fig. 2): CNet's IUV image -> local features transferred to UV space (Eq. 5)
-> LNet's location map -> mesh (Eq. 3). :func:`oracle_table` evaluates one checkpoint on the same
synthetic test images with nothing, then each link, replaced by its ground truth
(:class:`decomr.models.Oracle`):

==================  ==============================================================================
row                 what it says
==================  ==============================================================================
model               the model as it is
GT IUV              the transfer reads the true IUV image: what CNet's dense correspondence costs
GT camera           the true camera: 2D alignment only (3D errors unchanged; mesh IoU changes)
GT IUV + camera     both
GT location map     the true location map read with Eq. 3: the UV map's resolution floor at R
==================  ==============================================================================

The gap between "model" and "GT IUV" is what a better CNet could win; between "GT IUV" and
"GT location map" what a better LNet (and global feature) could win; the last row is the floor
that no network can go below with this UV map at this resolution.

Example::

    rows = oracle_table("data/checkpoints/decomr_anny_cpu.pt", synthetic_size=256)
    print(oracle_markdown(rows))
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from decomr.data.batch import Batch
from decomr.eval.evaluate import evaluate_oracles, oracle_for_batch
from decomr.train.checkpoint import load_model
from decomr.train.data import build_test_dataset
from decomr.train.loop import _float_output

__all__ = ["ORACLE_ROWS", "OracleRow", "oracle_table", "oracle_markdown", "oracle_outputs"]

#: Rows of the table: label -> links given their ground truth.
ORACLE_ROWS: dict[str, tuple[str, ...]] = {
    "model": (),
    "GT IUV": ("iuv",),
    "GT camera": ("camera",),
    "GT IUV + camera": ("iuv", "camera"),
    "GT location map": ("location_map",),
}

#: Columns of the table (metric key, header).
_COLUMNS = (("mpjpe", "MPJPE (mm)"), ("pa_mpjpe", "PA-MPJPE (mm)"), ("pve", "per-vertex (mm)"),
            ("facing_error", "facing (deg)"), ("fb_acc", "mesh fg acc. (%)"), ("fb_f1", "mesh fg F1"))


@dataclass(frozen=True)
class OracleRow:
    """One row of :func:`oracle_table`.

    Attributes:
        label: e.g. ``"GT IUV"``.
        links: the links replaced by their ground truth.
        metrics: the evaluation's metrics (mm, degrees, %).
        baseline: the template body's errors on the same images.
    """

    label: str
    links: tuple[str, ...]
    metrics: dict[str, float]
    baseline: dict[str, float]


def oracle_table(checkpoint: str | Path, synthetic_size: int | None = 256, batch_size: int = 16,
                 device: str = "cpu", rows: dict[str, tuple[str, ...]] | None = None,
                 out_dir: str | Path | None = None, progress: bool = False) -> list[OracleRow]:
    """Evaluate ``checkpoint`` with each row's links replaced by their ground truth.

    One pass over the test images (:func:`decomr.eval.evaluate.evaluate_oracles`): each batch is
    rendered once and run once per row.

    Args:
        checkpoint: a release, training checkpoint or run folder.
        synthetic_size: synthetic test images (the same ones for every row).
        batch_size, device: evaluation settings.
        rows: label -> links (default :data:`ORACLE_ROWS`).
        out_dir: write each row's report there (``synthetic-oracle-<links>.json``); None: no files.
        progress: tqdm bars.

    Returns:
        One :class:`OracleRow` per row, in order.
    """
    rows = rows or ORACLE_ROWS
    reports = evaluate_oracles(checkpoint, list(rows.values()), synthetic_size=synthetic_size, batch_size=batch_size,
                               device=device, out_dir=out_dir, write=out_dir is not None, progress=progress)
    return [OracleRow(label=label, links=tuple(links), metrics=report.metrics, baseline=report.baseline)
            for (label, links), report in zip(rows.items(), reports)]


def oracle_markdown(rows: list[OracleRow]) -> str:
    """The table as markdown, with the template body's row at the bottom."""
    def cell(value: Any, key: str) -> str:
        if value is None:
            return "—"
        return f"{value:.3f}" if key == "fb_f1" else f"{value:.1f}"

    head = "| row | " + " | ".join(h for _, h in _COLUMNS) + " |"
    lines = [head, "|---|" + "---:|" * len(_COLUMNS)]
    for r in rows:
        lines.append(f"| {r.label} | " + " | ".join(cell(r.metrics.get(k), k) for k, _ in _COLUMNS) + " |")
    if rows and rows[0].baseline:
        lines.append("| template body | " + " | ".join(cell(rows[0].baseline.get(k), k) for k, _ in _COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def oracle_outputs(checkpoint: str | Path, indices: Any = range(4),
                   rows: dict[str, tuple[str, ...]] | None = None) -> tuple[Any, dict[str, Any], Any]:
    """The model's outputs on a few synthetic test images under each row's oracle (for figures).

    Args:
        checkpoint: a release, training checkpoint or run folder.
        indices: test images.
        rows: label -> links (default :data:`ORACLE_ROWS`).

    Returns:
        (the images' :class:`~decomr.data.batch.Batch`, {label: float32 DecoMROutput}, the loaded
        model: ``.body``, ``.config``, ...).
    """
    loaded = load_model(checkpoint)
    data = build_test_dataset(loaded.config, loaded.body, loaded.atlas, split="test")
    batch = Batch.collate([data[int(i)] for i in indices])
    outputs = {}
    model = loaded.model.eval()
    with torch.no_grad():
        for label, links in (rows or ORACLE_ROWS).items():
            oracle = oracle_for_batch(model, batch, links) if links else None
            outputs[label] = _float_output(model(batch.image, oracle=oracle))
    return batch, outputs, loaded
