"""Geometric checks of a UV atlas: charts, flipped triangles, boundary loops, symmetry, distortion.

Pure numpy/scipy (no libigl), so they run on any loaded atlas, not only while building one.
Glossary: T UV vertices, F faces, V mesh vertices.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = [
    "signed_areas",
    "chart_labels",
    "flipped_faces",
    "boundary_loops",
    "boundary_self_intersections",
    "symmetry_error",
    "area_log_ratio",
    "triangle_areas",
    "seam_edges",
]


def signed_areas(uv: np.ndarray, faces_uv: np.ndarray) -> np.ndarray:
    """Signed area of each UV triangle, (u, v) taken as a right-handed (x, y) frame.

    Args:
        uv: (T, 2) float.
        faces_uv: (F, 3) int.

    Returns:
        (F,) float64.
    """
    uv = np.asarray(uv, dtype=np.float64)
    a = uv[faces_uv[:, 1]] - uv[faces_uv[:, 0]]  # (F, 2)
    b = uv[faces_uv[:, 2]] - uv[faces_uv[:, 0]]  # (F, 2)
    return 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])


def chart_labels(faces_uv: np.ndarray, num_uv: int | None = None) -> np.ndarray:
    """Chart (connected component of UV triangles sharing UV vertices) of each face.

    Args:
        faces_uv: (F, 3) int.
        num_uv: number of UV vertices T (default: max index + 1).

    Returns:
        (F,) int64 chart labels 0..K-1.
    """
    faces_uv = np.asarray(faces_uv, dtype=np.int64)
    t = int(faces_uv.max()) + 1 if num_uv is None else int(num_uv)
    f = len(faces_uv)
    # Bipartite face/UV-vertex incidence graph: faces are nodes 0..F-1, UV vertices F..F+T-1.
    rows = np.repeat(np.arange(f), 3)
    cols = f + faces_uv.ravel()
    g = sp.coo_matrix((np.ones(3 * f), (rows, cols)), shape=(f + t, f + t))
    _, labels = connected_components(g, directed=False)
    _, faces_lab = np.unique(labels[:f], return_inverse=True)
    return faces_lab.astype(np.int64)


def flipped_faces(uv: np.ndarray, faces_uv: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """Faces whose orientation disagrees with their chart's (or that are degenerate).

    A chart's orientation is the sign of its total signed area, so a mirrored chart is not
    "flipped"; only triangles folded over inside a chart are.

    Args:
        uv: (T, 2) float.
        faces_uv: (F, 3) int.
        eps: areas with ``|a| <= eps`` count as degenerate (flipped).

    Returns:
        (K,) int64 indices of flipped or degenerate faces.
    """
    area = signed_areas(uv, faces_uv)
    labels = chart_labels(faces_uv, len(uv))
    chart_sign = np.sign(np.bincount(labels, weights=area))
    chart_sign[chart_sign == 0] = 1.0
    s = area * chart_sign[labels]
    return np.flatnonzero(s <= eps)


def boundary_loops(faces_uv: np.ndarray) -> list[np.ndarray]:
    """Ordered boundary loops of an oriented triangle mesh.

    Boundary half-edges are those whose reverse is absent. Each loop is followed along its
    half-edges; a vertex with several outgoing boundary half-edges (a pinch, i.e. a boundary
    that is not a simple loop) raises.

    Args:
        faces_uv: (F, 3) int.

    Returns:
        list of (L,) int64 vertex loops.

    Raises:
        ValueError: the boundary is not a disjoint union of simple loops.
    """
    faces_uv = np.asarray(faces_uv, dtype=np.int64)
    n = int(faces_uv.max()) + 1
    he = np.concatenate([faces_uv[:, [0, 1]], faces_uv[:, [1, 2]], faces_uv[:, [2, 0]]])  # (3F, 2)
    keys = he[:, 0] * n + he[:, 1]
    rev = he[:, 1] * n + he[:, 0]
    bnd = he[~np.isin(rev, keys)]  # (Nb, 2)
    if len(bnd) == 0:
        return []
    starts, counts = np.unique(bnd[:, 0], return_counts=True)
    if (counts > 1).any() or len(np.unique(bnd[:, 1])) != len(bnd):
        raise ValueError("faces_uv: the boundary is not a union of simple loops (a vertex is visited twice)")
    nxt = dict(zip(bnd[:, 0].tolist(), bnd[:, 1].tolist()))
    loops, seen = [], set()
    for s in bnd[:, 0].tolist():
        if s in seen:
            continue
        loop = [s]
        seen.add(s)
        cur = nxt[s]
        while cur != s:
            loop.append(cur)
            seen.add(cur)
            cur = nxt[cur]
        loops.append(np.asarray(loop, dtype=np.int64))
    return loops


def boundary_self_intersections(uv: np.ndarray, loop: np.ndarray, chunk: int = 512) -> int:
    """Number of pairs of non-adjacent boundary segments that cross in the UV plane.

    Args:
        uv: (T, 2) float.
        loop: (L,) int ordered boundary loop.

    Returns:
        number of crossing pairs (0 for a simple polygon).
    """
    p = np.asarray(uv, dtype=np.float64)[loop]  # (L, 2)
    q = np.roll(p, -1, axis=0)
    n = len(p)
    idx = np.arange(n)

    def orient(a, b, c):
        return np.sign((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))

    crossings = 0
    for s in range(0, n, chunk):
        i = idx[s : s + chunk, None]  # (c, 1)
        a, b = p[i], q[i]  # (c, 1, 2)
        c, d = p[None, :], q[None, :]  # (1, L, 2)
        hit = (orient(a, b, c) * orient(a, b, d) < 0) & (orient(c, d, a) * orient(c, d, b) < 0)
        adjacent = (np.abs(i - idx[None, :]) <= 1) | (np.abs(i - idx[None, :]) == n - 1)
        crossings += int((hit & ~adjacent & (idx[None, :] > i)).sum())
    return crossings


def symmetry_error(uv: np.ndarray, uv_mirror: np.ndarray, axis_u: float = 0.5) -> np.ndarray:
    """Per-UV-vertex distance between a point and its mirror's reflection ``(u, v) -> (2a - u, v)``.

    Args:
        uv: (T, 2) float.
        uv_mirror: (T,) int, the UV vertex of each one's mirror image.
        axis_u: u of the symmetry axis.

    Returns:
        (T,) float64 distances in UV units.
    """
    uv = np.asarray(uv, dtype=np.float64)
    reflected = uv[uv_mirror] * np.array([-1.0, 1.0]) + np.array([2.0 * axis_u, 0.0])
    return np.linalg.norm(uv - reflected, axis=1)


def area_log_ratio(uv: np.ndarray, faces_uv: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area distortion per face: ``log2`` of (UV area share) / (surface area share).

    0 means the face keeps its share of the total area; +1 means it takes twice its share on the
    UV map, -1 half of it.

    Args:
        uv: (T, 2) float. faces_uv: (F, 3) int. vertices: (V, 3) float. faces: (F, 3) int.

    Returns:
        (F,) float64.
    """
    a_uv = np.abs(signed_areas(uv, faces_uv))
    a_3d = triangle_areas(vertices, faces)
    tiny = 1e-30
    return np.log2((a_uv / a_uv.sum() + tiny) / (a_3d / a_3d.sum() + tiny))


def triangle_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area of each 3D triangle.

    Args:
        vertices: (V, 3) float. faces: (F, 3) int.

    Returns:
        (F,) float64.
    """
    v = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    return 0.5 * np.linalg.norm(np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]]), axis=1)


def seam_edges(faces_uv: np.ndarray, vt_to_v: np.ndarray) -> np.ndarray:
    """Mesh edges lying on a UV boundary (the seams of a cut, the chart borders of an atlas).

    Args:
        faces_uv: (F, 3) int. vt_to_v: (T,) int mesh vertex of each UV vertex.

    Returns:
        (S, 2) int64 mesh vertex pairs, sorted per row, unique.
    """
    faces_uv = np.asarray(faces_uv, dtype=np.int64)
    n = int(faces_uv.max()) + 1
    he = np.concatenate([faces_uv[:, [0, 1]], faces_uv[:, [1, 2]], faces_uv[:, [2, 0]]])  # (3F, 2)
    bnd = he[~np.isin(he[:, 1] * n + he[:, 0], he[:, 0] * n + he[:, 1])]
    return np.unique(np.sort(np.asarray(vt_to_v)[bnd], axis=1), axis=0)
