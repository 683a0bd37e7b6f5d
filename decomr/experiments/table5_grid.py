"""Table 5's grid: its runs (:class:`CellSpec`), their training configs, their outcomes
(:class:`CellResult`, :class:`Table5Result`) and the mean ± std over seeds (:class:`CellSummary`).

:mod:`decomr.experiments.table5` runs the grid, :mod:`decomr.experiments.table5_report` reports it.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from scipy import stats

from decomr.eval.paper import TABLE5_ATLASES, TABLE5_INPUTS
from decomr.experiments.budgets import Budget, get_budget
from decomr.models.config import READS, read_flag, read_name
from decomr.paths import REPO_ROOT
from decomr.train import TrainConfig, apply_overrides

__all__ = [
    "DECISIVE_INPUT",
    "RESULT_FILE",
    "CellSpec",
    "CellResult",
    "CellSummary",
    "Table5Result",
    "cell_config",
    "grid_cells",
    "mean_std_text",
    "paired_interval",
    "summarize",
    "table5_run_root",
    "trained_read",
]

#: The row whose two atlases make the decisive comparison (the paper's model vs the default UV).
DECISIVE_INPUT = "local+global"
#: The outcome of a cell, in its run folder.
RESULT_FILE = "table5_cell.json"
# ------------------------------------------------------------------------------------------------
# The grid
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class CellSpec:
    """One training run of the grid: a UV atlas, an LNet input (Table 5's row) and a seed."""

    atlas: str
    lnet_input: str
    seed: int

    def __post_init__(self) -> None:
        if self.atlas not in TABLE5_ATLASES:
            raise ValueError(f"atlas: expected one of {TABLE5_ATLASES}, got {self.atlas!r}")
        if self.lnet_input not in TABLE5_INPUTS:
            raise ValueError(f"lnet_input: expected one of {TABLE5_INPUTS}, got {self.lnet_input!r}")

    @property
    def cell(self) -> tuple[str, str]:
        """(atlas, lnet_input): the table cell, over seeds."""
        return self.atlas, self.lnet_input

    @property
    def folder(self) -> str:
        """``<atlas>_<input>/seed<k>`` with ``+`` spelled ``_`` (``continuous_local_global/seed0``)."""
        return f"{self.atlas}_{self.lnet_input.replace('+', '_')}/seed{self.seed}"

    def __str__(self) -> str:
        return f"{self.atlas}/{self.lnet_input}/seed{self.seed}"


def table5_run_root(budget: str | Budget) -> Path:
    """``runs/table5/<budget>`` at the repository root."""
    return REPO_ROOT / "runs" / "table5" / get_budget(budget).name


def grid_cells(budget: str | Budget, seeds: Sequence[int] | None = None, decisive_seeds: Sequence[int] | None = None,
               atlases: Sequence[str] = TABLE5_ATLASES, inputs: Sequence[str] = TABLE5_INPUTS) -> list[CellSpec]:
    """The runs of a grid in the order they are trained: first the decisive pair (both atlases
    with ``local+global``) with every seed, then the other cells. A partial grid then already holds
    the main comparison with its spread over seeds, which also sets the width of every one-seed
    interval of the report (:func:`~decomr.experiments.table5_report.difference_intervals`).

    Args:
        budget: budget name or :class:`Budget`.
        seeds: seeds of every cell (default: the budget's).
        decisive_seeds: extra seeds for the decisive pair only — both atlases with the
            ``local+global`` input, when both are in the grid (default: the budget's).
        atlases, inputs: a sub-grid (default: the whole of Table 5).

    Raises:
        ValueError: unknown atlas/input, or no seed.
    """
    b = get_budget(budget)
    seeds = tuple(b.seeds if seeds is None else seeds)
    extra = tuple(b.decisive_seeds if decisive_seeds is None else decisive_seeds)
    if not seeds:
        raise ValueError("seeds: expected at least one seed")
    for name, values, allowed in (("atlases", atlases, TABLE5_ATLASES), ("inputs", inputs, TABLE5_INPUTS)):
        bad = [v for v in values if v not in allowed]
        if bad or not values:
            raise ValueError(f"{name}: expected a non-empty subset of {allowed}, got {tuple(values)}")
    cells = []
    if DECISIVE_INPUT in inputs:
        pair_seeds = [*seeds, *(s for s in extra if s not in seeds)]
        cells += [CellSpec(a, DECISIVE_INPUT, int(s)) for s in pair_seeds for a in atlases]
    cells += [CellSpec(a, i, int(s)) for s in seeds for a in atlases for i in inputs if i != DECISIVE_INPUT]
    return cells


def cell_config(budget: str | Budget, spec: CellSpec, root: str | Path | None = None,
                extra_overrides: Sequence[str] = ()) -> Any:
    """The :class:`~decomr.train.TrainConfig` of one run: the budget's overrides of
    :meth:`TrainConfig.quick`, then the cell's atlas, LNet input, seed and folder."""
    b = get_budget(budget)
    root = Path(root) if root is not None else table5_run_root(b)
    name = f"table5_{b.name}_{spec.folder.replace('/', '_')}"
    return apply_overrides(TrainConfig.quick(), [
        *b.overrides, f"model.atlas={spec.atlas}", f"model.lnet_input={spec.lnet_input}", f"train.seed={spec.seed}",
        f"train.out_dir={root / spec.folder}", f"name={name}", *extra_overrides,
    ])


def trained_read(budget: str | Budget) -> str:
    """The read of Eq. 3 a budget's runs train with (``"seam-aware"`` or ``"plain"``, :data:`READS`)."""
    return read_name(cell_config(budget, CellSpec("continuous", DECISIVE_INPUT, 0)).model.seam_aware_read)


# ------------------------------------------------------------------------------------------------
# Outcomes
# ------------------------------------------------------------------------------------------------
@dataclass
class CellResult:
    """The outcome of one run of the grid.

    Attributes:
        spec: atlas, LNet input, seed.
        status: ``"done"`` (trained and evaluated by this call), ``"cached"`` (finished earlier,
            skipped), ``"interrupted"`` (stopped by the time limit; call again to resume) or
            ``"pending"`` (not started: no time left), or ``"started"`` (:func:`~decomr.experiments.table5.grid_status`:
            trained up to ``step``, running now or cut).
        metrics: synthetic test-split metrics (empty unless done/cached): ``mpjpe``,
            ``pa_mpjpe``, ``pve`` (mm), ``mask_iou``, ``uv_error``, ``fb_acc``, ``fb_f1``,
            ``parts_acc``, ``parts_f1`` (see :func:`decomr.eval.evaluate.evaluate_checkpoint`).
        run_dir: the run folder.
        step, total_steps: optimiser steps done / planned.
        train_seconds: wall time of training (all calls together), eval_seconds: of the evaluation.
        num_test: test samples evaluated.
        read_metrics: the same metrics under each read of Eq. 3 (:data:`READS`; the trained
            read's equal ``metrics``); empty for a run evaluated before both reads were.
    """

    spec: CellSpec
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    run_dir: Path = Path(".")
    step: int = 0
    total_steps: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    num_test: int = 0
    read_metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "cached")


