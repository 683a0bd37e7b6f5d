"""Table 5's report: mean ± std over seeds, the paper's orderings checked, ``figures/table5.md``.

The paper draws four conclusions from Table 5 (Sec. 4.3). :func:`check_orderings` tests each on
any mapping (atlas, input) -> error, so the same code scores the paper's own numbers (per column:
P1/P2, MPJPE/PA-MPJPE) and ours (per metric):

1. ``local_beats_global``: transferred local features beat the global-feature baseline (per atlas);
2. ``local_global_best``: local + global is the best input (per atlas);
3. ``pixels_smaller_gain``: transferring raw pixels (plus the global feature) gains less over the
   baseline than local + global does (per atlas);
4. ``continuous_beats_default``: the continuous UV map beats the default one in every row.

>>> from decomr.experiments.table5 import PAPER_TABLE5
>>> paper_p2_pa = {cell: row.p2_pa_mpjpe for cell, row in PAPER_TABLE5.items()}
>>> [o.holds for o in check_orderings(paper_p2_pa)]
[True, True, True, True]
>>> paper_p1 = {cell: row.p1_mpjpe for cell, row in PAPER_TABLE5.items()}
>>> [o.holds for o in check_orderings(paper_p1)]   # MPJPE P1: 69.8 > 69.5, and a 65.0 tie
[False, False, False, True]
"""
from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import matplotlib.pyplot as plt

from decomr.body import load as load_body
from decomr.eval.evaluate import template_baseline
from decomr.eval.paper import PAPER_TABLE5, TABLE5_ATLASES, TABLE5_INPUTS
from decomr.experiments.budgets import Budget, get_budget
from decomr.experiments.table5_grid import (DECISIVE_INPUT, CellSpec, Table5Result, cell_config, mean_std_text,
                                            paired_interval, summarize, trained_read)
from decomr.models import READS, read_name
from decomr.paths import atomic_write_bytes, repo_relative
from decomr.train import build_test_dataset
from decomr.uv import load_atlas
from decomr.uv.roundtrip import round_trip_errors
from decomr.viz.body_plots import save_figure
from decomr.viz.experiment_plots import plot_table5

__all__ = [
    "CLEAR_MARGIN",
    "Check",
    "METRICS",
    "METRIC_LABELS",
    "Ordering",
    "PairComparison",
    "check_orderings",
    "compare_pair",
    "difference_intervals",
    "table5_markdown",
    "template_on_test_images",
    "write_table5_report",
]

#: A run "clearly beats" the template body when its PA-MPJPE is at most this fraction of the template's.
CLEAR_MARGIN = 0.6
#: Our metrics in the table (lower is better, mm): MPJPE and PA-MPJPE (14 LSP joints, hip root), per-vertex error.
METRICS: tuple[str, ...] = ("mpjpe", "pa_mpjpe", "pve")
METRIC_LABELS = {"mpjpe": "MPJPE", "pa_mpjpe": "PA-MPJPE", "pve": "per-vertex error"}
_PAPER_ATLAS_LABEL = {"default": "SMPL default", "continuous": "continuous"}
_INPUT_LABEL = {"global": "F_G", "local": "F_L", "local+global": "F_G + F_L", "pixels+global": "F_G + raw pixels"}


