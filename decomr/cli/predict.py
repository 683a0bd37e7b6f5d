"""``decomr predict``: meshes, IUV images, overlays and joints for an image or a folder of images.

Examples::

    decomr predict photo.jpg --checkpoint runs/quick                  # whole-image crop
    decomr predict photo.jpg --box 120,40,380,610 --out results/      # person box x0,y0,x1,y1 (pixels)
    decomr predict photo.jpg --mask person_mask.png                   # crop from a person mask
    decomr predict photos/ --out results/ --outputs obj,json          # a folder; only some files

Writes per image ``<stem>.obj``, ``<stem>.ply``, ``<stem>_iuv.png``, ``<stem>_overlay.png`` and
``<stem>.json`` (see :mod:`decomr.export.prediction`). In folder mode an unreadable image is
reported and skipped, the others go on. Exit status: 0 if every image was written, 1 if some
failed, 2 on a bad argument or checkpoint.
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from decomr.cli import doc_parser, fail as _fail
from decomr.export.prediction import MESH_FRAMES, OUTPUTS, write_prediction
from decomr.predict import (
    IMAGE_SUFFIXES,
    CheckpointError,
    CheckpointNotFoundError,
    ImageReadError,
    Predictor,
    as_image_list,
    list_images,
    read_image,
)

__all__ = ["predict_main", "build_predict_parser", "parse_box"]

log = logging.getLogger(__name__)


def parse_box(text: str) -> list[float]:
    """``"x0,y0,x1,y1"`` -> four floats (ValueError with the expected format otherwise)."""
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        box = [float(p) for p in parts]
    except ValueError:
        box = []
    if len(box) != 4:
        raise ValueError(f"--box {text!r}: expected four numbers x_min,y_min,x_max,y_max in pixels, e.g. --box 120,40,380,610")
    if not (box[2] > box[0] and box[3] > box[1]):
        raise ValueError(f"--box {text!r}: expected x_max > x_min and y_max > y_min (the format is x_min,y_min,x_max,y_max)")
    return box


def build_predict_parser() -> argparse.ArgumentParser:
    p = doc_parser("decomr predict", __doc__, "Predict the 3D mesh of the person in an image (or every image of a folder).")
    p.add_argument("input", metavar="IMAGE_OR_FOLDER", help="an image file or a folder of images")
    p.add_argument("--checkpoint", "-c", help="release/training checkpoint or run folder (default: newest in data/checkpoints/)")
    p.add_argument("--box", help="person box x_min,y_min,x_max,y_max in pixels (single image only)")
    p.add_argument("--mask", help="person mask image, non-zero = person (single image only)")
    p.add_argument("--out", "-o", default="predictions", help="output folder (default: ./predictions)")
    p.add_argument("--outputs", default=",".join(OUTPUTS), help=f"comma-separated subset of {','.join(OUTPUTS)}")
    p.add_argument("--mesh-frame", choices=MESH_FRAMES, default="opengl",
                   help="mesh file frame: opengl (y up, default) or opencv (the camera frame of the JSON)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass (default 8)")
    p.add_argument("--max-side", type=int, default=2048,
                   help="long side of the overlay and IUV images in pixels (default 2048; 0: the original size)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _unique_stems(paths: list[Path]) -> list[str]:
    """File stems, with the suffix appended where two images share a stem (a.jpg, a.png)."""
    stems = [p.stem for p in paths]
    return [f"{p.stem}_{p.suffix.lstrip('.').lower()}" if stems.count(p.stem) > 1 else p.stem for p in paths]


def _join_negative_box(argv: list[str]) -> list[str]:
    """``--box -5,10,50,90`` -> ``--box=-5,10,50,90`` (argparse reads a leading '-' as an option)."""
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg == "--box" and out[i + 1].startswith("-") and out[i + 1][1:2].isdigit():
            out[i:i + 2] = [f"--box={out[i + 1]}"]
            break
    return out


def predict_main(argv: list[str] | None = None) -> int:
    """Entry point of ``decomr predict`` (returns the exit status)."""
    args = build_predict_parser().parse_args(_join_negative_box(sys.argv[1:] if argv is None else list(argv)))
    fail = functools.partial(_fail, "decomr predict")
    source = Path(args.input).expanduser()
    if not source.exists():
        return fail(f"{source}: no such image file or folder")
    outputs = tuple(o.strip() for o in args.outputs.split(",") if o.strip())
    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown or not outputs:
        return fail(f"--outputs {args.outputs!r}: unknown {unknown}; choose from {','.join(OUTPUTS)}")
    if args.batch_size < 1:
        return fail(f"--batch-size: expected >= 1, got {args.batch_size}")
    if args.max_side < 0:
        return fail(f"--max-side: expected >= 0 pixels (0: the original size), got {args.max_side}")
    box = mask = None
    if source.is_dir() and (args.box or args.mask):
        return fail("--box/--mask describe one image; run the folder without them (whole-image crops) or one image at a time")
    if args.box and args.mask:
        return fail("give --box or --mask, not both")
    try:
        box = parse_box(args.box) if args.box else None
    except ValueError as err:
        return fail(str(err))

    if args.mask:
        try:
            mask = read_image(args.mask)[..., 0] > 0  # any channel works for a binary mask; take the first
        except (FileNotFoundError, ImageReadError) as err:
            return fail(f"--mask: {err}")
    paths = list_images(source) if source.is_dir() else [source]
    if box is not None:  # checked before the model loads: a box must overlap the image
        try:
            h, w = read_image(source).shape[:2]
        except (FileNotFoundError, ImageReadError) as err:
            return fail(str(err))
        if box[0] >= w or box[1] >= h or box[2] <= 0 or box[3] <= 0:
            return fail(f"--box {args.box}: outside the image ({w} x {h} pixels, width x height); the box is "
                        "x_min,y_min,x_max,y_max in pixels of this image")
    if not paths:
        return fail(f"{source}: no image files ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    try:
        predictor = Predictor.from_checkpoint(args.checkpoint, device=args.device)
    except (CheckpointNotFoundError, CheckpointError, ValueError) as err:
        return fail(str(err))
    return _run(predictor, paths, _unique_stems(paths), box, mask, outputs, args)


def _reason(err: Exception) -> str:
    """One line for a failed image: the message, with the exception type where it is not a plain ValueError."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return text if isinstance(err, (ValueError, OSError)) and text else f"{type(err).__name__}: {text}"


