"""``decomr eval``: evaluate a checkpoint and write JSON + markdown reports.

Examples::

    decomr eval --checkpoint runs/quick                       # synthetic test split (out of the box)
    decomr eval --checkpoint runs/paper/best.pt --dataset h36m-p2 h36m-p1
    decomr eval --checkpoint data/checkpoints/decomr_anny_resnet18.pt --dataset lsp --root /data/datasets

Reports: ``<checkpoint folder>/eval/<dataset>.json`` and ``.md`` (or ``--out``), with the paper's
numbers beside ours. Official datasets are licence-gated: see ``decomr info`` and
``decomr.data.official`` for where to put them.
"""
from __future__ import annotations

import argparse
import logging
import sys

__all__ = ["eval_main", "build_eval_parser"]


def build_eval_parser() -> argparse.ArgumentParser:
    from decomr.eval.evaluate import EVAL_DATASETS

    p = argparse.ArgumentParser(prog="decomr eval", description="Evaluate a DecoMR checkpoint (Tables 2-5 protocols).",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("Examples::", 1)[1])
    p.add_argument("--checkpoint", "-k", required=True, help="a .pt (training checkpoint or release) or a run folder")
    p.add_argument("--dataset", "-d", nargs="+", default=["synthetic"], choices=EVAL_DATASETS, help="evaluation set(s)")
    p.add_argument("--out", help="report folder (default: <checkpoint folder>/eval)")
    p.add_argument("--root", help="folder holding the official <name>/ dataset folders (default data/datasets)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--max-samples", type=int, help="only the first N samples (quick check)")
    p.add_argument("--synthetic-size", type=int, help="number of synthetic test samples (default: the run's test split)")
    return p


def eval_main(argv: list[str] | None = None) -> int:
    """Entry point of ``decomr eval`` (returns the exit status: 0 ok, 2 bad input/missing data)."""
    import torch

    from decomr.eval.evaluate import evaluate_checkpoint, report_markdown

    args = build_eval_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    status = 0
    for dataset in args.dataset:
        try:
            report = evaluate_checkpoint(args.checkpoint, dataset, out_dir=args.out, batch_size=args.batch_size,
                                         device=device, max_samples=args.max_samples, root=args.root,
                                         synthetic_size=args.synthetic_size, num_workers=args.num_workers,
                                         progress=True)
        except (FileNotFoundError, ValueError) as err:
            print(f"decomr eval ({dataset}): {err}", file=sys.stderr)
            status = 2
            continue
        print(report_markdown(report))
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(eval_main())
