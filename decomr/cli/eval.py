"""``decomr eval``: evaluate a checkpoint and write JSON + markdown reports.

Examples::

    decomr eval --checkpoint runs/quick                       # synthetic test split (out of the box)
    decomr eval --checkpoint runs/paper/best.pt --dataset h36m-p2 h36m-p1
    decomr eval --checkpoint data/checkpoints/decomr_anny_resnet18.pt --dataset lsp --root /data/datasets
    decomr eval --checkpoint data/checkpoints/decomr_anny_cpu.pt --oracle iuv    # GT IUV into the transfer
    decomr eval --checkpoint data/checkpoints/decomr_anny_cpu.pt --oracle-table  # every link, one table
    decomr eval --checkpoint data/checkpoints/decomr_anny_cpu.pt --read plain    # the paper's plain Eq. 3
    decomr eval --checkpoint data/checkpoints/decomr_anny_cpu.pt --sweep yaw occlusion  # stress cards (JSON)

Reports: ``<checkpoint folder>/eval/<dataset>.json`` and ``.md`` (or ``--out``), with the paper's
numbers beside ours. Official datasets are licence-gated: see ``decomr info`` and
``decomr.data.official`` for where to put them.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from decomr.cli import doc_parser, fail
from decomr.eval.evaluate import EVAL_DATASETS, evaluate_checkpoint, report_markdown
from decomr.eval.oracle import oracle_markdown, oracle_table
from decomr.eval.stress import SWEEP_FACTORS, stress_sweep, write_sweep
from decomr.models import ORACLE_LINKS, READS, read_flag
from decomr.paths import atomic_write_bytes
from decomr.train.checkpoint import find_checkpoint

__all__ = ["eval_main", "build_eval_parser"]

#: ``--read`` -> ``evaluate_checkpoint(seam_aware_read=...)``.
_READS = {"trained": None, **{name: read_flag(name) for name in READS}}


def build_eval_parser() -> argparse.ArgumentParser:
    p = doc_parser("decomr eval", __doc__, "Evaluate a DecoMR checkpoint (Tables 2-5 protocols).")
    p.add_argument("--checkpoint", "-k", required=True, help="a .pt (training checkpoint or release) or a run folder")
    p.add_argument("--dataset", "-d", nargs="+", default=["synthetic"], choices=EVAL_DATASETS, help="evaluation set(s)")
    p.add_argument("--out", help="report folder (default: <checkpoint folder>/eval)")
    p.add_argument("--root", help="folder holding the official <name>/ dataset folders (default data/datasets)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--max-samples", type=int, help="only the first N samples (quick check)")
    p.add_argument("--synthetic-size", type=int, help="number of synthetic test samples (default: the run's test split)")
    p.add_argument("--oracle", nargs="+", choices=ORACLE_LINKS, metavar="LINK",
                   help=f"replace links of the chain by their ground truth ({', '.join(ORACLE_LINKS)}; synthetic "
                        "data only): where does the error come from?")
    p.add_argument("--oracle-table", action="store_true",
                   help="evaluate the model and each oracle on the same synthetic images; print one table "
                        "(and write <out>/oracle.md)")
    p.add_argument("--read", choices=_READS, default="trained",
                   help="how the location map is read into vertices (Eq. 3): as the model was trained (default), "
                        "the paper's plain bilinear read, or decomr's seam-aware one; reports of another read "
                        "than the trained one are written as <dataset>-<read>-read")
    p.add_argument("--sweep", nargs="+", metavar="FACTOR",
                   help="stress cards: sweep one factor of the synthetic test images at a time (yaw, elevation, pose, "
                        "occlusion, height, weight, age, or all); writes <out>/sweep_<factor>.json")
    p.add_argument("--sweep-samples", type=int, default=64, help="test people rendered at every value of a sweep")
    return p


def eval_main(argv: list[str] | None = None) -> int:
    """Entry point of ``decomr eval`` (returns the exit status: 0 ok, 2 bad input/missing data)."""
    args = build_eval_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if args.oracle_table:
        return _oracle_table_main(args, device)
    if args.sweep:
        return _sweep_main(args, device)
    status = 0
    for dataset in args.dataset:
        try:
            report = evaluate_checkpoint(args.checkpoint, dataset, out_dir=args.out, batch_size=args.batch_size,
                                         device=device, max_samples=args.max_samples, root=args.root,
                                         synthetic_size=args.synthetic_size, num_workers=args.num_workers,
                                         progress=True, oracle=args.oracle, seam_aware_read=_READS[args.read])
        except (FileNotFoundError, ValueError) as err:
            status = fail(f"decomr eval ({dataset})", err)
            continue
        print(report_markdown(report))
    return status


def _sweep_main(args: argparse.Namespace, device: str) -> int:
    factors = list(SWEEP_FACTORS) if "all" in args.sweep else args.sweep
    bad = [f for f in factors if f not in SWEEP_FACTORS]
    if bad:
        return fail("decomr eval --sweep", f"unknown factor {bad}; expected some of {', '.join(SWEEP_FACTORS)} or all")
    try:
        path = find_checkpoint(args.checkpoint)
        out = Path(args.out) if args.out else path.parent / "eval"
        for factor in factors:
            result = stress_sweep(path, factor, num_samples=args.sweep_samples, batch_size=args.batch_size,
                                  device=device, progress=True)
            print(f"{factor}: {result.label}")
            print(f"  {'value':>8} {'PA-MPJPE':>9} {'template':>9} {'MPJPE':>7} {'template':>9}")
            for i, v in enumerate(result.values):
                print(f"  {v:8.2f} {result.model['pa_mpjpe'][i]:9.1f} {result.template['pa_mpjpe'][i]:9.1f} "
                      f"{result.model['mpjpe'][i]:7.1f} {result.template['mpjpe'][i]:9.1f}")
            print("  written:", write_sweep(result, out))
    except (FileNotFoundError, ValueError) as err:  # CheckpointError is a ValueError
        return fail("decomr eval --sweep", err)
    return 0


def _oracle_table_main(args: argparse.Namespace, device: str) -> int:
    if args.dataset != ["synthetic"]:
        return fail("decomr eval --oracle-table", "needs ground truth for every link: synthetic data only "
                    f"(got --dataset {' '.join(args.dataset)})")
    try:
        path = find_checkpoint(args.checkpoint)
        rows = oracle_table(path, synthetic_size=args.synthetic_size or 256, batch_size=args.batch_size,
                            device=device, progress=True)
    except (FileNotFoundError, ValueError) as err:  # CheckpointError is a ValueError
        return fail("decomr eval --oracle-table", err)
    table = oracle_markdown(rows)
    print(table)
    out = Path(args.out) if args.out else path.parent / "eval"
    atomic_write_bytes(out / "oracle.md", table.encode())
    print("written:", out / "oracle.md")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(eval_main())