def _run(predictor, paths: list[Path], stems: list[str], box, mask, outputs, args) -> int:
    out_dir = Path(args.out).expanduser()
    failures: list[tuple[Path, str]] = []
    written = 0
    extra_common = {"checkpoint": str(predictor.checkpoint.path) if predictor.checkpoint else None,
                    "body": getattr(predictor.body, "name", None)}
    bar = tqdm(total=len(paths), desc="decomr predict", unit="img", disable=args.no_progress)

    def process(chunk: list[int]) -> None:
        nonlocal written
        images, ok = [], []
        bar.set_postfix_str("reading")
        for k in chunk:
            try:
                images.append(as_image_list(paths[k], keep_uint8=True)[0])  # uint8 until cropped
                ok.append(k)
            except Exception as err:  # noqa: BLE001 - any unreadable/unusable image is reported, the rest goes on
                failures.append((paths[k], _reason(err)))
                bar.update(1)
        if not ok:
            return
        try:
            bar.set_postfix_str("predicting")
            masks = [mask] if mask is not None else None
            pred = predictor.predict(images, boxes=[box] if box is not None else None, masks=masks,
                                     batch_size=args.batch_size)
        except Exception as err:  # noqa: BLE001 - one bad image must not stop the folder
            if len(ok) > 1:  # isolate the image that fails
                for k in ok:
                    process([k])
                return
            failures.append((paths[ok[0]], _reason(err)))
            bar.update(1)
            return
        bar.set_postfix_str("writing")
        for j, k in enumerate(ok):
            try:
                write_prediction(out_dir, stems[k], pred, j, images[j], atlas=predictor.atlas, outputs=outputs,
                                 mesh_frame=args.mesh_frame, max_side=args.max_side or None,
                                 extra={"image": str(paths[k]), "box": box, **extra_common})
                written += 1
            except Exception as err:  # noqa: BLE001
                failures.append((paths[k], f"writing results failed: {_reason(err)}"))
            bar.update(1)

    with torch.inference_mode():
        for start in range(0, len(paths), args.batch_size):
            process(list(range(start, min(start + args.batch_size, len(paths)))))
    bar.close()
    print(f"decomr predict: {written}/{len(paths)} image(s) written to {out_dir}"
          + (f", {len(failures)} failed" if failures else ""))
    for path, reason in failures:
        print(f"  FAILED {path}: {reason}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(predict_main())
