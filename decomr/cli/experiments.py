"""``decomr reproduce table5 | tables | figures``: the paper's experiments, one command each.

Examples::

    decomr reproduce table5 --budget quick                 # smoke test of the whole grid (~2 min, CPU)
    decomr reproduce table5 --budget cpu                   # this 2-core CPU: writes figures/table5.md, .png
    decomr reproduce table5 --budget cpu128 --max-minutes 150   # models that learn, this CPU, repeat (resumable)
    decomr reproduce table5 --budget cpu128 --status       # where every run stands (trains nothing)
    decomr reproduce table5 --budget gpu --max-minutes 9   # one H100, repeat until done (resumable)
    decomr reproduce table5 --budget cpu --report-only     # rewrite the report from finished runs
    decomr reproduce tables --checkpoint runs/table5/cpu/continuous_local_global/seed0/last.pt
    decomr reproduce figures --budget cpu                  # Figures 7, 8, 9 from the table5 runs
    decomr reproduce figures --checkpoint data/checkpoints/decomr_anny_cpu.pt   # Figures 8, 9 of one model

``decomr reproduce`` without a target executes the notebooks (:mod:`decomr.reproduce`).
"""
from __future__ import annotations

import argparse
import logging
import sys

import torch

from decomr.cli import doc_parser, fail
from decomr.experiments.budgets import BUDGETS
from decomr.experiments.figures import make_figures, make_model_figures
from decomr.experiments.table5 import Table5Result, _default_report_dir, grid_status, run_table5
from decomr.experiments.table5_report import write_table5_report
from decomr.experiments.tables import reproduce_tables

__all__ = ["build_reproduce_parser", "reproduce_main"]


def build_reproduce_parser() -> argparse.ArgumentParser:
    p = doc_parser("decomr reproduce", __doc__, "Reproduce the paper's tables and figures.")
    sub = p.add_subparsers(dest="target", required=True)

    t = sub.add_parser("table5", help="Table 5: 2 UV atlases x 4 LNet inputs on the synthetic benchmark")
    t.add_argument("--budget", default="quick", choices=tuple(BUDGETS), help="compute budget of every run")
    t.add_argument("--seeds", nargs="+", type=int, help="seeds of every cell (default: the budget's)")
    t.add_argument("--decisive-seeds", nargs="*", type=int,
                   help="extra seeds for continuous vs default with local+global (default: the budget's; "
                        "give none to skip)")
    t.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                   help="skip finished runs and resume interrupted ones (default); --no-resume retrains all")
    t.add_argument("--max-minutes", type=float, help="stop cleanly after this many minutes (resume later)")
    t.add_argument("--out", help="folder of the runs (default runs/table5/<budget>)")
    t.add_argument("--report-dir", help="where table5.md/.png go (default figures/, or the run folder for quick)")
    t.add_argument("--report-only", action="store_true", help="only rewrite the report from the finished runs")
    t.add_argument("--status", action="store_true", help="only print where every run stands (trains nothing)")

    t = sub.add_parser("tables", help="Tables 2-4 (+ 3DPW): one checkpoint on every available dataset")
    t.add_argument("--checkpoint", "-k", required=True, help="a .pt file or run folder")
    t.add_argument("--root", help="folder holding the official <name>/ dataset folders (default data/datasets)")
    t.add_argument("--out", help="markdown file (default figures/tables_2_4.md)")
    t.add_argument("--synthetic-size", type=int, help="synthetic test samples (default: the run's test split)")
    t.add_argument("--max-samples", type=int, help="only the first N samples of each dataset")
    t.add_argument("--device", default="auto", help="cpu, cuda or auto")
    t.add_argument("--batch-size", type=int, default=16)

    t = sub.add_parser("figures", help="Figures 7, 8, 9 from the Table 5 runs of a budget")
    t.add_argument("--budget", default="cpu", choices=tuple(BUDGETS), help="whose runs to use")
    t.add_argument("--seed", type=int, default=0, help="which seed's runs")
    t.add_argument("--out", help="run folder of the grid (default runs/table5/<budget>)")
    t.add_argument("--figures-dir", help="where the PNGs go (default figures/)")
    t.add_argument("--pool", type=int, default=64, help="test images searched for Figure 7's example and Figure 9")
    t.add_argument("--checkpoint", "-k", help="instead: Figures 8 and 9 of this model (e.g. the released checkpoint)")
    return p


def reproduce_main(argv: list[str] | None = None) -> int:
    """Entry point of ``decomr reproduce table5|tables|figures`` (exit status 0, or 2 on bad input)."""
    args = build_reproduce_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.target == "table5":
            return _table5(args)
        if args.target == "tables":
            return _tables(args)
        return _figures(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        return fail(f"decomr reproduce {args.target}", err)


def _table5(args: argparse.Namespace) -> int:
    if args.status:
        result = grid_status(args.budget, seeds=args.seeds, out_dir=args.out, decisive_seeds=args.decisive_seeds)
        _print_cells(result)
        print(f"{len(result.finished)} of {len(result.cells)} runs finished in {result.root}")
        return 0
    if args.report_only:
        # the whole plan, so that a partial grid is reported as partial (runs finished: n of the plan)
        result = grid_status(args.budget, seeds=args.seeds, out_dir=args.out, decisive_seeds=args.decisive_seeds)
        if not result.finished:
            raise FileNotFoundError(f"no finished run of budget {args.budget!r} in {result.root}")

        md, png = write_table5_report(result, args.report_dir or _default_report_dir(result.budget, result.root))
        print(f"wrote {md}" + (f" and {png}" if png else ""))
        return 0
    result = run_table5(args.budget, seeds=args.seeds, out_dir=args.out, resume=args.resume,
                        decisive_seeds=args.decisive_seeds, max_minutes=args.max_minutes, report_dir=args.report_dir)
    _print_cells(result)
    print("grid complete" if result.complete else "grid not complete: run the same command again to continue")
    return 0


def _print_cells(result: Table5Result) -> None:
    for c in result.cells:
        m = c.metrics
        numbers = (f"MPJPE {m['mpjpe']:.1f}  PA-MPJPE {m['pa_mpjpe']:.1f}  PVE {m['pve']:.1f} mm"
                   if {"mpjpe", "pa_mpjpe", "pve"} <= set(m) else f"step {c.step}/{c.total_steps}")
        print(f"{str(c.spec):36s} {c.status:12s} {numbers}")


def _tables(args: argparse.Namespace) -> int:
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    report = reproduce_tables(args.checkpoint, root=args.root, out=args.out, synthetic_size=args.synthetic_size,
                              device=device, batch_size=args.batch_size, max_samples=args.max_samples)
    for dataset, reason in report.skipped.items():
        print(f"skipped {dataset}: {reason}")
    print(f"evaluated: {', '.join(report.reports) or 'nothing'}; wrote {report.path}")
    return 0


def _figures(args: argparse.Namespace) -> int:
    if args.checkpoint:
        paths = make_model_figures(args.checkpoint, figures_dir=args.figures_dir, pool=args.pool)
    else:
        paths = make_figures(args.budget, seed=args.seed, out_dir=args.out, figures_dir=args.figures_dir,
                             pool=args.pool)
    for p in paths:
        print("wrote", p)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(reproduce_main())