# ------------------------------------------------------------------------------------------------
# The paper's orderings
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One comparison ``left < right`` behind an ordering (errors, lower is better).

    Attributes:
        label: what is compared (``"default: F_L < F_G"``).
        left, right: the two errors (None if a cell is missing).
        holds: ``left < right - tolerance`` (None if a value is missing).
    """

    label: str
    left: float | None
    right: float | None
    holds: bool | None
    interval: tuple[float, float] | None = None
    basis: str = ""

    def text(self) -> str:
        """``"44.8 < 49.1 yes"``-style cell text."""
        fmt = lambda v: "—" if v is None else f"{v:.1f}"  # noqa: E731
        return f"{fmt(self.left)} vs {fmt(self.right)}: {_WORD[self.holds]}"

    @property
    def verdict(self) -> str:
        """``holds`` / ``fails`` / ``not separable`` (the interval holds 0) / ``n/a`` (a cell missing)."""
        if self.holds is None:
            return "not separable" if self.interval is not None else "n/a"
        return "holds" if self.holds else "fails"

    def interval_text(self) -> str:
        """``"-3.1 mm [-5.0, -1.2] (paired over 3 seeds): holds"``; ``"-3.1 mm (no interval): holds"``
        when the difference has no interval yet (decided on the point values)."""
        if self.left is None or self.right is None:
            return self.verdict
        if self.interval is None:
            return f"{self.left - self.right:+.1f} mm (no interval): {self.verdict}"
        lo, hi = self.interval
        return f"{self.left - self.right:+.1f} mm [{lo:+.1f}, {hi:+.1f}] ({self.basis}): {self.verdict}"


_WORD = {True: "yes", False: "no", None: "n/a"}


@dataclass(frozen=True)
class Ordering:
    """One of the paper's conclusions from Table 5, checked on one set of numbers.

    Attributes:
        name: ``local_beats_global``, ``local_global_best``, ``pixels_smaller_gain`` or
            ``continuous_beats_default``.
        claim: the conclusion in words.
        holds: True if every comparison holds, False if one fails, None if a cell is missing
            (and none fails).
        checks: the comparisons (:class:`Check`).
    """

    name: str
    claim: str
    holds: bool | None
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def mark(self) -> str:
        """``holds``, ``fails``, ``not separable`` (no check fails, one interval holds 0) or ``n/a``."""
        if self.holds is None and any(c.verdict == "not separable" for c in self.checks):
            return "not separable"
        return {True: "holds", False: "fails", None: "n/a"}[self.holds]


_CLAIMS = {
    "local_beats_global": "local features beat the global-feature baseline (both UV maps)",
    "local_global_best": "local + global is the best LNet input (both UV maps)",
    "pixels_smaller_gain": "raw pixels + global gain less over the baseline than local + global (both UV maps)",
    "continuous_beats_default": "the continuous UV map beats the default one in every row",
}


Cell = tuple[str, str]
#: ``(left cell, right cell) -> (low, high, basis)``: an interval of ``left - right``, or None.
IntervalFn = Callable[[Cell, Cell], "tuple[float, float, str] | None"]


def check_orderings(values: Mapping[tuple[str, str], float], tolerance: float = 0.0,
                    intervals: IntervalFn | None = None) -> list[Ordering]:
    """Check the paper's four conclusions on errors (lower is better) by cell.

    Args:
        values: (atlas, lnet_input) -> error. Missing cells make the affected comparisons ``None``.
        tolerance: a comparison ``a < b`` holds when ``a < b - tolerance`` (ties fail).
        intervals: optional interval of each difference ``a - b`` (:func:`difference_intervals`).
            Where it gives one, the comparison holds when the whole interval is below 0, fails
            when it is above 0, and is not separable (``holds=None``) when it holds 0.

    Returns:
        the four :class:`Ordering` in the order of the module docstring.
    """
    def get(cell: Cell) -> float | None:
        v = values.get(cell)
        return None if v is None or not math.isfinite(v) else float(v)

    def check(label: str, left: Cell, right: Cell) -> Check:
        a, b = get(left), get(right)
        if a is None or b is None:
            return Check(label, a, b, None)
        found = intervals(left, right) if intervals is not None else None
        if found is None:
            return Check(label, a, b, a < b - tolerance)
        lo, hi, basis = found
        return Check(label, a, b, True if hi < 0 else False if lo > 0 else None, (lo, hi), basis)

    def ordering(name: str, checks: list[Check]) -> Ordering:
        flags = [c.holds for c in checks]
        holds = False if False in flags else (None if None in flags else True)
        return Ordering(name, _CLAIMS[name], holds, tuple(checks))

    L = _INPUT_LABEL
    out = [ordering("local_beats_global", [
        check(f"{a}: F_L < F_G", (a, "local"), (a, "global")) for a in TABLE5_ATLASES])]
    out.append(ordering("local_global_best", [
        check(f"{a}: F_G + F_L < {L[other]}", (a, "local+global"), (a, other))
        for a in TABLE5_ATLASES for other in TABLE5_INPUTS if other != "local+global"]))
    out.append(ordering("pixels_smaller_gain", [
        check(f"{a}: F_G + F_L < F_G + raw pixels", (a, "local+global"), (a, "pixels+global"))
        for a in TABLE5_ATLASES]))
    out.append(ordering("continuous_beats_default", [
        check(f"{L[i]}: continuous < default", ("continuous", i), ("default", i)) for i in TABLE5_INPUTS]))
    return out


def difference_intervals(result: Table5Result, metric: str, level: float = 0.95) -> IntervalFn:
    """The ``level`` interval of ``left - right`` for two cells of a grid, on ``metric``.

    - Cells with at least two seeds in common: the paired t-interval of the mean difference over
      those seeds (:func:`~decomr.experiments.table5_grid.paired_interval`).
    - Cells with one seed in common: that seed's difference with a prediction interval whose
      width comes from the decisive pair (continuous vs default, F_G + F_L): the spread of its
      paired differences over seeds stands for the seed-to-seed noise of any one-seed difference,
      ``± t(n-1) * s * sqrt(1 + 1/n)``. None when the decisive pair has fewer than two paired seeds.
    """
    noise = [d - c for c, d in _paired(result, metric, ("continuous", DECISIVE_INPUT), ("default", DECISIVE_INPUT))]

    def interval(left: Cell, right: Cell) -> tuple[float, float, str] | None:
        pairs = _paired(result, metric, left, right)
        diffs = [a - b for a, b in pairs]
        if len(diffs) >= 2:
            _, _, (lo, hi) = paired_interval(diffs, level)
            return lo, hi, f"paired over {len(diffs)} seeds"
        if len(diffs) == 1 and len(noise) >= 2:
            n = len(noise)
            _, _, (lo, hi) = paired_interval(noise, level)  # half-width t * s / sqrt(n) ...
            half = (hi - lo) / 2 * math.sqrt(n + 1)  # ... times sqrt(n + 1): t * s * sqrt(1 + 1/n)
            return diffs[0] - half, diffs[0] + half, f"1 seed; spread of the decisive pair's {n} seeds"
        return None

    return interval


def _paired(result: Table5Result, metric: str, left: Cell, right: Cell) -> list[tuple[float, float]]:
    a, b = result.values(*left, metric), result.values(*right, metric)
    return [(a[s], b[s]) for s in sorted(set(a) & set(b))]


# ------------------------------------------------------------------------------------------------
# The decisive pair
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairComparison:
    """Continuous vs default UV map for one LNet input and metric, over seeds.

    Attributes:
        metric, lnet_input: what is compared.
        continuous, default: seed -> value.
        paired: seeds run with both atlases (same initialisation of CNet and the same batches).
        diff_mean, diff_std: mean and sample std of ``default - continuous`` over paired seeds
            (positive = the continuous map is better); std NaN with fewer than 2 pairs.
        wins: paired seeds where the continuous map is better.
        interval: 95 % t-interval of the mean paired difference (NaNs with fewer than 2 pairs).
    """

    metric: str
    lnet_input: str
    continuous: dict[int, float]
    default: dict[int, float]
    paired: tuple[int, ...]
    diff_mean: float
    diff_std: float
    wins: int
    interval: tuple[float, float] = (math.nan, math.nan)

    def sentence(self) -> str:
        """One line: both means ± std and the paired difference."""
        def ms(v: dict[int, float]) -> str:
            return f"{mean_std_text(v.values())} mm (n={len(v)})" if v else "—"

        label = METRIC_LABELS.get(self.metric, self.metric)
        text = f"{label}: continuous {ms(self.continuous)} vs default {ms(self.default)}"
        if self.paired:
            std = f" ± {self.diff_std:.1f}" if math.isfinite(self.diff_std) else ""
            ci = f", 95 % interval [{self.interval[0]:+.1f}, {self.interval[1]:+.1f}]" \
                if math.isfinite(self.interval[0]) else ""
            n = len(self.paired)
            text += (f"; default − continuous = {self.diff_mean:+.1f}{std} mm{ci} over {n} paired "
                     f"seed{'s' if n > 1 else ''}, continuous better in {self.wins} of {n}")
        return text


def compare_pair(result: Table5Result, metric: str = "pa_mpjpe", lnet_input: str = DECISIVE_INPUT) -> PairComparison:
    """Compare the two atlases for ``lnet_input`` on ``metric`` over the finished seeds."""
    cont = result.values("continuous", lnet_input, metric)
    default = result.values("default", lnet_input, metric)
    paired = tuple(sorted(set(cont) & set(default)))
    diffs = [default[s] - cont[s] for s in paired]
    mean, std, interval = paired_interval(diffs) if diffs else (math.nan, math.nan, (math.nan, math.nan))
    return PairComparison(metric=metric, lnet_input=lnet_input, continuous=cont, default=default, paired=paired,
                          diff_mean=mean, diff_std=std, wins=sum(d > 0 for d in diffs), interval=interval)


# ------------------------------------------------------------------------------------------------
# Markdown
# ------------------------------------------------------------------------------------------------
def _context_lines(result: Table5Result, template: Mapping[str, float] | None,
                   floors: Mapping[str, float] | None, map_size: int | None) -> list[str]:
    """The template yardstick and the resolution floors (``floors``: atlas -> mm, the trained read)."""
    lines = []
    if template:
        lines.append(f"- Yardstick: the template body, upright and facing the camera, predicted for every test image "
                     f"scores MPJPE {template['mpjpe']:.1f}, PA-MPJPE {template['pa_mpjpe']:.1f}, per-vertex error "
                     f"{template['pve']:.1f} mm on the same images (people face every direction, so the global "
                     "rotation alone costs a lot of MPJPE).")
    if floors:
        parts = ", ".join(f"{a} {v:.1f} mm" for a, v in floors.items())
        lines.append(f"- Resolution floor: the ground-truth mesh sent through a {map_size} px location map and back "
                     f"(Eq. 3, no network) is off by {parts} on average: the continuous map fills less of the square "
                     "(one chart with a curved outline), so at equal resolution it samples the body more coarsely.")
    return lines


_READ_LABEL = {"plain": "plain (paper)", "seam-aware": "seam-aware (decomr)"}


def _read_lines(result: Table5Result, floors: Mapping[str, Mapping[str, float]] | None, map_size: int | None
                ) -> list[str]:
    """The atlas comparison (conclusion 4 and the decisive pair) under both reads of Eq. 3, the
    paper's plain one first, decided by the same 95 % intervals as above."""
    trained = trained_read(result.budget)
    lines = ["", "## The atlas comparison under both reads of Eq. 3", "",
             f"The runs train with the {_READ_LABEL[trained]} read of the location map into vertices (Eq. 3, "
             "`model.seam_aware_read`; the tables above use it). The seam-aware read skips stencil pixels across "
             "a slit or a chart border, which helps the default atlas (many chart borders) more than the "
             "continuous one (one seam), so the atlas comparison is given with both reads of the same trained "
             "models, the paper's plain read first."]
    if floors and map_size:
        lines += ["", f"Resolution floors at {map_size} px (ground-truth mesh → location map → mesh, no network): "
                  + "; ".join(f"{_READ_LABEL[r]} " + ", ".join(f"{a} {v:.1f} mm" for a, v in floors[r].items())
                              for r in READS if r in floors) + "."]
    decided, pairs, counts = {}, {}, {}
    for read in READS:
        r = result.with_read(read)
        counts[read] = sum(bool(c.metrics) for c in r.finished)
        if not counts[read]:
            continue
        means = {k: {m: s.mean(m) for m in METRICS} for k, s in summarize(r).items()}
        decided[read] = {m: check_orderings({k: v[m] for k, v in means.items()},
                                            intervals=difference_intervals(r, m))[3] for m in METRICS}
        pairs[read] = compare_pair(r, "pa_mpjpe")
    n = len(result.finished)
    lines += ["", "Runs evaluated with each read: " + ", ".join(f"{_READ_LABEL[r]} {counts[r]} of {n}" for r in READS)
              + "." + ("" if all(counts[r] == n for r in READS) else
                       f" The next `decomr reproduce table5 --budget {result.budget.name}` evaluates the missing "
                       "ones (their `last.pt`, about a minute a run on a CPU).")]
    if not decided:
        return lines
    lines += ["", "Continuous − default (mm, 95 % interval; \"holds\" = the continuous map is better):", "",
              "| LNet input | Eq. 3 read | " + " | ".join(METRIC_LABELS[m] for m in METRICS) + " |",
              "|---|---|" + "---|" * len(METRICS)]
    for i, lnet_input in enumerate(TABLE5_INPUTS):
        for read, by_metric in decided.items():
            lines.append(f"| {_INPUT_LABEL[lnet_input]} | {_READ_LABEL[read]} | "
                         + " | ".join(by_metric[m].checks[i].interval_text() for m in METRICS) + " |")
    lines += [""] + [f"- \"{_CLAIMS['continuous_beats_default']}\", {_READ_LABEL[read]} read: "
                     + ", ".join(f"{METRIC_LABELS[m]} {by_metric[m].mark}" for m in METRICS) + "."
                     for read, by_metric in decided.items()]
    lines += [f"- Decisive pair, {_READ_LABEL[read]} read: {pair.sentence()}." for read, pair in pairs.items()]
    return lines


