"""UV atlases: the continuous UV map of Sec. 3.1 and a body model's own multi-chart layout.

A :class:`UVAtlas` stores, for a body mesh with V vertices and F faces, T UV vertices (a mesh
vertex cut open by a seam has several UV copies) and per-face UV indices in the SAME face order
as the body mesh. Atlases are small ``.npz`` files under ``data/atlases/<body>_<atlas>.npz``,
stamped with the body's :meth:`~decomr.body.BodyModel.mesh_hash` so a stale file is detected;
:func:`decomr.uv.store.load_atlas` reads them, building and saving the ones missing or stale.

Loading an atlas needs numpy and torch only; building the continuous one needs libigl (imported
by :mod:`decomr.uv.build` on demand).

Glossary: V mesh vertices, F faces, T UV vertices.
"""
from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from decomr.paths import atomic_write_bytes, sub_dir
from decomr.uv import checks

__all__ = [
    "ATLAS_NAMES",
    "AtlasStats",
    "UVAtlas",
    "StaleAtlasError",
    "atlas_path",
    "default_atlas",
    "atlas_report",
]

ATLAS_NAMES = ("continuous", "default")
_FORMAT_VERSION = 1


#: Largest template movement (metres, any vertex) that still counts as the same mesh:
#: float noise between machines is ~1e-5 m, a real change of the body model is centimetres.
PROBE_TOLERANCE = 2e-3


class StaleAtlasError(ValueError):
    """A cached atlas was built for a different mesh (its mesh hash does not match)."""


@dataclass(frozen=True)
class AtlasStats:
    """Quality figures of an atlas (NaN / -1 where not measured).

    Attributes:
        num_charts: connected UV components (1 for the continuous map).
        num_flipped: triangles folded against their chart's orientation (or degenerate).
        num_boundary_loops: boundary loops of the UV mesh (1 for a disk).
        boundary_is_simple: every boundary loop is a simple, non-self-intersecting polygon.
        duplicated_fraction: (T - V) / V, share of extra UV copies made by the seams.
        seam_vertex_fraction: share of mesh vertices with more than one UV copy.
        symmetry_error_max: max over UV vertices of |uv - reflect(uv of the mirror)|, UV units.
        asymmetry_before_mean: the same, averaged, before symmetrisation (continuous build only).
        area_distortion: area-weighted mean of |log2 area ratio| per face (0 = area preserving).
        coverage: share of [0, 1]^2 covered by UV triangles.
        seam_length: seam length on the mesh, metres (continuous build only).
        slim_iterations: SLIM iterations used (continuous build only).
        separated_vertices: UV vertices pushed back to their side of the symmetry axis after
            averaging (continuous build only; see :func:`decomr.uv.build.symmetrise`).
        build_seconds: wall time of the build.
    """

    num_charts: int = -1
    num_flipped: int = -1
    num_boundary_loops: int = -1
    boundary_is_simple: bool = False
    duplicated_fraction: float = math.nan
    seam_vertex_fraction: float = math.nan
    symmetry_error_max: float = math.nan
    asymmetry_before_mean: float = math.nan
    area_distortion: float = math.nan
    coverage: float = math.nan
    seam_length: float = math.nan
    slim_iterations: int = -1
    separated_vertices: int = -1
    build_seconds: float = math.nan

    def lines(self) -> list[str]:
        """Human-readable ``name: value`` lines."""
        return [f"{k}: {v:.6g}" if isinstance(v, float) else f"{k}: {v}" for k, v in asdict(self).items()]


def _as_tensor(x, dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=dtype).detach().cpu().contiguous()