@dataclass
class Table5Result:
    """All runs of a grid (finished or not).

    Attributes:
        budget: the :class:`Budget`.
        root: the grid's folder.
        cells: one :class:`CellResult` per run.
    """

    budget: Budget
    root: Path
    cells: list[CellResult]

    @property
    def finished(self) -> list[CellResult]:
        return [c for c in self.cells if c.finished]

    @property
    def complete(self) -> bool:
        """Every run of the grid finished."""
        return bool(self.cells) and all(c.finished for c in self.cells)

    def values(self, atlas: str, lnet_input: str, metric: str) -> dict[int, float]:
        """seed -> value of ``metric`` for one cell (finished runs only)."""
        return {c.spec.seed: c.metrics[metric] for c in self.finished
                if c.spec.cell == (atlas, lnet_input) and metric in c.metrics}

    def summary(self) -> dict[tuple[str, str], CellSummary]:
        """(atlas, input) -> :class:`CellSummary` (mean ± std over seeds)."""
        return summarize(self)

    def with_read(self, read: str) -> "Table5Result":
        """The grid with every run's metrics under one read of Eq. 3 (``"plain"`` or
        ``"seam-aware"``); a run not evaluated with that read has no metrics.

        Raises:
            ValueError: an unknown read.
        """
        read_flag(read)  # a clear error for a name not in READS
        return Table5Result(self.budget, self.root, [dataclasses.replace(c, metrics=dict(c.read_metrics.get(read, {})))
                                                     for c in self.cells])


