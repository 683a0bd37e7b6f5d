"""The paper's Table 5 (Sec. 4.3): the numbers and the grid they fill.

Kept apart from the runner (:mod:`decomr.experiments.table5`) so that plots, reports and tests
read the paper's numbers without importing the experiment machinery.

>>> PAPER_TABLE5[("continuous", "local+global")].p2_pa_mpjpe
39.3
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TABLE5_INPUTS", "TABLE5_ATLASES", "PaperRow", "PAPER_TABLE5"]

#: Table 5's rows in the paper's order: LNet input besides the reference location map.
TABLE5_INPUTS: tuple[str, ...] = ("global", "local", "local+global", "pixels+global")
#: Table 5's blocks in the paper's order: the body's own ("SMPL default") UV map, then ours.
TABLE5_ATLASES: tuple[str, ...] = ("default", "continuous")


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's Table 5: H36M joint errors in mm (protocols 1 and 2)."""

    p1_mpjpe: float
    p2_mpjpe: float
    p1_pa_mpjpe: float
    p2_pa_mpjpe: float


#: The paper's Table 5, by (atlas, LNet input); "default" = the SMPL default UV map.
PAPER_TABLE5: dict[tuple[str, str], PaperRow] = {
    ("default", "global"): PaperRow(72.1, 68.9, 51.9, 49.1),
    ("default", "local"): PaperRow(71.9, 69.6, 47.4, 44.8),
    ("default", "local+global"): PaperRow(65.0, 61.7, 45.1, 42.6),
    ("default", "pixels+global"): PaperRow(65.0, 63.2, 46.5, 44.7),
    ("continuous", "global"): PaperRow(69.5, 67.7, 49.4, 47.1),
    ("continuous", "local"): PaperRow(69.8, 68.4, 44.6, 42.3),
    ("continuous", "local+global"): PaperRow(62.7, 60.6, 42.2, 39.3),
    ("continuous", "pixels+global"): PaperRow(63.2, 61.0, 45.5, 42.6),
}
