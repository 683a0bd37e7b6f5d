"""Ground-truth IUV images of the official datasets, rendered with decomr's rasteriser (Sec. 3.2).

CNet is supervised with an IUV image per training crop (Eq. 1-2: foreground mask + the (u, v) of
the visible surface). The official DecoMR code rendered these offline with OpenDR
(``datasets/preprocess/generate_gt_iuv.py``), one PNG per record, and stored their paths in the
``.npz`` field ``iuv_names``. :func:`render_gt_iuv` does the same with
:func:`decomr.render.rasterize`, for any UV atlas, for every record that has SMPL parameters:

1. **Mesh.** SMPL (:func:`decomr.body.load` ``("smpl", gender=...)``) posed with the record's
   ``pose`` (72 = global orientation + 23 joint rotations, axis-angle, camera frame) and
   ``shape`` (10 betas); the male/female model when the record has a ``gender`` (SURREAL, 3DPW),
   the neutral one otherwise (H36M, UP-3D) or with ``gendered=False``.
2. **Camera.** The official files of H36M/UP-3D/SURREAL store no camera, so one is fitted, as the
   official ``cal_cam`` (and CMR/SPIN) do: a weak-perspective camera in the ORIGINAL image's
   pixels, ``x_px = s (X + tx)``, ``y_px = s (Y + ty)`` (s in pixels per metre, t in metres),
   least squares over the visible 2D keypoints, in closed form
   (:func:`fit_weak_perspective_pixels`). Keypoints: ``part``'s first 14 (the LSP joints) against
   the body's ``lsp_joints``; SURREAL's ``part_smpl`` against the 24 SMPL ``joints``. The fit
   error (mean keypoint distance / the side of the keypoints' box, the official
   ``normalized_err``) rejects records whose parameters do not match their keypoints (``bad_fit``);
   a negative scale means the SMPL global orientation is not in the camera frame
   (``negative_scale``).
3. **Render.** The mesh is rasterised over the WHOLE original image (depth = the camera-frame z,
   exact for a weak-perspective camera), like the official files: the loader then crops the IUV
   image exactly like the RGB image, so rotation/scale augmentation still finds the body outside
   the crop box. ``res`` caps the longer side of the PNGs (the same image, downsampled while
   rendering; the loader scales it back) to save disk space on large images (H36M: 1000 x 1000).

**Files.** Nothing of the user's is modified::

    data/datasets/<name>/<name>_<split>.npz                the original (read only)
    data/datasets/<name>/<name>_<split>_iuv_<atlas>.npz    a copy + ``iuv_names`` (written atomically)
    data/datasets/<name>/iuv_<atlas>/<imgname without extension>_<cx>_<cy>.png

``iuv_names`` holds one path per record, relative to the dataset folder like ``imgname`` (absolute
when ``out_dir`` lies elsewhere), ``""`` for records without an IUV image (no SMPL, or failed).
The ``_<cx>_<cy>`` suffix (the rounded crop centre, as in the official names) separates the
people of one image. Read them back with ``OfficialDataset(name, split, iuv_atlas="<atlas>")``
(samples then carry ``iuv`` and ``has_iuv``) or :func:`load_iuv_png`.

**PNG format**: 8-bit RGB, R = 255 * mask, G = round(255 u), B = round(255 v) (exact to
0.5 / 255), black background; see :mod:`decomr.data.iuv_files`, whose helpers are re-exported
here. The official files (OpenCV BGR, official SMPL UV layout) are not read.

**Resuming.** PNGs are written atomically (temporary file + rename), so an interrupted run leaves
only complete files; with ``skip_existing`` (default) a re-run renders only the missing ones.
Delete the ``iuv_<atlas>`` folder (or pass ``skip_existing=False``) after changing the atlas,
``res`` or the SMPL files.

Command line (needs the SMPL files in ``data/body_models/smpl/``)::

    decomr render-gt up3d trainval                    # continuous atlas, original resolution
    decomr render-gt h36m train --res 500 --device cuda

Example (one triangle, s = 10 px/m, t = (2, 2) m: it covers pixels 10..30 of a 40 x 40 image):

>>> verts = torch.tensor([[[-1.0, -1.0, 5.0], [1.0, -1.0, 5.0], [0.0, 1.0, 5.0]]])
>>> iuv = render_iuv_pixels(verts, torch.tensor([[0, 1, 2]]), torch.rand(1, 3, 2),
...                         torch.tensor([[10.0, 2.0, 2.0]]), image_size=(40, 40))
>>> iuv.shape, bool(iuv[0, 0, 20, 20]), bool(iuv[0, 0, 5, 5])
(torch.Size([1, 3, 40, 40]), True, False)
"""
from __future__ import annotations

