"""``decomr export-onnx``: write a trained model as an ONNX file and check it with onnxruntime.

Examples::

    decomr export-onnx --checkpoint runs/quick --out model.onnx
    decomr export-onnx --out model.onnx                  # newest release in data/checkpoints/
    decomr export-onnx --checkpoint data/checkpoints/decomr_anny_resnet18.pt --out m.onnx --opset 18

Exit status: 0 on success, 1 when the onnxruntime check fails (``--atol``), 2 on a bad argument or
checkpoint.
"""
from __future__ import annotations

import argparse
import sys

from decomr.cli import doc_parser, fail
from decomr.export.onnx import export_onnx
from decomr.predict import Predictor

__all__ = ["export_onnx_main", "build_export_onnx_parser"]


def build_export_onnx_parser() -> argparse.ArgumentParser:
    p = doc_parser("decomr export-onnx", __doc__, "Export DecoMR (crops in; IUV, camera, location map, mesh, "
                   "joints out) to ONNX with a dynamic batch.")
    p.add_argument("--checkpoint", "-c", help="release/training checkpoint or run folder (default: newest in data/checkpoints/)")
    p.add_argument("--out", "-o", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 16; default 17)")
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    p.add_argument("--atol", type=float, default=1e-4, help="fail if onnxruntime differs from PyTorch by more (default 1e-4)")
    return p


def export_onnx_main(argv: list[str] | None = None) -> int:
    """Entry point of ``decomr export-onnx`` (returns the exit status)."""
    args = build_export_onnx_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if not args.out.endswith(".onnx"):
        return fail("decomr export-onnx", f"--out {args.out}: expected a file name ending in .onnx")
    try:
        predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu")
        result = export_onnx(predictor, args.out, opset=args.opset, check=not args.no_check)
    except ValueError as err:  # CheckpointError and CheckpointNotFoundError are ValueErrors
        return fail("decomr export-onnx", err)
    size = result.path.stat().st_size / 2**20
    print(f"wrote {result.path} ({size:.1f} MiB, opset {result.opset}, input images (B, 3, {result.img_size}, "
          f"{result.img_size}), {result.seconds:.1f} s)")
    if result.max_abs_diff:
        worst = max(result.max_abs_diff.values())
        detail = ", ".join(f"{k} {v:.1e}" for k, v in result.max_abs_diff.items())
        print(f"onnxruntime vs PyTorch, max |diff|: {detail}")
        if not worst <= args.atol:
            return fail("decomr export-onnx", f"difference {worst:.2e} above --atol {args.atol:g}", status=1)
    elif not args.no_check:
        print("not checked: onnxruntime is not installed (pip install 'decomr[deploy]')")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(export_onnx_main())
