"""The ``decomr`` command line.

    decomr info                       versions, device, present/missing body models, assets, datasets
    decomr reproduce [--full]         execute the notebooks (quick mode by default), write figures/
    decomr reproduce table5|tables|figures   Table 5's grid, Tables 2-4 for a checkpoint, Figures 7-9
    decomr build-uv [...]             build the UV atlases of a body model and report Table 1
    decomr render-gt DATASET SPLIT    render ground-truth IUV images for an official dataset (needs SMPL)
    decomr render-synthetic -c CFG    pre-render a config's synthetic images once (every core, resumable)
    decomr train --config X.yaml ...  train (stage 1: CNet, stage 2: end to end), resumable
    decomr eval --checkpoint ...      MPJPE / PA-MPJPE / surface error / segmentation reports
    decomr predict IMAGE_OR_FOLDER    run a trained model on your images
    decomr export-onnx ...            ONNX export with an onnxruntime parity check

Each command's front end (argument parsing, messages, exit codes) is a module of this package
(``decomr.cli.train``, ``decomr.cli.eval``, ``decomr.cli.predict``, ``decomr.cli.uv``,
``decomr.cli.export``, ``decomr.cli.experiments``): the top layer, which may import from every
other part of decomr, while the library layers below never import a command line. Subcommands are
imported lazily, so ``decomr info`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys


def _cmd_info(args: argparse.Namespace) -> int:
    from decomr.info import report

    print(report())
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from decomr.reproduce import reproduce

    reproduce(quick=not args.full, only=args.only, commit_outputs=args.commit_outputs)
    return 0


def fail(prog: str, message: object, status: int = 2) -> int:
    """Print ``<prog>: <message>`` on stderr (the message only, no traceback); return the exit status."""
    print(f"{prog}: {message}", file=sys.stderr)
    return status


def doc_parser(prog: str, doc: str, description: str) -> argparse.ArgumentParser:
    """The parser of a subcommand, whose epilog is the ``Examples::`` part of its module docstring ``doc``."""
    return argparse.ArgumentParser(prog=prog, description=description, epilog=doc.split("Examples::", 1)[1],
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decomr", description="DecoMR: 3D human mesh regression with dense correspondence")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="versions, device, and which models/assets/datasets are present")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("reproduce", help="execute the tutorial notebooks and write figures/; "
                                         "`decomr reproduce table5|tables|figures -h` for the experiments")
    p.add_argument("--full", action="store_true", help="run with QUICK = False (full size; GPU recommended)")
    p.add_argument("--quick", action="store_true", help="run with QUICK = True (default)")
    p.add_argument("--only", nargs="+", metavar="NN", help="notebooks whose name starts with these (e.g. 00 01)")
    p.add_argument("--commit-outputs", action="store_true",
                   help="write each notebook back with its quick-mode outputs, made light (`make notebooks`)")
    p.set_defaults(func=_cmd_reproduce)
    for name, text in (  # subcommands that parse their own arguments (_PASSTHROUGH)
        ("build-uv", "build UV atlases for a body model"),
        ("render-gt", "render GT IUV images for an official dataset"),
        ("render-synthetic", "pre-render a config's synthetic data into data/ (every core, resumable)"),
        ("train", "train DecoMR (two stages) from a config: `decomr train --config configs/quick.yaml key=value`"),
        ("eval", "evaluate a checkpoint (synthetic test split or official datasets)"),
        ("predict", "meshes, IUV images, overlays and joints for your images"),
        ("export-onnx", "export a trained model to ONNX, checked with onnxruntime"),
    ):
        sub.add_parser(name, help=f"{text} (see `decomr {name} -h`)", add_help=False)
    return parser


# Subcommands that own their argument parsing: everything after the name is passed through.
_PASSTHROUGH = {
    "build-uv": ("decomr.cli.uv", "build_uv_main"),
    "render-gt": ("decomr.data.render_gt", "render_gt_main"),
    "render-synthetic": ("decomr.cli.render_synthetic", "render_synthetic_main"),
    "predict": ("decomr.cli.predict", "predict_main"),
    "export-onnx": ("decomr.cli.export", "export_onnx_main"),
    "train": ("decomr.cli.train", "train_main"),
    "eval": ("decomr.cli.eval", "eval_main"),
}


# `decomr reproduce <target>`: the experiments (decomr.cli.experiments); without a target, the notebooks.
_REPRODUCE_TARGETS = ("table5", "tables", "figures")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) > 1 and argv[0] == "reproduce" and argv[1] in _REPRODUCE_TARGETS:
        from decomr.cli.experiments import reproduce_main

        return int(reproduce_main(argv[1:]) or 0)
    if argv and argv[0] in _PASSTHROUGH:
        module, func = _PASSTHROUGH[argv[0]]
        return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