def _closing_lines(orderings: Mapping[str, list[Ordering]], budget_name: str) -> list[str]:
    marks = [o.holds for metric_orders in orderings.values() for o in metric_orders]
    failed = sorted({o.name for metric_orders in orderings.values() for o in metric_orders if o.holds is False})
    if not failed and None not in marks:
        return ["All four orderings hold on our numbers for every metric."]
    if not failed:
        return ["No ordering fails, but some cells are missing: finish the grid before drawing conclusions."]
    lines = [f"Orderings that fail on at least one of our metrics: {', '.join(failed)}. What would close the gap:"]
    if budget_name in ("quick", "cpu", "cpu128"):
        lines.append("- Budget. The runs are far shorter than the paper's (35 epochs of H36M + UP-3D at batch 128 "
                     "with an ImageNet-initialised ResNet-50); differences of a few mm between cells are within "
                     "the seed-to-seed spread at this size. The `gpu` budget (160,000 images per run, 128 px "
                     "location maps) and then the paper's settings (`configs/synthetic.yaml` sized up) are the next steps.")
    lines += [
        "- Seeds. One seed per cell cannot separate gaps of a few mm from initialisation noise; run "
        "`--seeds 0 1 2` for every cell (the decisive pair already has several).",
        "- Pretrained encoder. Without ImageNet weights the local features are learnt from scratch on "
        "synthetic renders; the local-feature rows profit most from a pretrained encoder (data/pretrained/).",
        "- Map resolution. At small location maps the continuous atlas starts from a higher resolution floor "
        "than the default one (above); at the paper's 128 px both floors are below 4 mm.",
        "- Data. The paper's differences are measured on real images (H36M) with SMPL; ours on synthetic Anny "
        "renders, whose textures carry less pose information for raw pixels to transfer.",
    ]
    return lines