# ------------------------------------------------------------------------------------------------
# Mean ± std over seeds
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellSummary:
    """One cell of the table over its seeds.

    Attributes:
        atlas, lnet_input: the cell.
        values: metric -> {seed: value}.
    """

    atlas: str
    lnet_input: str
    values: dict[str, dict[int, float]]

    def n(self, metric: str) -> int:
        return len(self.values.get(metric, {}))

    def mean(self, metric: str) -> float:
        v = list(self.values.get(metric, {}).values())
        return statistics.fmean(v) if v else math.nan

    def std(self, metric: str) -> float:
        """Sample standard deviation over seeds (NaN with fewer than 2)."""
        v = list(self.values.get(metric, {}).values())
        return statistics.stdev(v) if len(v) > 1 else math.nan

    def fmt(self, metric: str, digits: int = 1) -> str:
        """``"61.2 ± 1.3 (3)"``, ``"61.2"`` for one seed, ``"—"`` for none."""
        n = self.n(metric)
        return mean_std_text(self.values.get(metric, {}).values(), digits) + (f" ({n})" if n > 1 else "")


def mean_std_text(values: Iterable[float], digits: int = 1) -> str:
    """``"61.2 ± 1.3"`` (sample std), ``"61.2"`` for one value, ``"—"`` for none."""
    vals = list(values)
    if not vals:
        return "—"
    std = f" ± {statistics.stdev(vals):.{digits}f}" if len(vals) > 1 else ""
    return f"{statistics.fmean(vals):.{digits}f}{std}"


def paired_interval(diffs: Sequence[float], level: float = 0.95) -> tuple[float, float, tuple[float, float]]:
    """Mean, sample std and the ``level`` t-interval of the mean of paired differences.

    Returns:
        (mean, std, (low, high)); std and the interval are NaN with fewer than 2 values.

    Raises:
        ValueError: no values, or ``level`` outside (0, 1).
    """
    if not diffs:
        raise ValueError("diffs: expected at least one paired difference")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected a value in (0, 1), got {level}")
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return mean, math.nan, (math.nan, math.nan)
    std = statistics.stdev(diffs)
    half = float(stats.t.ppf(0.5 + level / 2, len(diffs) - 1)) * std / math.sqrt(len(diffs))
    return mean, std, (mean - half, mean + half)


def summarize(result: Table5Result) -> dict[tuple[str, str], CellSummary]:
    """(atlas, input) -> :class:`CellSummary` of every cell with at least one finished run."""
    out: dict[tuple[str, str], CellSummary] = {}
    for atlas in TABLE5_ATLASES:
        for lnet_input in TABLE5_INPUTS:
            runs = [c for c in result.finished if c.spec.cell == (atlas, lnet_input)]
            if not runs:
                continue
            metrics = sorted({m for c in runs for m in c.metrics})
            values = {m: {c.spec.seed: c.metrics[m] for c in runs if m in c.metrics} for m in metrics}
            out[(atlas, lnet_input)] = CellSummary(atlas, lnet_input, values)
    return out