@dataclass(frozen=True, eq=False)
class UVAtlas:
    """A UV layout of a body mesh.

    Attributes:
        name: ``"continuous"`` or ``"default"`` (or any label).
        uv: (T, 2) float32 UV coordinates in [0, 1]. Image convention: u grows with the column,
            v with the row (v = 0 is the top of a UV map).
        faces_uv: (F, 3) int64 UV-vertex indices, same face order and corner order as the mesh.
        vt_to_v: (T,) int64 mesh vertex of each UV vertex.
        num_vertices: V.
        mesh_hash: the body's ``mesh_hash()`` the atlas was built for ("" if unknown).
        body_name: the body model's name ("" if unknown).
        uv_mirror: optional (T,) int64 UV vertex of each one's left/right mirror image; for the
            continuous map the mirror of ``(u, v)`` is ``(1 - u, v)`` (used by flip augmentation).
        stats: :class:`AtlasStats`.
        template: optional (V, 3) float32 template of the body it was built for. It is the seam-aware
            sampler's reference (:class:`decomr.uv.UVSampler`), so that every machine reads location
            maps with the same table (the body model's own template differs by float noise, ~1e-5 m,
            from one machine to another, enough to flip some of the sampler's 3 cm decisions); and
            :func:`load_atlas` treats the atlas as stale when the body's template moved by more than
            :data:`PROBE_TOLERANCE`.
    """

    name: str
    uv: torch.Tensor
    faces_uv: torch.Tensor
    vt_to_v: torch.Tensor
    num_vertices: int
    mesh_hash: str = ""
    body_name: str = ""
    uv_mirror: torch.Tensor | None = None
    stats: AtlasStats = field(default_factory=AtlasStats)
    template: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        for name, dtype in (("uv", torch.float32), ("faces_uv", torch.int64), ("vt_to_v", torch.int64),
                            ("uv_mirror", torch.int64)):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _as_tensor(getattr(self, name), dtype))
        t = self.uv.shape[0]
        if self.uv.dim() != 2 or self.uv.shape[1] != 2:
            raise ValueError(f"uv: expected shape (T, 2), received {tuple(self.uv.shape)}")
        if not torch.isfinite(self.uv).all() or self.uv.min() < 0 or self.uv.max() > 1:
            raise ValueError("uv: expected finite values in [0, 1]")
        if self.faces_uv.dim() != 2 or self.faces_uv.shape[1] != 3:
            raise ValueError(f"faces_uv: expected shape (F, 3), received {tuple(self.faces_uv.shape)}")
        if self.faces_uv.numel() and (self.faces_uv.min() < 0 or self.faces_uv.max() >= t):
            raise ValueError(f"faces_uv: expected indices in [0, {t}), received [{self.faces_uv.min()}, {self.faces_uv.max()}]")
        if self.vt_to_v.shape != (t,):
            raise ValueError(f"vt_to_v: expected shape ({t},), received {tuple(self.vt_to_v.shape)}")
        if t and (self.vt_to_v.min() < 0 or self.vt_to_v.max() >= self.num_vertices):
            raise ValueError(f"vt_to_v: expected indices in [0, {self.num_vertices})")
        if torch.unique(self.vt_to_v).numel() != self.num_vertices:
            raise ValueError("vt_to_v: every mesh vertex needs at least one UV copy")
        if self.uv_mirror is not None and self.uv_mirror.shape != (t,):
            raise ValueError(f"uv_mirror: expected shape ({t},), received {tuple(self.uv_mirror.shape)}")

    # ------------------------------------------------------------------ sizes and views
    @property
    def num_uv(self) -> int:
        """T, the number of UV vertices."""
        return int(self.uv.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces_uv.shape[0])

    def mesh_faces(self) -> torch.Tensor:
        """(F, 3) int64 mesh faces implied by the atlas (``vt_to_v[faces_uv]``)."""
        return self.vt_to_v[self.faces_uv]

    def corner_uv(self) -> torch.Tensor:
        """(F, 3, 2) float32 UV of each face corner (for rendering IUV images)."""
        return self.uv[self.faces_uv]

    def copies_per_vertex(self) -> torch.Tensor:
        """(V,) int64 number of UV copies of each mesh vertex (1 away from seams)."""
        return torch.bincount(self.vt_to_v, minlength=self.num_vertices)

    def first_copy(self) -> torch.Tensor:
        """(V,) int64 the lowest-index UV vertex of each mesh vertex."""
        idx = torch.full((self.num_vertices,), self.num_uv, dtype=torch.int64)
        return idx.scatter_reduce(0, self.vt_to_v, torch.arange(self.num_uv), reduce="amin")

    def last_copy(self) -> torch.Tensor:
        """(V,) int64 the highest-index UV vertex of each mesh vertex (``uv_v[vt_to_v] = uv``)."""
        idx = torch.full((self.num_vertices,), -1, dtype=torch.int64)
        return idx.scatter_reduce(0, self.vt_to_v, torch.arange(self.num_uv), reduce="amax")

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the atlas to a compressed ``.npz`` (atomically). Returns the path."""
        path = Path(path)
        arrays = {
            "format_version": np.int64(_FORMAT_VERSION),
            "name": np.str_(self.name),
            "body_name": np.str_(self.body_name),
            "mesh_hash": np.str_(self.mesh_hash),
            "num_vertices": np.int64(self.num_vertices),
            "uv": self.uv.numpy().astype(np.float32),
            "faces_uv": self.faces_uv.numpy().astype(np.int32),
            "vt_to_v": self.vt_to_v.numpy().astype(np.int32),
        }
        if self.uv_mirror is not None:
            arrays["uv_mirror"] = self.uv_mirror.numpy().astype(np.int32)
        if self.template is not None:
            arrays["template"] = np.asarray(self.template, dtype=np.float32)
        for f in fields(AtlasStats):
            arrays[f"stats_{f.name}"] = np.asarray(getattr(self.stats, f.name))
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path, expected_hash: str | None = None) -> "UVAtlas":
        """Read an atlas written by :meth:`save`.

        Args:
            path: the ``.npz`` file.
            expected_hash: if given, the mesh hash the atlas must carry.

        Raises:
            FileNotFoundError: no such file.
            StaleAtlasError: ``expected_hash`` differs from the stored one.
        """
        path = Path(path)
        with np.load(path, allow_pickle=False) as z:
            if int(z["format_version"]) != _FORMAT_VERSION:
                raise StaleAtlasError(f"{path}: format version {int(z['format_version'])}, expected {_FORMAT_VERSION}")
            stored_hash = str(z["mesh_hash"])
            if expected_hash is not None and stored_hash != expected_hash:
                raise StaleAtlasError(
                    f"{path}: built for mesh hash {stored_hash!r}, the body has {expected_hash!r} "
                    "(rebuild with `decomr build-uv` or load_atlas(..., rebuild=True))"
                )
            stats = {f.name: type(f.default)(z[f"stats_{f.name}"].item()) for f in fields(AtlasStats)
                     if f"stats_{f.name}" in z}
            return cls(
                name=str(z["name"]),
                uv=z["uv"],
                faces_uv=z["faces_uv"].astype(np.int64),
                vt_to_v=z["vt_to_v"].astype(np.int64),
                num_vertices=int(z["num_vertices"]),
                mesh_hash=stored_hash,
                body_name=str(z["body_name"]),
                uv_mirror=z["uv_mirror"].astype(np.int64) if "uv_mirror" in z else None,
                stats=AtlasStats(**stats),
                template=z["template"] if "template" in z else None,
            )

    def with_stats(self, stats: AtlasStats) -> "UVAtlas":
        """A copy with other stats."""
        return replace(self, stats=stats)


def atlas_path(body_name: str, name: str) -> Path:
    """``data/atlases/<body_name>_<name>.npz``."""
    return sub_dir("atlases") / f"{body_name}_{name}.npz"


def _compact_default_uv(uv: np.ndarray, faces_uv: np.ndarray, faces: np.ndarray):
    """Drop unused UV vertices and split UV vertices shared by several mesh vertices."""
    pairs = np.stack([faces_uv.ravel(), faces.ravel()], axis=1)  # (3F, 2) (vt, v)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    new_faces_uv = inverse.reshape(faces.shape).astype(np.int64)
    return uv[uniq[:, 0]], new_faces_uv, uniq[:, 1].astype(np.int64)


def atlas_report(
    atlas: UVAtlas,
    vertices: np.ndarray | torch.Tensor | None = None,
    faces: np.ndarray | torch.Tensor | None = None,
    base: AtlasStats | None = None,
) -> AtlasStats:
    """Measure an atlas: charts, flips, boundary, duplication, symmetry, distortion, coverage.

    Args:
        atlas: the atlas.
        vertices: optional (V, 3) rest mesh (for the area distortion).
        faces: optional (F, 3) mesh faces; must equal ``atlas.mesh_faces()`` when given.
        base: stats whose build-only fields (seam length, SLIM iterations, build time,
            asymmetry before symmetrisation) are carried over.

    Returns:
        AtlasStats.
    """
    uv = atlas.uv.numpy().astype(np.float64)
    fuv = atlas.faces_uv.numpy()
    if faces is not None:
        faces = np.asarray(faces.cpu() if torch.is_tensor(faces) else faces, dtype=np.int64)
        if faces.shape != fuv.shape or not np.array_equal(faces, atlas.mesh_faces().numpy()):
            raise ValueError("faces: the atlas's faces_uv do not map onto these mesh faces (vt_to_v[faces_uv] != faces)")
    labels = checks.chart_labels(fuv, atlas.num_uv)
    try:
        loops = checks.boundary_loops(fuv)
        simple = all(checks.boundary_self_intersections(uv, lp) == 0 for lp in loops)
        n_loops = len(loops)
    except ValueError:
        loops, simple, n_loops = [], False, -1
    area = np.abs(checks.signed_areas(uv, fuv))
    copies = atlas.copies_per_vertex().numpy()
    sym = math.nan
    if atlas.uv_mirror is not None:
        sym = float(checks.symmetry_error(uv, atlas.uv_mirror.numpy()).max())
    distortion = math.nan
    if vertices is not None:
        v = np.asarray(vertices.detach().cpu() if torch.is_tensor(vertices) else vertices, dtype=np.float64)
        mesh_faces = atlas.mesh_faces().numpy()
        lr = checks.area_log_ratio(uv, fuv, v, mesh_faces)
        a3 = checks.triangle_areas(v, mesh_faces)
        distortion = float((np.abs(lr) * a3).sum() / a3.sum())
    base = base or AtlasStats()
    return replace(
        base,
        num_charts=int(labels.max()) + 1,
        num_flipped=int(len(checks.flipped_faces(uv, fuv))),
        num_boundary_loops=n_loops,
        boundary_is_simple=bool(simple),
        duplicated_fraction=float((atlas.num_uv - atlas.num_vertices) / atlas.num_vertices),
        seam_vertex_fraction=float((copies > 1).mean()),
        symmetry_error_max=sym,
        area_distortion=distortion,
        coverage=float(area.sum()),
    )


def default_atlas(body) -> UVAtlas:
    """The body model's own (multi-chart) UV layout as an atlas ("SMPL default UV" in Table 1).

    Unused UV vertices are dropped; ``vt_to_v`` is derived from the faces.

    Args:
        body: a :class:`decomr.body.BodyModel` (needs ``default_uv_coords``, ``default_uv_faces``,
            ``faces``, ``template``).
    """
    uv = body.default_uv_coords.detach().cpu().numpy().astype(np.float32)
    fuv = body.default_uv_faces.detach().cpu().numpy().astype(np.int64)
    faces = body.faces.detach().cpu().numpy().astype(np.int64)
    if fuv.shape != faces.shape:
        raise ValueError(f"body.default_uv_faces: expected shape {faces.shape}, received {fuv.shape}")
    uv, fuv, vt_to_v = _compact_default_uv(np.clip(uv, 0.0, 1.0), fuv, faces)
    atlas = UVAtlas("default", uv, fuv, vt_to_v, body.num_vertices, body.mesh_hash(), body.name)
    return atlas.with_stats(atlas_report(atlas, body.template, faces))