import argparse
import copy
import logging
import os
import re
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from decomr.body import load
from decomr.data.iuv_files import (  # noqa: F401  (re-exported: the loader-side helpers)
    iuv_npz_path,
    iuv_to_uint8,
    load_iuv_png,
    relative_png_path,
    resize_iuv,
    save_iuv_png,
    scaled_size,
)
from decomr.data.official import OfficialDataset, _gender_code
from decomr.paths import atomic_writer
from decomr.render import pixel_to_normalized, rasterize, render_iuv
from decomr.render.cameras import fit_weak_perspective
from decomr.uv import UVAtlas, load_atlas

logger = logging.getLogger(__name__)

__all__ = [
    "FAILURE_REASONS",
    "CameraFit",
    "RenderFailure",
    "RenderGTSummary",
    "fit_weak_perspective_pixels",
    "render_iuv_pixels",
    "iuv_to_uint8",  # re-exported from decomr.data.iuv_files
    "save_iuv_png",
    "load_iuv_png",
    "resize_iuv",
    "iuv_npz_path",
    "render_gt_iuv",
    "build_parser",
    "render_gt_main",
]

#: Why a record got no IUV image (keys of :attr:`RenderGTSummary.failed`).
FAILURE_REASONS = (
    "malformed",          # rejected by OfficialDataset (NaN, bad scale, ...; logged there)
    "missing_image",      # the image file is missing (its size is needed)
    "corrupt_image",      # the image header cannot be read
    "too_few_keypoints",  # fewer than `min_keypoints` visible 2D keypoints to fit the camera
    "negative_scale",     # the fitted camera mirrors the body: global_orient not in the camera frame
    "bad_fit",            # fit error above `max_fit_error`
    "empty_render",       # the mesh covers no pixel of the image
)
_GENDER_NAMES = {-1: "neutral", 0: "male", 1: "female"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


# --------------------------------------------------------------------------------------------
# Camera fit (step 2)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CameraFit:
    """Weak-perspective cameras in image pixels, fitted to 2D keypoints.

    Attributes:
        camera: (B, 3) float64 ``[s, tx, ty]``: ``x_px = s (X + tx)``, ``y_px = s (Y + ty)``;
            s in pixels per metre, t in metres.
        error: (B,) float64 mean distance (pixels) between the projected joints and the visible
            keypoints divided by the longer side of the visible keypoints' box (the official
            ``normalized_err``); NaN with fewer than 2 visible keypoints.
        num_visible: (B,) int64 visible keypoints used.
    """

    camera: Tensor
    error: Tensor
    num_visible: Tensor


def fit_weak_perspective_pixels(joints: Tensor, keypoints: Tensor) -> CameraFit:
    """Least-squares weak-perspective camera mapping 3D joints onto pixel keypoints.

    Minimises ``sum_j v_j |s (X_j[:2] + t) - k_j|^2`` over (s, t) in closed form (linear in
    ``s`` and ``s t``): ``s = sum v (X - X_m) . (k - k_m) / sum v |X - X_m|^2`` and
    ``t = k_m / s - X_m`` with visibility-weighted means ``X_m``, ``k_m`` (the official
    ``cal_cam``, restricted to visible joints as there).

    Args:
        joints: (B, J, 3) float, camera-frame joints (metres); only x, y are used.
        keypoints: (B, J, 3) float, pixel coordinates (x = column, y = row) + visibility
            (> 0 = visible).

    Returns:
        :class:`CameraFit` (float64).

    Raises:
        ValueError: badly shaped inputs.

    >>> X = torch.tensor([[[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 2.0, 1.0]]])
    >>> k = torch.cat([3 * (X[..., :2] + torch.tensor([1.0, -1.0])), torch.ones(1, 3, 1)], -1)
    >>> fit = fit_weak_perspective_pixels(X, k)
    >>> fit.camera.round(decimals=6).tolist(), fit.num_visible.tolist()
    ([[3.0, 1.0, -1.0]], [3])
    """
    if not torch.is_tensor(joints) or joints.dim() != 3 or joints.shape[-1] != 3:
        raise ValueError(f"joints: expected a (B, J, 3) tensor, received {tuple(getattr(joints, 'shape', ()))}")
    if not torch.is_tensor(keypoints) or tuple(keypoints.shape) != tuple(joints.shape):
        raise ValueError(f"keypoints: expected shape {tuple(joints.shape)} (like joints), "
                         f"received {tuple(getattr(keypoints, 'shape', ()))}")

    X = joints[..., :2].double()  # (B, J, 2)
    k = keypoints[..., :2].double().to(X.device)  # (B, J, 2)
    w = (keypoints[..., 2] > 0).double().to(X.device)  # (B, J)
    n = w.sum(1)  # (B,)
    n_safe = n.clamp_min(1.0)[:, None]
    camera = fit_weak_perspective(joints.double(), k, weights=w)  # (B, 3) float64, the official cal_cam
    s, t = camera[:, 0], camera[:, 1:]

    dist = (s[:, None, None] * (X + t[:, None]) - k).norm(dim=-1)  # (B, J) pixels
    mean_dist = (w * dist).sum(1) / n_safe[:, 0]
    big = torch.finfo(torch.float64).max
    lo = torch.where(w[..., None] > 0, k, torch.full_like(k, big)).amin(1)  # (B, 2)
    hi = torch.where(w[..., None] > 0, k, torch.full_like(k, -big)).amax(1)
    size = (hi - lo).amax(1)  # (B,)
    error = torch.where(n >= 2, mean_dist / (size + 1e-8), torch.full_like(size, float("nan")))
    return CameraFit(camera=camera, error=error, num_visible=n.long())


# --------------------------------------------------------------------------------------------
# Rendering (step 3)
# --------------------------------------------------------------------------------------------
def render_iuv_pixels(vertices: Tensor, faces: Tensor, corner_uv: Tensor, camera: Tensor,
                      image_size: tuple[int, int], out_size: tuple[int, int] | None = None,
                      chunk: int | None = None) -> Tensor:
    """IUV images of meshes seen by pixel weak-perspective cameras (:class:`CameraFit`).

    The vertices are projected to pixels of the ``image_size`` image, converted to normalised
    image coordinates (:mod:`decomr.conventions`: ``x = (2 x_px + 1) / W - 1``) and rasterised at ``out_size``
    (the same field of view, fewer pixels when smaller); depth = camera-frame z.

    Args:
        vertices: (B, V, 3) float, camera frame, metres.
        faces: (F, 3) long.
        corner_uv: (F, 3, 2) float in [0, 1] (``atlas.corner_uv()``).
        camera: (B, 3) ``[s, tx, ty]`` in pixels of ``image_size`` (see :class:`CameraFit`).
        image_size: (H, W) of the image the camera refers to.
        out_size: (h, w) of the rendered image; default ``image_size``.
        chunk: see :func:`decomr.render.rasterize`.

    Returns:
        (B, 3, h, w) float32: mask in {0, 1}, u, v (0 on the background), the IUV image of :mod:`decomr.conventions`.
    """
    if not torch.is_tensor(vertices) or vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices: expected a (B, V, 3) tensor, received {tuple(getattr(vertices, 'shape', ()))}")
    B = vertices.shape[0]
    if not torch.is_tensor(camera) or tuple(camera.shape) != (B, 3):
        raise ValueError(f"camera: expected shape ({B}, 3), received {tuple(getattr(camera, 'shape', ()))}")
    out_size = tuple(image_size) if out_size is None else tuple(out_size)
    cam = camera.to(vertices.device, torch.float64)
    px = cam[:, None, 0:1] * (vertices[..., :2].double() + cam[:, None, 1:3])  # (B, V, 2) pixels
    xy = pixel_to_normalized(px, tuple(image_size))  # (B, V, 2) normalised
    raster = torch.cat([xy, vertices[..., 2:].double()], dim=-1).float()  # (B, V, 3)
    frags = rasterize(raster, faces.to(vertices.device), out_size, chunk=chunk)
    return render_iuv(frags, corner_uv.to(vertices.device, torch.float32)).float()  # (B, 3, h, w)


# --------------------------------------------------------------------------------------------
# The whole dataset
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RenderFailure:
    """A record that got no IUV image.

    Attributes:
        record: row in the ``.npz``.
        imgname: its image.
        reason: one of :data:`FAILURE_REASONS`.
        detail: what was wrong, in words.
    """

    record: int
    imgname: str
    reason: str
    detail: str


@dataclass(frozen=True)
class RenderGTSummary:
    """What :func:`render_gt_iuv` did.

    Attributes:
        dataset, split: the dataset split.
        atlas: the atlas' name.
        npz_path: the written copy (``<name>_<split>_iuv_<atlas>.npz``).
        source_npz: the user's file it was copied from (untouched).
        out_dir: where the PNGs are.
        total: records in the ``.npz``.
        rendered: PNGs written by this call.
        skipped: PNGs that already existed and were kept (``skip_existing``).
        no_smpl: records without SMPL parameters (no IUV image; not a failure).
        failed: reason -> count of records that got no IUV image (:data:`FAILURE_REASONS`).
        failures: one :class:`RenderFailure` per failed record, in record order.
        fit_error_mean, fit_error_max: fit errors (:class:`CameraFit`) of the rendered records
            (None when none was rendered).
        seconds: wall time.
    """

    dataset: str
    split: str
    atlas: str
    npz_path: Path
    source_npz: Path
    out_dir: Path
    total: int
    rendered: int
    skipped: int
    no_smpl: int
    failed: dict[str, int] = field(default_factory=dict)
    failures: tuple[RenderFailure, ...] = ()
    fit_error_mean: float | None = None
    fit_error_max: float | None = None
    seconds: float = 0.0

    @property
    def num_failed(self) -> int:
        return sum(self.failed.values())

    def lines(self, max_failures: int = 10) -> list[str]:
        """A human-readable report."""
        out = [f"render-gt {self.dataset} {self.split} (atlas {self.atlas!r}): {self.total} records in "
               f"{self.source_npz.name}, {self.seconds:.1f} s",
               f"  rendered {self.rendered}, skipped {self.skipped} (already there), "
               f"no SMPL {self.no_smpl}, failed {self.num_failed}"]
        if self.fit_error_mean is not None:
            out.append(f"  camera fit error (mean keypoint distance / keypoint box): mean {self.fit_error_mean:.4f}, "
                       f"max {self.fit_error_max:.4f}")
        for reason, count in sorted(self.failed.items()):
            out.append(f"  failed ({reason}): {count}")
        for f in self.failures[:max_failures]:
            out.append(f"    record {f.record} ({f.imgname}): {f.reason}: {f.detail}")
        if len(self.failures) > max_failures:
            out.append(f"    ... and {len(self.failures) - max_failures} more")
        out.append(f"  PNGs under {self.out_dir}")
        out.append(f"  wrote {self.npz_path} (iuv_names); load it with "
                   f"OfficialDataset({self.dataset!r}, {self.split!r}, iuv_atlas={self.atlas!r})")
        return out


def _load_bodies(genders: set[int], device: torch.device) -> dict[int, object]:
    """One SMPL model per gender code, on ``device`` (private copies when moved)."""
    bodies = {}
    for code in sorted(genders):
        try:
            body = load("smpl", gender=_GENDER_NAMES[code])
        except FileNotFoundError as err:
            if code >= 0:
                err.add_note("Records of this dataset have a gender, so the male/female SMPL models are used; "
                             "pass gendered=False (--neutral) to render every record with the neutral model.")
            raise
        if body.template.device != device:
            body = copy.deepcopy(body).to(device)
        bodies[code] = body
    return bodies


def _resolve_atlas(atlas: "str | UVAtlas", bodies: dict[int, object]) -> "UVAtlas":
    """The atlas object; names are loaded for the neutral SMPL when present (the one training uses)."""
    if isinstance(atlas, UVAtlas):
        resolved = atlas
    elif isinstance(atlas, str):
        body = bodies.get(-1)
        if body is None:
            try:  # the atlas cache is keyed on the neutral template (mesh_hash)
                body = load("smpl", gender="neutral")
            except FileNotFoundError:
                body = next(iter(bodies.values()))
        resolved = load_atlas(body, atlas)
    else:
        raise ValueError(f"atlas: expected an atlas name ('continuous', 'default') or a UVAtlas, "
                         f"received {type(atlas).__name__}")
    if not _SAFE_NAME.fullmatch(resolved.name or ""):
        raise ValueError(f"atlas: its name is used in file names and must match [A-Za-z0-9_.-]+, "
                         f"received {resolved.name!r}")
    body = next(iter(bodies.values()))
    faces = body.faces.cpu()
    if resolved.num_vertices != body.num_vertices or resolved.num_faces != faces.shape[0] or not torch.equal(
            resolved.mesh_faces().cpu(), faces):
        raise ValueError(f"atlas: expected an atlas of the SMPL mesh ({body.num_vertices} vertices, "
                         f"{faces.shape[0]} faces, the same faces), received {resolved.num_vertices} vertices, "
                         f"{resolved.num_faces} faces" + ("" if resolved.num_faces != faces.shape[0]
                                                         else " with other faces"))
    return resolved


def render_gt_iuv(dataset_name: str, split: str, atlas: "str | UVAtlas" = "continuous",
                  out_dir: str | Path | None = None, res: int | None = None, skip_existing: bool = True,
                  device: str | torch.device | None = None, batch_size: int = 32, *,
                  root: str | Path | None = None, gendered: bool = True, max_fit_error: float = 0.2,
                  min_keypoints: int = 4, allow_pickle: bool = False, progress: bool = True) -> RenderGTSummary:
    """Render the ground-truth IUV image of every record with SMPL parameters (module docstring).

    Args:
        dataset_name: an official dataset with SMPL parameters and 2D keypoints: ``"h36m"``
            (train), ``"up3d"``, ``"surreal"``.
        split: its split (e.g. ``"trainval"``).
        atlas: ``"continuous"`` / ``"default"`` (SMPL's atlas from ``data/atlases/``, built on
            first use) or a :class:`~decomr.uv.UVAtlas` of the SMPL mesh.
        out_dir: folder of the PNGs; default ``<dataset folder>/iuv_<atlas>``.
        res: cap on the longer side of the PNGs (pixels; None = the original resolution).
        skip_existing: keep PNGs that already exist (resume an interrupted run).
        device: torch device; default CUDA when available, else CPU.
        batch_size: records posed and rendered at once (records of one image size share one
            :func:`~decomr.render.rasterize` call; its buffers take about 40 bytes per pixel,
            e.g. 1.3 GB for 32 images of 1000 x 1000).
        root: the dataset folder; default ``data/datasets/<name>``.
        gendered: use the male/female SMPL for records with a gender; False: neutral for all.
        max_fit_error: records whose camera fit error (:class:`CameraFit`) exceeds it fail
            (``bad_fit``).
        min_keypoints: records with fewer visible 2D keypoints fail (``too_few_keypoints``).
        allow_pickle: let ``np.load`` unpickle object arrays (files you trust only).
        progress: show a tqdm progress bar.

    Returns:
        :class:`RenderGTSummary`; the ``.npz`` copy with ``iuv_names`` is written even when some
        records failed (their name is ``""``).

    Raises:
        ValueError: bad arguments, a dataset without SMPL fits (LSP, H36M validation) or without
            2D keypoints (3DPW), an atlas of another mesh.
        FileNotFoundError: the dataset file, or an SMPL model file (decomr.body's message: where
            to get it).
    """
    t0 = time.perf_counter()
    if res is not None and (not isinstance(res, (int, np.integer)) or isinstance(res, bool) or res < 1):
        raise ValueError(f"res: expected None or a positive int, received {res!r}")
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, received {batch_size!r}")
    if not (isinstance(max_fit_error, (int, float)) and max_fit_error > 0):
        raise ValueError(f"max_fit_error: expected a number > 0, received {max_fit_error!r}")
    if not isinstance(min_keypoints, (int, np.integer)) or min_keypoints < 2:
        raise ValueError(f"min_keypoints: expected an int >= 2, received {min_keypoints!r}")
    device = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")

    # ---- the records with SMPL parameters (dataset errors come before any SMPL file is needed) --
    ds = OfficialDataset(dataset_name, split, root=root, skip_bad=True, allow_pickle=allow_pickle)
    with np.load(ds.npz_path, allow_pickle=allow_pickle) as npz:
        data = {k: npz[k] for k in npz.files}
    recs = _smpl_records(ds, data, gendered)

    # ---- models, atlas, output names ---------------------------------------------------------
    bodies = _load_bodies(set(recs.genders[recs.rows].tolist()), device)
    the_atlas = _resolve_atlas(atlas, bodies)
    out_dir = Path(out_dir) if out_dir is not None else ds.root / f"iuv_{the_atlas.name}"
    out_npz = iuv_npz_path(ds.root, dataset_name, split, the_atlas.name)
    png_of = _png_paths(recs, data["center"], out_dir)
    todo = [i for i in png_of if not (skip_existing and png_of[i].is_file())]
    job = _Job(data=data, recs=recs, root=ds.root, png_of=png_of, bodies=bodies,
               faces=next(iter(bodies.values())).faces.to(device),  # (F, 3), shared by the genders
               corner_uv=the_atlas.corner_uv().to(device), res=res, min_keypoints=int(min_keypoints),
               max_fit_error=float(max_fit_error))

    # ---- pose, fit, render, write (PNG encoding in threads: zlib releases the GIL) --------------
    from tqdm.auto import tqdm

    failures, fit_errors = list(recs.failures), []
    with torch.no_grad(), ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool, \
            tqdm(total=len(todo), desc=f"render-gt {dataset_name} {split}", unit="img", disable=not progress) as bar:
        for c0 in range(0, len(todo), batch_size):
            chunk = todo[c0:c0 + batch_size]
            done, failed = _render_chunk(job, chunk, pool)
            failures += failed
            fit_errors += done.values()
            bar.update(len(chunk))

    # ---- the npz copy (atomically; the user's file is never touched) ----------------------------
    names = _iuv_names(png_of, {f.record for f in failures}, len(recs.names), ds.root)
    with atomic_writer(out_npz) as fh:
        np.savez(fh, **{**data, "iuv_names": names})
    failures.sort(key=lambda f: f.record)
    summary = RenderGTSummary(
        dataset=dataset_name, split=split, atlas=the_atlas.name, npz_path=out_npz, source_npz=ds.npz_path,
        out_dir=out_dir, total=len(recs.names), rendered=len(fit_errors), skipped=len(png_of) - len(todo),
        no_smpl=recs.no_smpl, failed=dict(Counter(f.reason for f in failures)), failures=tuple(failures),
        fit_error_mean=float(np.mean(fit_errors)) if fit_errors else None,
        fit_error_max=float(np.max(fit_errors)) if fit_errors else None,
        seconds=time.perf_counter() - t0)
    for line in summary.lines():
        logger.info(line)
    if summary.num_failed:
        logger.warning("render-gt %s %s: %d record(s) got no IUV image: %s", dataset_name, split,
                       summary.num_failed, summary.failed)
    return summary


@dataclass(frozen=True)
class _Records:
    """The records of a dataset file seen by :func:`render_gt_iuv`.

    Attributes:
        rows: (M,) int64 rows with SMPL parameters (served by OfficialDataset, ``has_smpl``).
        names: (N,) image name of every row ("" where OfficialDataset rejected it).
        genders: (N,) int64 -1 neutral, 0 male, 1 female.
        kp_key: ``"part"`` (the first 14 = LSP joints) or ``"part_smpl"`` (24 SMPL joints).
        no_smpl: rows without SMPL parameters.
        failures: the rows OfficialDataset rejected (``malformed``).
    """

    rows: np.ndarray
    names: list[str]
    genders: np.ndarray
    kp_key: str
    no_smpl: int
    failures: tuple[RenderFailure, ...]

    @property
    def num_keypoints(self) -> int:
        return 24 if self.kp_key == "part_smpl" else 14


def _smpl_records(ds: OfficialDataset, data: dict[str, np.ndarray], gendered: bool) -> _Records:
    """Which rows have SMPL parameters; a clear ValueError for datasets that have none."""
    n = len(data["center"])
    where = f"{ds.name!r} {ds.split!r} ({ds.npz_path})"
    if "pose" not in data or "shape" not in data:
        raise ValueError(f"{where} has no SMPL fits (fields 'pose' and 'shape'): ground-truth IUV images are "
                         "rendered from SMPL parameters. Datasets with SMPL: h36m train, up3d, surreal, 3dpw.")
    kp_key = "part_smpl" if ds.spec.keypoint_format == "smpl24" else "part"
    if kp_key not in data:
        raise ValueError(f"{where} has SMPL fits but no 2D keypoints ({kp_key!r}) to place the camera; its "
                         "official file stores no camera either, so no IUV image can be aligned with the image.")
    served = ds.record_indices()
    names = [""] * n
    for i, name in zip(served.tolist(), ds.imgnames()):
        names[i] = name
    has_smpl = np.zeros(n, dtype=bool)
    has_smpl[served] = True
    if "has_smpl" in data:
        has_smpl &= np.asarray(data["has_smpl"]).reshape(n) > 0
    rows = np.flatnonzero(has_smpl)
    if rows.size == 0:
        raise ValueError(f"{where}: no record has SMPL parameters ('has_smpl' is 0 everywhere or every record "
                         "is malformed); nothing to render")
    genders = np.full(n, -1, dtype=np.int64)
    if gendered and "gender" in data:
        genders[rows] = [_gender_code(data["gender"][i]) for i in rows]
    rejected = np.setdiff1d(np.arange(n), served)
    label = data["imgname"] if "imgname" in data else data["videoname"]
    failures = tuple(RenderFailure(int(i), str(label[i]), "malformed",
                                   "rejected by OfficialDataset (see the logged warning)") for i in rejected)
    return _Records(rows=rows, names=names, genders=genders, kp_key=kp_key,
                    no_smpl=len(served) - int(rows.size), failures=failures)


def _png_paths(recs: _Records, centers: np.ndarray, out_dir: Path) -> dict[int, Path]:
    """{row: PNG path} for the rows with SMPL, official naming, collisions made unique."""
    png_of, used = {}, set()
    for i in recs.rows.tolist():
        rel = relative_png_path(recs.names[i], centers[i])
        if rel.as_posix() in used:  # two people with the same rounded centre in one image
            rel = rel.with_name(f"{rel.stem}_r{i}.png")
        used.add(rel.as_posix())
        png_of[i] = out_dir / rel
    return png_of


def _iuv_names(png_of: dict[int, Path], failed: set[int], n: int, root: Path) -> np.ndarray:
    """(N,) str: each row's PNG relative to the dataset folder (absolute outside it), "" if none."""
    names = [""] * n
    for i, path in png_of.items():
        if i not in failed:
            names[i] = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.resolve().as_posix()
    return np.array(names, dtype=str)


@dataclass(frozen=True)
class _Job:
    """Everything :func:`_render_chunk` needs (one dataset, one atlas)."""

    data: dict[str, np.ndarray]
    recs: _Records
    root: Path
    png_of: dict[int, Path]
    bodies: dict[int, object]
    faces: Tensor  # (F, 3) long, on the device
    corner_uv: Tensor  # (F, 3, 2), on the device
    res: int | None
    min_keypoints: int
    max_fit_error: float


def _render_chunk(job: _Job, chunk: list[int], pool: ThreadPoolExecutor) -> tuple[dict[int, float], list[RenderFailure]]:
    """Pose, fit, render and write the records ``chunk``.

    Returns:
        {row: fit error} of the written PNGs, and the failures.
    """
    recs, data, nk = job.recs, job.data, job.recs.num_keypoints
    failures: list[RenderFailure] = []

    def fail(i: int, reason: str, detail: str) -> None:
        failures.append(RenderFailure(i, recs.names[i], reason, detail))

    ok, sizes = [], {}
    for i in chunk:
        path = job.root / recs.names[i]
        try:
            with Image.open(path) as im:
                W, H = im.size  # from the header (no decoding)
            sizes[i] = (int(H), int(W))
        except FileNotFoundError:
            fail(i, "missing_image", f"{path} is missing (its size is needed)")
            continue
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            fail(i, "corrupt_image", f"{path}: cannot read the image header ({err})")
            continue
        visible = int((data[recs.kp_key][i, :nk, 2] > 0).sum())
        if visible < job.min_keypoints:
            fail(i, "too_few_keypoints", f"{visible} visible 2D keypoints, {job.min_keypoints} needed")
            continue
        ok.append(i)

    # Step 1-2: pose each gender's records, fit their cameras.
    cams, verts, errors = {}, {}, {}
    for code, body in job.bodies.items():
        rows = [i for i in ok if recs.genders[i] == code]
        if not rows:
            continue
        dev = job.faces.device
        pose = torch.as_tensor(data["pose"][rows], dtype=torch.float32, device=dev)  # (b, 72)
        shape = torch.as_tensor(data["shape"][rows][:, :body.shape_dim], dtype=torch.float32, device=dev)  # (b, 10)
        out = body(shape=shape, pose=pose[:, 3:].reshape(-1, 23, 3), global_orient=pose[:, :3])
        joints = out.lsp_joints if nk == 14 else out.joints  # (b, J, 3)
        fit = fit_weak_perspective_pixels(joints, torch.as_tensor(data[recs.kp_key][rows, :nk], device=dev))
        for k, i in enumerate(rows):
            s, err = float(fit.camera[k, 0]), float(fit.error[k])
            if s <= 0:
                fail(i, "negative_scale", f"fitted scale {s:.3g} px/m <= 0: the SMPL global orientation is not in "
                                          "the camera frame (OpenCV: y down), or keypoints and SMPL disagree")
            elif not err <= job.max_fit_error:
                fail(i, "bad_fit", f"camera fit error {err:.3f} > max_fit_error {job.max_fit_error} "
                                   "(SMPL parameters do not match the 2D keypoints)")
            else:
                cams[i], verts[i], errors[i] = fit.camera[k], out.vertices[k], err

    # Step 3: render, grouped by image size; write the PNGs in the pool.
    by_size: dict[tuple[int, int], list[int]] = {}
    for i in cams:
        by_size.setdefault(sizes[i], []).append(i)
    written, pending = {}, []
    for hw, rows in by_size.items():
        iuv = render_iuv_pixels(torch.stack([verts[i] for i in rows]), job.faces, job.corner_uv,
                                torch.stack([cams[i] for i in rows]), hw, scaled_size(hw, job.res)).cpu()
        for k, i in enumerate(rows):
            if not bool(iuv[k, 0].any()):
                fail(i, "empty_render", "the fitted camera puts the mesh outside the image")
                continue
            pending.append(pool.submit(save_iuv_png, iuv[k], job.png_of[i]))
            written[i] = errors[i]
    for fut in pending:
        fut.result()  # re-raise write errors (disk full, permissions) here
    return written, failures


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="decomr render-gt",
        description="Render ground-truth IUV images (mask, u, v) of an official dataset from its SMPL "
                    "parameters (needs the SMPL model files), like the official OpenDR preprocessing.")
    p.add_argument("dataset", help="dataset name with SMPL fits: h36m, up3d, surreal")
    p.add_argument("split", help="split, e.g. train, trainval, test")
    p.add_argument("--atlas", default="continuous", help="UV atlas: continuous (default) or default")
    p.add_argument("--out", default=None, help="folder of the PNGs (default: <dataset folder>/iuv_<atlas>)")
    p.add_argument("--root", default=None, help="dataset folder (default: data/datasets/<dataset>)")
    p.add_argument("--res", type=int, default=None, help="cap on the PNGs' longer side (default: original size)")
    p.add_argument("--force", action="store_true", help="re-render PNGs that already exist")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--batch-size", type=int, default=32, help="records posed and rendered at once")
    p.add_argument("--neutral", action="store_true", help="neutral SMPL for every record, even with a gender")
    p.add_argument("--max-fit-error", type=float, default=0.2,
                   help="reject records whose camera fit error (mean keypoint distance / keypoint box) exceeds it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def render_gt_main(argv: list[str] | None = None) -> int:
    """Entry point of ``decomr render-gt``; returns the exit status (1 on a missing file / bad input)."""
    argv = list(argv or [])
    if argv[:1] == ["--"]:
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    try:
        summary = render_gt_iuv(args.dataset, args.split, atlas=args.atlas, out_dir=args.out, res=args.res,
                                skip_existing=not args.force, device=args.device, batch_size=args.batch_size,
                                root=args.root, gendered=not args.neutral, max_fit_error=args.max_fit_error,
                                progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as err:
        notes = "".join("\n" + note for note in getattr(err, "__notes__", ()))
        print(f"decomr render-gt: error: {err}{notes}", file=sys.stderr)
        return 1
    print("\n".join(summary.lines()))
    return 0
