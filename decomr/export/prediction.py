"""Everything ``decomr predict`` writes for one image: mesh files, IUV image, overlay, JSON.

Files for an image ``<stem>`` in the output folder:

* ``<stem>.obj`` — the mesh with the UV atlas as texture coordinates (``vt``);
* ``<stem>.ply`` — the mesh (binary);
* ``<stem>_iuv.png`` — the predicted IUV image pasted into the original image (encoding:
  :mod:`decomr.export.images`);
* ``<stem>_overlay.png`` — the shaded mesh drawn over the original image;
* ``<stem>.json`` — crop, camera, 3D joints (metres) and 2D joints (original image pixels).

Mesh files use OpenGL's frame by default (y up, z towards the viewer: the camera frame rotated by
180 degrees about x), so they open upright in mesh viewers; ``mesh_frame="opencv"`` keeps the
camera frame of the JSON joints.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from decomr.body.joints import LSP_JOINT_NAMES, SMPL_JOINT_NAMES
from decomr.export.images import write_iuv_png, write_png
from decomr.export.mesh import opencv_to_opengl, write_obj, write_ply
from decomr.paths import atomic_write_bytes
from decomr.predict.overlay import MAX_OUTPUT_SIDE, iuv_layer, output_size, overlay_image

__all__ = ["OUTPUTS", "MESH_FRAMES", "WrittenFiles", "prediction_record", "write_prediction"]

#: What :func:`write_prediction` can write.
OUTPUTS = ("obj", "ply", "iuv", "overlay", "json")
MESH_FRAMES = ("opengl", "opencv")


@dataclass(frozen=True)
class WrittenFiles:
    """Paths written for one image (None for outputs not asked for)."""

    obj: Path | None = None
    ply: Path | None = None
    iuv: Path | None = None
    overlay: Path | None = None
    json: Path | None = None


def _round(t: torch.Tensor, digits: int) -> Any:
    return torch.round(t.double(), decimals=digits).tolist()


def _dumps(record: dict[str, Any]) -> str:
    """JSON with one line per key and innermost lists (points, names) kept on one line."""
    text = json.dumps(record, indent=1)
    return re.sub(r"\[\s*([^\[\]{}]*?)\s*\]", lambda m: "[" + re.sub(r"\s*\n\s*", " ", m.group(1)) + "]", text)


def prediction_record(prediction, index: int = 0, **extra: Any) -> dict[str, Any]:
    """The JSON-ready summary of one prediction.

    Args:
        prediction: a :class:`~decomr.predict.Prediction`.
        index: which image.
        **extra: more keys (e.g. ``image``, ``box``, ``checkpoint``).

    Returns:
        dict with crop, camera, joints (3D: camera frame, metres, pelvis-centred; 2D: image pixels).
    """
    p = prediction.item(index)
    s = float(p.scale[0])
    return {
        **extra,
        "image_size": [int(v) for v in p.image_size[0]],
        "crop": {"center": _round(p.center[0], 3), "scale": round(s, 6), "side_px": round(200.0 * s, 3)},
        "camera": {"weak_perspective": _round(p.camera[0], 6),
                   "convention": "crop coordinates in [-1, 1]: x = s * (X + tx), y = s * (Y + ty); "
                                 "image pixels = crop.center + crop.side_px / 2 * (x, y)"},
        "frame_3d": "camera frame (OpenCV: x right, y down, z away from the camera), metres, pelvis-centred",
        "frame_2d": "original image pixels (x = column, y = row, pixel centres at integers)",
        "joint_names": list(SMPL_JOINT_NAMES),
        "joints3d": _round(p.joints[0], 5),
        "joints2d": _round(p.joints_2d[0], 2),
        "lsp_joint_names": list(LSP_JOINT_NAMES),
        "lsp_joints3d": _round(p.lsp_joints[0], 5),
        "lsp_joints2d": _round(p.lsp_joints_2d[0], 2),
        "foreground_fraction": round(float(p.iuv[0, 0].mean()), 4),
    }


def write_prediction(out_dir: str | Path, stem: str, prediction, index: int = 0, image: torch.Tensor | None = None,
                     *, atlas: Any = None, outputs: tuple[str, ...] = OUTPUTS, mesh_frame: str = "opengl",
                     blend: float = 0.7, extra: dict[str, Any] | None = None,
                     max_side: int | None = MAX_OUTPUT_SIDE) -> WrittenFiles:
    """Write the files of one prediction (see the module docstring).

    Args:
        out_dir: output folder (created).
        stem: file name stem.
        prediction, index: the prediction and which image.
        image: (3, H, W) float in [0, 1] or uint8, the original image (needed for ``"overlay"``).
        atlas: the UV atlas (``uv``, ``faces_uv``) for the OBJ texture coordinates; None: none.
        outputs: a subset of :data:`OUTPUTS`.
        mesh_frame: ``"opengl"`` (y up; default) or ``"opencv"`` (the camera frame).
        blend: mesh opacity of the overlay.
        extra: more keys for the JSON (image path, box, checkpoint, ...).
        max_side: long side of the overlay and IUV images, pixels (None: the original size). The
            JSON's 2D points stay in the original image's pixels.

    Returns:
        :class:`WrittenFiles`.
    """

    unknown = sorted(set(outputs) - set(OUTPUTS))
    if unknown:
        raise ValueError(f"outputs: unknown {unknown}; expected a subset of {OUTPUTS}")
    if mesh_frame not in MESH_FRAMES:
        raise ValueError(f"mesh_frame: expected one of {MESH_FRAMES}, got {mesh_frame!r}")
    if "overlay" in outputs and image is None:
        raise ValueError("image: the original image is required to write the overlay")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    verts = prediction.vertices[index]
    verts = opencv_to_opengl(verts) if mesh_frame == "opengl" else verts
    note = f"DecoMR prediction, {mesh_frame} frame (metres)"
    paths: dict[str, Path] = {}
    if "obj" in outputs:
        uv = dict(uv=atlas.uv, faces_uv=atlas.faces_uv) if atlas is not None else {}
        paths["obj"] = write_obj(out_dir / f"{stem}.obj", verts, prediction.faces, comment=note, **uv)
    if "ply" in outputs:
        paths["ply"] = write_ply(out_dir / f"{stem}.ply", verts, prediction.faces, comment=note)
    if "iuv" in outputs:
        paths["iuv"] = write_iuv_png(out_dir / f"{stem}_iuv.png", iuv_layer(prediction, index, max_side))
    if "overlay" in outputs:
        paths["overlay"] = write_png(out_dir / f"{stem}_overlay.png",
                                     overlay_image(image, prediction, index, blend, max_side=max_side))
    if "json" in outputs:
        files = {k: v.name for k, v in paths.items()}
        drawn = list(output_size(tuple(int(v) for v in prediction.image_size[index]), max_side))
        record = prediction_record(prediction, index, **(extra or {}), files=files, mesh_frame=mesh_frame,
                                   images_drawn_at=drawn)
        paths["json"] = out_dir / f"{stem}.json"
        atomic_write_bytes(paths["json"], (_dumps(record) + "\n").encode("utf-8"))
    return WrittenFiles(**paths)
