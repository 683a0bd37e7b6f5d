"""Rasterise UV triangles onto an R x R grid (once per atlas and resolution).

Pixel (row i, col j) of a UV map has its centre at ``u = j / (R - 1), v = i / (R - 1)``
(align_corners=True, :mod:`decomr.conventions`). For every pixel centre covered by a UV triangle we keep
the face index and the barycentric coordinates; the location map of a mesh is then the
barycentric blend of the face's three vertex positions (the inverse of Eq. 3).

A small CPU rasteriser in numpy, independent of :mod:`decomr.render` (which z-buffers 3D
triangles): UV triangles of one chart do not overlap, so no depth test is needed. A pixel centre
on an edge shared by two faces goes to the face in which it lies deepest (largest minimum
barycentric), ties to the lower face index: deterministic.

Glossary: T UV vertices, F faces, R resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["UVRaster", "pixel_centers", "barycentric", "rasterize_uv"]


@dataclass(frozen=True)
class UVRaster:
    """Per-pixel face index and barycentrics of a UV rasterisation.

    Attributes:
        face_idx: (R, R) int64 face covering the pixel centre, -1 where none.
        bary: (R, R, 3) float64 barycentric coordinates in that face (0 where none).
    """

    face_idx: np.ndarray
    bary: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(R, R) bool, pixels covered by a triangle."""
        return self.face_idx >= 0


def pixel_centers(resolution: int) -> np.ndarray:
    """UV coordinates of the pixel centres, (R, R, 2) float64: ``[..., 0] = u = j/(R-1)``, ``[..., 1] = v = i/(R-1)``."""
    t = np.arange(resolution) / (resolution - 1)
    vv, uu = np.meshgrid(t, t, indexing="ij")
    return np.stack([uu, vv], axis=-1)


def barycentric(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of 2D points in 2D triangles (broadcasting).

    Args:
        p, a, b, c: (..., 2) float.

    Returns:
        (..., 3) float64 weights of (a, b, c); NaN for degenerate triangles.
    """
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[..., 0] * v1[..., 1] - v1[..., 0] * v0[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        wb = (v2[..., 0] * v1[..., 1] - v1[..., 0] * v2[..., 1]) / den
        wc = (v0[..., 0] * v2[..., 1] - v2[..., 0] * v0[..., 1]) / den
    return np.stack([1.0 - wb - wc, wb, wc], axis=-1)


def rasterize_uv(uv: np.ndarray, faces_uv: np.ndarray, resolution: int, eps: float = 1e-9, chunk: int = 2_000_000) -> UVRaster:
    """Rasterise UV triangles at pixel centres ``(j/(R-1), i/(R-1))``.

    Args:
        uv: (T, 2) float UV coordinates in [0, 1].
        faces_uv: (F, 3) int.
        resolution: R >= 2.
        eps: a centre with every barycentric >= -eps counts as inside.
        chunk: max candidate (face, pixel) pairs processed at once (memory bound).

    Returns:
        UVRaster.

    Example:
        >>> r = rasterize_uv(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.array([[0, 1, 2]]), 4)
        >>> r.mask.astype(int)
        array([[1, 1, 1, 1],
               [1, 1, 1, 0],
               [1, 1, 0, 0],
               [1, 0, 0, 0]])
    """
    uv = np.asarray(uv, dtype=np.float64)
    faces_uv = np.asarray(faces_uv, dtype=np.int64)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise ValueError(f"uv: expected shape (T, 2), received {uv.shape}")
    if faces_uv.ndim != 2 or faces_uv.shape[1] != 3:
        raise ValueError(f"faces_uv: expected shape (F, 3), received {faces_uv.shape}")
    if int(resolution) < 2:
        raise ValueError(f"resolution: expected an int >= 2, received {resolution}")
    r = int(resolution)
    px = uv * (r - 1)  # (T, 2) pixel coordinates (col, row)
    tri = px[faces_uv]  # (F, 3, 2)
    lo = np.clip(np.ceil(tri.min(axis=1) - 1e-7), 0, r - 1).astype(np.int64)  # (F, 2)
    hi = np.clip(np.floor(tri.max(axis=1) + 1e-7), 0, r - 1).astype(np.int64)  # (F, 2)
    size = np.maximum(hi - lo + 1, 0)  # (F, 2) bbox width (cols), height (rows)
    valid = (size > 0).all(axis=1)

    best_score = np.full(r * r, -np.inf)
    best_face = np.full(r * r, -1, dtype=np.int64)
    best_bary = np.zeros((r * r, 3))
    # Faces sorted by bbox size; each group is padded to its own max bbox.
    order = np.flatnonzero(valid)
    order = order[np.lexsort((order, size[order, 0] * size[order, 1]))]
    start = 0
    while start < len(order):
        w_max, h_max = size[order[start], 0], size[order[start], 1]
        stop = start
        # Grow the group while the padded candidate count stays under `chunk`.
        while stop < len(order):
            w_max = max(w_max, size[order[stop], 0])
            h_max = max(h_max, size[order[stop], 1])
            if (stop + 1 - start) * w_max * h_max > chunk and stop > start:
                break
            stop += 1
        group = order[start:stop]
        start = stop
        w_max, h_max = size[group, 0].max(), size[group, 1].max()
        dj, di = np.meshgrid(np.arange(w_max), np.arange(h_max), indexing="xy")  # (h, w)
        cols = lo[group, 0, None, None] + dj[None]  # (G, h, w)
        rows = lo[group, 1, None, None] + di[None]
        inside_box = (cols <= hi[group, 0, None, None]) & (rows <= hi[group, 1, None, None])
        p = np.stack([cols, rows], axis=-1).astype(np.float64)  # (G, h, w, 2)
        t = tri[group][:, None, None]  # (G, 1, 1, 3, 2)
        w = barycentric(p, t[..., 0, :], t[..., 1, :], t[..., 2, :])  # (G, h, w, 3)
        score = w.min(axis=-1)
        ok = inside_box & (score >= -eps) & np.isfinite(score)
        g_idx, ii, jj = np.nonzero(ok)
        pix = rows[g_idx, ii, jj] * r + cols[g_idx, ii, jj]
        sc = score[g_idx, ii, jj]
        fc = group[g_idx]
        # Keep, per pixel, the candidate with the largest score, then the lowest face index.
        better = (sc > best_score[pix]) | ((sc == best_score[pix]) & (fc < best_face[pix]))
        sel = np.lexsort((fc, -sc, pix))
        first = np.ones(len(sel), bool)
        first[1:] = pix[sel][1:] != pix[sel][:-1]
        sel = sel[first & better[sel]]
        best_score[pix[sel]] = sc[sel]
        best_face[pix[sel]] = fc[sel]
        best_bary[pix[sel]] = w[g_idx[sel], ii[sel], jj[sel]]
    return UVRaster(best_face.reshape(r, r), best_bary.reshape(r, r, 3))