def table5_markdown(result: Table5Result, template: Mapping[str, float] | None = None,
                    floors: Mapping[str, Mapping[str, float]] | None = None, map_size: int | None = None,
                    figure: str | None = "table5.png") -> str:
    """The report: our grid beside the paper's Table 5, the orderings, the decisive pair, every run.

    Args:
        result: the grid (finished runs are used).
        template: optional template-body yardstick (``mpjpe``, ``pa_mpjpe``, ``pve`` in mm).
        floors: optional read of Eq. 3 (:data:`READS`) -> atlas -> round-trip error (mm) at ``map_size``.
        map_size: the location-map size of the runs.
        figure: relative path of the bar chart to link (None: no link).
    """
    b = result.budget
    summary = summarize(result)
    finished = result.finished
    seeds = sorted({c.spec.seed for c in finished})
    total = sum(c.train_seconds + c.eval_seconds for c in finished)
    n_test = sorted({c.num_test for c in finished})
    lines = [
        "# Table 5 — UV map × LNet input, on the synthetic benchmark",
        "",
        f"Budget `{b.name}`: {b.description}. Runs finished: {len(finished)} of {len(result.cells)}"
        f"{'' if result.complete else ' (partial: run the same command again to finish)'}; seeds {seeds}; "
        f"{total / 60:.1f} minutes of training and evaluation in all. Written "
        f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} by `decomr reproduce table5 --budget {b.name}`.",
        "",
        "**Paper**: H36M test set, protocols P1 (all cameras) and P2 (frontal camera), SMPL, ResNet-50 "
        "(ImageNet), trained on H36M + UP-3D. **Ours**: the synthetic Anny test split "
        f"({', '.join(map(str, n_test)) or '—'} images, people facing every direction — a P1-like "
        "all-views protocol), joints in the DecoMR convention (14 LSP joints regressed from the mesh, "
        "hip-midpoint root), and the per-vertex error after hip alignment (Table 3's metric). "
        "mm, lower is better; mean ± std over seeds (n) where a cell has several.",
        "",
        "| UV map | LNet input | paper MPJPE P1 | P2 | paper PA-MPJPE P1 | P2 | ours MPJPE | ours PA-MPJPE "
        "| ours per-vertex | seeds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for atlas in TABLE5_ATLASES:
        for lnet_input in TABLE5_INPUTS:
            p = PAPER_TABLE5[(atlas, lnet_input)]
            s = summary.get((atlas, lnet_input))
            ours = [s.fmt(m) if s else "—" for m in METRICS]
            seed_list = ", ".join(map(str, sorted(s.values.get("mpjpe", {})))) if s else "—"
            lines.append(f"| {_PAPER_ATLAS_LABEL[atlas]} / {atlas} | {_INPUT_LABEL[lnet_input]} | {p.p1_mpjpe:.1f} "
                         f"| {p.p2_mpjpe:.1f} | {p.p1_pa_mpjpe:.1f} | {p.p2_pa_mpjpe:.1f} | " + " | ".join(ours)
                         + f" | {seed_list} |")
    if figure:
        lines += ["", f"![Table 5 on the synthetic benchmark: grouped bars, error bars = std over seeds]({figure})"]

    # Orderings on the paper's columns and on our metrics.
    paper_cols = {f"paper {label} {p.upper()}": {k: getattr(r, f"{p}_{metric}") for k, r in PAPER_TABLE5.items()}
                  for metric, label in (("mpjpe", "MPJPE"), ("pa_mpjpe", "PA")) for p in ("p1", "p2")}
    ours_cols = {f"ours {METRIC_LABELS[m]}": {k: s.mean(m) for k, s in summary.items()} for m in METRICS}
    checked = {name: check_orderings(vals) for name, vals in {**paper_cols, **ours_cols}.items()}
    lines += ["", "## The paper's conclusions (Sec. 4.3), checked column by column", "",
              "| conclusion | " + " | ".join(checked) + " |", "|---|" + "---|" * len(checked)]
    for k, claim in enumerate(_CLAIMS.values()):
        lines.append(f"| {claim} | " + " | ".join(checked[name][k].mark for name in checked) + " |")
    lines += ["", "The paper's own numbers support every conclusion in PA-MPJPE, but not all of them in MPJPE "
              "(F_L is worse than F_G with the continuous map, and F_G + pixels ties F_G + F_L with the SMPL map "
              "in P1). Each comparison on our numbers (means over seeds, mm, left vs right; \"yes\" = the left "
              "one is lower, as the paper says):", "",
              "| comparison | " + " | ".join(ours_cols) + " |", "|---|" + "---|" * len(ours_cols)]
    lines += _comparison_rows([checked[name] for name in ours_cols], Check.text)

    # The same conclusions, decided by 95 % intervals of the differences (seed-to-seed noise).
    lines += ["", "## The conclusions on our numbers, with 95 % intervals", "",
              "Each comparison is decided by an interval of left − right (mm): \"holds\" when it lies below 0, "
              "\"fails\" above 0, \"not separable at this budget\" when it holds 0. Cells that share two or more "
              "seeds use the paired t-interval; one-seed cells a prediction interval whose width is the decisive "
              "pair's seed-to-seed spread. Until the decisive pair has two seeds, a one-seed comparison has no "
              "interval: it is decided on the point values and marked \"(no interval)\".", ""]
    decided = {m: check_orderings(ours_cols[f"ours {METRIC_LABELS[m]}"], intervals=difference_intervals(result, m))
               for m in METRICS}
    lines += ["| conclusion | " + " | ".join(METRIC_LABELS[m] for m in METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for k, claim in enumerate(_CLAIMS.values()):
        lines.append(f"| {claim} | " + " | ".join(decided[m][k].mark for m in METRICS) + " |")
    lines += ["", "| comparison | " + " | ".join(METRIC_LABELS[m] for m in METRICS) + " |",
              "|---|" + "---|" * len(METRICS)]
    lines += _comparison_rows([decided[m] for m in METRICS], Check.interval_text)

    # The decisive pair.
    lines += ["", f"## The decisive pair: continuous vs default UV map with F_G + F_L", ""]
    for metric in METRICS:
        lines.append("- " + compare_pair(result, metric).sentence())
    lines += ["", "Paired seeds share CNet's initialisation and every training batch; only the UV map (of the "
              "ground-truth IUV images, the feature transfer and the location map) differs."]
    lines += _read_lines(result, floors, map_size)

    # Context and what would close the differences.
    context = _context_lines(result, template, floors.get(trained_read(b)) if floors else None, map_size)
    if context:
        lines += ["", "## Context", ""] + context
    lines += ["", "## Differences from the paper and what would close them", ""]
    lines += _closing_lines({k: v for k, v in checked.items() if k.startswith("ours")}, b.name)

    # Every run.
    lines += ["", "## Every run", "",
              "| UV map | LNet input | seed | steps | MPJPE | PA-MPJPE | PA-MPJPE / template | per-vertex | mask IoU "
              "| UV error | FB acc | parts F1 | train s | eval s | folder |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    ratio = lambda c: c.metrics.get("pa_mpjpe", math.nan) / template["pa_mpjpe"] if template else math.nan  # noqa: E731
    for c in sorted(finished, key=lambda c: (TABLE5_ATLASES.index(c.spec.atlas),
                                             TABLE5_INPUTS.index(c.spec.lnet_input), c.spec.seed)):
        m = c.metrics
        g = lambda k, d=1: f"{m[k]:.{d}f}" if k in m and math.isfinite(m[k]) else "—"  # noqa: E731
        folder = repo_relative(c.run_dir)
        r = f"{ratio(c):.2f}" if math.isfinite(ratio(c)) else "—"
        lines.append(f"| {c.spec.atlas} | {_INPUT_LABEL[c.spec.lnet_input]} | {c.spec.seed} | {c.step} | {g('mpjpe')} "
                     f"| {g('pa_mpjpe')} | {r} | {g('pve')} | {g('mask_iou', 3)} | {g('uv_error', 3)} | {g('fb_acc')} "
                     f"| {g('parts_f1', 3)} | {c.train_seconds:.0f} | {c.eval_seconds:.0f} | `{folder}` |")
    if template:
        clear = sum(ratio(c) <= CLEAR_MARGIN for c in finished)
        lines += ["", f"Runs that clearly beat the template body (PA-MPJPE at most {CLEAR_MARGIN:.1f}x its "
                      f"{template['pa_mpjpe']:.1f} mm): {clear} of {len(finished)}. Below that margin a run has not "
                      "yet learnt to read the pose from the image, and differences between such runs say little."]
    pending = [c for c in result.cells if not c.finished]
    if pending:
        lines += ["", "Not finished: " + ", ".join(f"{c.spec} ({c.status}, step {c.step}/{c.total_steps})"
                                                   for c in pending) + "."]
    return "\n".join(lines) + "\n"


def _comparison_rows(columns: list[list[Ordering]], cell: Callable[[Check], str]) -> list[str]:
    """One table row per comparison behind the four conclusions, one cell per column (the same
    orderings checked on different numbers); a comparison shared by two conclusions appears once."""
    rows, seen = [], set()
    for k, order in enumerate(columns[0]):
        for j, chk in enumerate(order.checks):
            if chk.label not in seen:  # local+global vs pixels belongs to two conclusions
                seen.add(chk.label)
                rows.append(f"| {chk.label} | " + " | ".join(cell(col[k].checks[j]) for col in columns) + " |")
    return rows


def template_on_test_images(budget: str | Budget, spec: CellSpec, root: str | Path | None = None) -> dict[str, float]:
    """The template body's mean errors on the test images of a grid run (the budget's ``test_size``
    images; mm, ``facing_error`` in degrees): the yardstick every cell is read against."""
    config = cell_config(budget, spec, root)
    body = load_body(config.body)
    data = build_test_dataset(config, body, load_atlas(body, config.model.atlas), split="test")
    return template_baseline(body, data, max_samples=get_budget(budget).test_size)


def _context(result: Table5Result) -> tuple[dict[str, float], dict[str, dict[str, float]], int]:
    """On the finished runs' test images and map size: the errors of the template body facing the
    camera, and each read's (:data:`READS`) and atlas' mean round-trip error mesh -> location map ->
    mesh (mm; the map size)."""
    spec = result.finished[0].spec
    means = template_on_test_images(result.budget, spec, result.root)
    config = cell_config(result.budget, spec, result.root)
    body = load_body(config.body)  # the same (cached) body model
    r = config.model.map_size
    floors: dict[str, dict[str, float]] = {read: {} for read in READS}
    for atlas in TABLE5_ATLASES:
        for e in round_trip_errors(body, load_atlas(body, atlas), resolutions=(r,), align_corners=(True,),
                                   seam_aware=(False, True), n=4):
            floors[read_name(e.seam_aware)][atlas] = e.mean_mm
    return {k: means[k] for k in ("mpjpe", "pa_mpjpe", "pve")}, floors, r


def write_table5_report(result: Table5Result, out_dir: str | Path, context: bool = True,
                        plot: bool = True) -> tuple[Path, Path | None]:
    """Write ``<out_dir>/table5.md`` (and ``table5.png``, grouped bars with std over seeds).

    Args:
        result: the grid.
        out_dir: e.g. ``figures/``.
        context: add the template yardstick and the atlases' resolution floors (renders the test
            images once more and poses a few bodies: seconds on a CPU).
        plot: write the bar chart.

    Returns:
        (markdown path, png path or None).
    """
    out_dir = Path(out_dir)
    template = floors = map_size = None
    if context and result.finished:
        template, floors, map_size = _context(result)
    png = None
    if plot and result.finished:
        fig = plot_table5(summarize(result), title=f"Table 5 on the synthetic benchmark (budget {result.budget.name})",
                          template=template)
        png = save_figure(fig, "table5", dpi=130, folder=out_dir)
        plt.close(fig)
    md = table5_markdown(result, template=template, floors=floors, map_size=map_size,
                         figure="table5.png" if png is not None else None)
    path = out_dir / "table5.md"
    atomic_write_bytes(path, md.encode())
    return path, png
