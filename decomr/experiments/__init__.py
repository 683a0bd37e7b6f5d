"""Reproductions of the paper's experiments on the data and compute available here.

- :mod:`decomr.experiments.budgets`       the compute budgets (``quick``, ``cpu``, ``gpu``) of the grid
- :mod:`decomr.experiments.table5`        Table 5's ablation grid (2 UV atlases x 4 LNet inputs) on the
  synthetic benchmark: one resumable run per cell and seed, :func:`run_table5`, :func:`load_table5`
- :mod:`decomr.experiments.table5_grid`   the grid's runs, their configs and outcomes, mean ± std over seeds
- :mod:`decomr.experiments.table5_report` the paper's orderings checked on our numbers and on the paper's,
  ``figures/table5.md``
- :mod:`decomr.experiments.tables`        Tables 2-4 and supplementary Table 2 (3DPW) for one
  checkpoint: every dataset present, the paper's comparison rows beside ours
- :mod:`decomr.experiments.figures`       Figure 7 (UV continuity), 8 (qualitative), 9 (failures)
- :mod:`decomr.experiments.deviations`    one setting switched, paired over seeds: what a deviation from the
  paper costs (:func:`compare_setting`)
- :mod:`decomr.cli.experiments`           ``decomr reproduce table5 | tables | figures``

Typical use::

    from decomr.experiments import run_table5
    result = run_table5("quick")            # the whole grid on a tiny budget (about 2 minutes, CPU)
    print(result.summary())

Names are imported lazily (``import decomr.experiments`` stays light).
"""
from __future__ import annotations

from decomr._lazy import lazy_exports

_EXPORTS: dict[str, tuple[str, ...]] = {
    "decomr.experiments.budgets": ("Budget", "BUDGETS", "get_budget"),
    "decomr.experiments.table5_grid": ("CellSpec", "CellResult", "CellSummary", "Table5Result", "cell_config",
                                       "grid_cells", "summarize", "table5_run_root"),
    "decomr.experiments.table5": ("TABLE5_ATLASES", "TABLE5_INPUTS", "PAPER_TABLE5", "PaperRow", "run_cell",
                                  "run_table5", "load_table5", "grid_status"),
    "decomr.experiments.table5_report": ("Ordering", "PairComparison", "check_orderings", "compare_pair",
                                         "difference_intervals", "table5_markdown", "template_on_test_images",
                                         "write_table5_report"),
    "decomr.experiments.tables": ("PAPER_COMPARISONS", "TablesReport", "reproduce_tables", "tables_markdown"),
    "decomr.experiments.figures": ("ContinuityResult", "FailureAnalysis", "fig7_continuity", "fig8_qualitative",
                                   "fig9_failures", "border_errors", "per_sample_errors", "make_figures"),
    "decomr.experiments.deviations": ("SettingComparison", "paired_interval", "setting_budget", "compare_setting"),
}
__all__, __getattr__, __dir__ = lazy_exports("decomr.experiments", globals(), _EXPORTS)
