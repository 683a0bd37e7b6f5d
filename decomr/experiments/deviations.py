"""What a deviation from the paper costs: one setting switched, side by side, paired over seeds.

``figures/REPRODUCTION.md`` lists where decomr departs from the paper and the official code. For
a deviation that is a setting (``model.lnet_residual``, ``model.pixel_transfer``, ...),
:func:`compare_setting` trains one cell of the Table 5 grid twice per seed — the budget as it is,
and with the setting changed — with the same seed (same initialisation, same batches), evaluates
both on the same synthetic test images, and reports each side's mean ± std, the template body's
error on those images, and the paired difference (changed − as is) with its 95 % t-interval.

The runs are ordinary grid runs (:func:`decomr.experiments.table5.run_cell`): the unchanged side
lives in the grid's own folder (``runs/table5/<budget>/``, shared with Table 5), the changed side
in ``runs/table5/<budget>-<setting>/``. Calling again skips finished runs and resumes cut ones.

>>> paired_interval([1.0, 2.0, 3.0])   # mean, std, 95 % interval of the mean  # doctest: +ELLIPSIS
(2.0, 1.0, (-0.484..., 4.484...))
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from decomr.experiments.budgets import Budget, get_budget
from decomr.experiments.table5 import run_cell
from decomr.experiments.table5_grid import (DECISIVE_INPUT, CellSpec, mean_std_text, paired_interval,
                                            table5_run_root)
from decomr.experiments.table5_report import METRIC_LABELS, template_on_test_images

__all__ = ["SettingComparison", "paired_interval", "setting_budget", "compare_setting"]


def setting_budget(budget: str | Budget, setting: str) -> Budget:
    """``budget`` with the ``key=value`` override ``setting`` added (named ``<budget>-<key>-<value>``)."""
    b = get_budget(budget)
    if "=" not in setting:
        raise ValueError(f"setting: expected a key=value override such as model.lnet_residual=false, got {setting!r}")
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", setting.split(".")[-1]).strip("-")
    return dataclasses.replace(b, name=f"{b.name}-{slug}", overrides=(*b.overrides, setting))


@dataclass(frozen=True)
class SettingComparison:
    """One metric of a paired comparison (see the module docstring).

    Attributes:
        setting: the override of the changed side (``"model.lnet_residual=false"``).
        budget, atlas, lnet_input: what was trained (the budget's name, the grid cell).
        metric: ``"pa_mpjpe"``, ``"mpjpe"`` or ``"pve"`` (mm).
        base, changed: seed -> value, for the finished runs.
        template: the template body's value on the same test images (mm), or None.
    """

    setting: str
    budget: str
    atlas: str
    lnet_input: str
    metric: str
    base: dict[int, float]
    changed: dict[int, float]
    template: float | None = None

    @property
    def paired(self) -> tuple[int, ...]:
        """Seeds finished on both sides."""
        return tuple(sorted(set(self.base) & set(self.changed)))

    @property
    def diffs(self) -> list[float]:
        """``changed - base`` per paired seed (mm; negative = the change lowers the error)."""
        return [self.changed[s] - self.base[s] for s in self.paired]

    def sentence(self) -> str:
        """One line: both sides' mean ± std, the template and the paired difference with its interval."""
        text = (f"{METRIC_LABELS.get(self.metric, self.metric)} ({self.atlas}, {self.lnet_input}, budget "
                f"{self.budget}): as is {mean_std_text(self.base.values())} mm, with {self.setting} "
                f"{mean_std_text(self.changed.values())} mm")
        if self.template is not None:
            text += f", template {self.template:.1f} mm"
        if self.paired:
            mean, _, (low, high) = paired_interval(self.diffs)
            interval = f", 95 % interval [{low:+.1f}, {high:+.1f}]" if math.isfinite(low) else ""
            text += f"; changed − as is = {mean:+.1f} mm over {len(self.paired)} paired seeds{interval}"
        return text


def compare_setting(setting: str, budget: str | Budget = "cpu", atlas: str = "continuous",
                    lnet_input: str = DECISIVE_INPUT, seeds: Sequence[int] = (0, 1, 2),
                    metrics: Sequence[str] = ("pa_mpjpe", "mpjpe", "pve"), root: str | Path | None = None,
                    max_minutes: float | None = None, template: bool = True,
                    progress: bool = False) -> list[SettingComparison]:
    """Train the cell ``(atlas, lnet_input)`` as is and with ``setting``, seed by seed, and compare.

    Args:
        setting: a ``key=value`` override (``"model.lnet_residual=false"``).
        budget: the grid's budget (``"quick"``, ``"cpu"``, ``"gpu"``) both sides train with.
        atlas, lnet_input: the grid cell.
        seeds: the paired seeds (each trains both sides).
        metrics: the metrics compared (one :class:`SettingComparison` each).
        root: the folder holding the budgets' grid folders (default ``runs/table5``).
        max_minutes: stop each run's training after this many minutes (call again to resume).
        template: also evaluate the template body on the same test images.
        progress: tqdm bars of the training steps.

    Returns:
        One :class:`SettingComparison` per metric, over the runs that finished.
    """
    base, changed = get_budget(budget), setting_budget(budget, setting)
    roots = [Path(root) / b.name if root is not None else table5_run_root(b) for b in (base, changed)]
    values: dict[str, tuple[dict[int, float], dict[int, float]]] = {m: ({}, {}) for m in metrics}
    for seed in seeds:
        spec = CellSpec(atlas, lnet_input, int(seed))
        for side, b in enumerate((base, changed)):
            result = run_cell(b, spec, roots[side], max_minutes=max_minutes, progress=progress)
            for m in metrics if result.finished else ():
                values[m][side][int(seed)] = float(result.metrics[m])
    reference = template_on_test_images(base, CellSpec(atlas, lnet_input, int(seeds[0])), roots[0]) if template else {}
    return [SettingComparison(setting, base.name, atlas, lnet_input, m, *values[m], reference.get(m))
            for m in metrics]
