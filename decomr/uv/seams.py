"""The seam tree that cuts a closed body mesh into a disk (Sec. 3.1, "split the template mesh into
an open mesh, while keeping the entire mesh surface as a whole").

The seam is built as ONE tree so that cutting along it can never split the surface:

1. the back midline: the path from the top of the head to the crotch through the self-mirrored
   (x = 0) vertices, on the back side of the body;
2. left branches, grown one at a time: a shortest path through strictly-left vertices from the
   current tree to the next terminal (the left toe from the crotch, then the left fingertip from
   anywhere on the tree); the path's interior avoids the tree, so the union stays a tree;
3. right branches: the left branches mapped through the mirror map (their vertices are strictly
   right, so they touch the rest of the tree only at the midline).

A tree on a genus-0 surface cut open always gives a topological disk (one boundary loop).
Pure numpy/scipy; libigl is not needed here.

Glossary: V vertices, F faces, E edges, S seam edges.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, dijkstra

from decomr.body.mirror import mesh_sides

__all__ = [
    "SeamTree",
    "mesh_edges",
    "edge_length_graph",
    "check_mesh_arrays",
    "symmetric_seam_tree",
    "seam_cut_flags",
    "symmetric_sphere",
]


@dataclass(frozen=True)
class SeamTree:
    """A symmetric seam tree on a closed mesh.

    Attributes:
        edges: (S, 2) int64 mesh vertex pairs (sorted per row) forming a tree.
        midline: (M,) int64 vertex path from the head top to the crotch (back side).
        terminals: (K,) int64 left-side tips the branches reach (fingertip, toe).
        mirrored_terminals: (K,) int64 their mirror images on the right side.
        length: total seam length in mesh units (metres).
    """

    edges: np.ndarray
    midline: np.ndarray
    terminals: np.ndarray
    mirrored_terminals: np.ndarray
    length: float

    @property
    def vertices(self) -> np.ndarray:
        """(N,) int64 unique seam vertices."""
        return np.unique(self.edges)


def check_mesh_arrays(vertices: np.ndarray, faces: np.ndarray, mirror_map: np.ndarray | None = None):
    """Validate and convert mesh arrays; raise ValueError naming the bad argument.

    Args:
        vertices: (V, 3) float array.
        faces: (F, 3) int array with indices in [0, V).
        mirror_map: optional (V,) int array, an involution on [0, V).

    Returns:
        (vertices float64 (V, 3), faces int64 (F, 3), mirror_map int64 (V,) or None).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"vertices: expected shape (V, 3), received {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"faces: expected an integer array of shape (F, 3), received {faces.dtype} {faces.shape}")
    faces = faces.astype(np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(f"faces: indices must lie in [0, {len(vertices)}), received [{faces.min()}, {faces.max()}]")
    if mirror_map is not None:
        mirror_map = np.asarray(mirror_map)
        if mirror_map.shape != (len(vertices),) or not np.issubdtype(mirror_map.dtype, np.integer):
            raise ValueError(
                f"mirror_map: expected an integer array of shape ({len(vertices)},), received "
                f"{mirror_map.dtype} {mirror_map.shape}"
            )
        mirror_map = mirror_map.astype(np.int64)
        if mirror_map.min() < 0 or mirror_map.max() >= len(vertices):
            raise ValueError("mirror_map: indices must lie in [0, V)")
        if not np.array_equal(mirror_map[mirror_map], np.arange(len(vertices))):
            raise ValueError("mirror_map: expected an involution (mirror_map[mirror_map[i]] == i)")
    return vertices, faces, mirror_map


def mesh_edges(faces: np.ndarray) -> np.ndarray:
    """Unique undirected edges of a triangle mesh.

    Args:
        faces: (F, 3) int array.

    Returns:
        (E, 2) int64, each row sorted (i < j), rows sorted lexicographically.
    """
    faces = np.asarray(faces, dtype=np.int64)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])  # (3F, 2)
    return np.unique(np.sort(e, axis=1), axis=0)


def edge_length_graph(vertices: np.ndarray, faces: np.ndarray) -> sp.csr_matrix:
    """Symmetric sparse (V, V) graph of the mesh edges weighted by their Euclidean length."""
    return _length_graph(vertices, mesh_edges(faces))


def _length_graph(vertices: np.ndarray, e: np.ndarray, factor: np.ndarray | float = 1.0) -> sp.csr_matrix:
    """Symmetric sparse (V, V) graph of the edges ``e`` (E, 2), weighted by length times ``factor``."""
    w = np.linalg.norm(vertices[e[:, 0]] - vertices[e[:, 1]], axis=1) * factor  # (E,)
    rows, cols = np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]])
    return sp.coo_matrix((np.concatenate([w, w]), (rows, cols)), shape=(len(vertices),) * 2).tocsr()


def _path_from_predecessors(pred: np.ndarray, target: int) -> list[int]:
    path = [int(target)]
    while pred[path[-1]] >= 0:
        path.append(int(pred[path[-1]]))
    return path[::-1]


def _back_midline(vertices: np.ndarray, faces: np.ndarray, mirror_map: np.ndarray) -> np.ndarray:
    """Path through self-mirrored vertices from the head top down the back to the crotch."""
    mid = np.flatnonzero(mirror_map == np.arange(len(vertices)))
    if len(mid) < 3:
        raise ValueError(
            f"mirror_map: expected a midline of self-mirrored vertices (x = 0), found {len(mid)}; "
            "the seam tree needs a left/right symmetric mesh"
        )
    e = mesh_edges(faces)
    is_mid = np.zeros(len(vertices), bool)
    is_mid[mid] = True
    e = e[is_mid[e[:, 0]] & is_mid[e[:, 1]]]
    # Prefer the back: edges in front of the midline's mean depth cost up to 20x more.
    z = vertices[:, 2]
    zc, zs = z[mid].mean(), max(z[mid].std(), 1e-9)
    front = 1.0 / (1.0 + np.exp(-(0.5 * (z[e[:, 0]] + z[e[:, 1]]) - zc) / (0.1 * zs)))
    g = _length_graph(vertices, e, 1.0 + 20.0 * front)
    top = mid[np.argmax(vertices[mid, 1])]
    bottom = mid[np.argmin(vertices[mid, 1])]
    dist, pred = dijkstra(g, directed=False, indices=top, return_predecessors=True)
    if not np.isfinite(dist[bottom]):
        raise ValueError("mirror_map/faces: the self-mirrored vertices do not form a connected midline from head to crotch")
    return np.asarray(_path_from_predecessors(pred, bottom), dtype=np.int64)


def symmetric_seam_tree(
    vertices: np.ndarray,
    faces: np.ndarray,
    mirror_map: np.ndarray,
    terminals: np.ndarray | None = None,
) -> SeamTree:
    """Build the left/right symmetric seam tree of a closed body mesh in the canonical frame.

    Canonical frame: y up, the body faces +z, x towards the body's left (SMPL's frame).

    Args:
        vertices: (V, 3) rest vertices, metres.
        faces: (F, 3) triangles of a closed genus-0 surface.
        mirror_map: (V,) left/right vertex mirror (an involution; midline vertices map to themselves).
        terminals: optional (K,) left-side (x > 0) vertices the branches must reach. Default: the
            left fingertip and the left toe, found as the vertices farthest (along the mesh) from
            the back midline above and below 35% of the body height.

    Returns:
        SeamTree.

    Raises:
        ValueError: bad shapes, a mirror map that is not an involution or not a mesh symmetry, or
            terminals that are not strictly on the left side.
    """
    vertices, faces, mirror_map = check_mesh_arrays(vertices, faces, mirror_map)
    if mirror_map is None:
        raise ValueError("mirror_map: required, received None")
    n = len(vertices)
    edges = mesh_edges(faces)
    edge_keys = edges[:, 0] * n + edges[:, 1]
    mirrored = np.sort(mirror_map[edges], axis=1)
    if not np.isin(mirrored[:, 0] * n + mirrored[:, 1], edge_keys).all():
        raise ValueError("mirror_map: does not map mesh edges to mesh edges (the topology is not left/right symmetric)")

    midline = _back_midline(vertices, faces, mirror_map)

    # Strictly-left vertices: the left half of the surface once the midline is removed
    # (decomr.body.mirror.mesh_sides), never the sign of a vertex's x, which is wrong for the
    # midline-near vertices of a template whose geometry is only nearly symmetric.

    left = mesh_sides(vertices, faces, mirror_map) > 0
    crotch = int(midline[-1])

    def grow(sources: np.ndarray, forbidden: np.ndarray):
        """Multi-source Dijkstra through strictly-left vertices not already on the tree."""
        allowed = left & ~forbidden
        allowed[sources] = True
        g = _length_graph(vertices, edges[allowed[edges[:, 0]] & allowed[edges[:, 1]]])
        return dijkstra(g, directed=False, indices=sources, return_predecessors=True, min_only=True)[:2]

    if terminals is None:
        dist, _ = grow(midline, np.zeros(n, bool))
        y = vertices[:, 1]
        cut = y.min() + 0.35 * (y.max() - y.min())
        reach = np.where(left & np.isfinite(dist), dist, -np.inf)
        hand = int(np.argmax(np.where(y > cut, reach, -np.inf)))
        foot = int(np.argmax(np.where(y <= cut, reach, -np.inf)))
        terminals = np.array([foot, hand], dtype=np.int64)
    else:
        terminals = np.asarray(terminals, dtype=np.int64).reshape(-1)
        if terminals.size == 0 or terminals.min() < 0 or terminals.max() >= n or not left[terminals].all():
            raise ValueError(f"terminals: expected indices of strictly-left (x > 0) vertices, received {terminals.tolist()}")

    # Grow the tree one branch at a time: each branch is a shortest path from the current tree
    # to its terminal whose interior avoids the tree, so the union stays a tree. Terminals below
    # the crotch (the legs) attach at the crotch itself: a leg seam starting higher up the back
    # would run along the midline and leave a sliver between it and its mirror image.
    on_tree = np.zeros(n, bool)
    on_tree[midline] = True
    seam = [np.stack([midline[:-1], midline[1:]], axis=1)]
    for t in terminals:
        below = vertices[t, 1] < vertices[crotch, 1]
        sources = np.array([crotch]) if below else np.flatnonzero(on_tree)
        _, pred = grow(sources, on_tree)
        if pred[t] < 0 and t not in sources:
            raise ValueError(f"terminals: vertex {int(t)} is not reachable from the seam through left-side vertices")
        path = np.asarray(_path_from_predecessors(pred, int(t)), dtype=np.int64)
        on_tree[path] = True
        if len(path) > 1:
            branch = np.stack([path[:-1], path[1:]], axis=1)
            seam += [branch, mirror_map[branch]]
    seam_edges = np.unique(np.sort(np.concatenate(seam), axis=1), axis=0)

    # A tree has exactly one edge fewer than its vertices and is connected.
    verts = np.unique(seam_edges)
    idx = np.searchsorted(verts, seam_edges)
    ncomp = connected_components(
        sp.coo_matrix((np.ones(len(idx)), (idx[:, 0], idx[:, 1])), shape=(len(verts),) * 2), directed=False
    )[0]
    if ncomp != 1 or len(seam_edges) != len(verts) - 1:
        raise RuntimeError(f"seam is not a tree ({len(seam_edges)} edges, {len(verts)} vertices, {ncomp} components)")
    length = float(np.linalg.norm(vertices[seam_edges[:, 0]] - vertices[seam_edges[:, 1]], axis=1).sum())
    return SeamTree(seam_edges, midline, terminals, mirror_map[terminals], length)


def seam_cut_flags(faces: np.ndarray, seam_edges: np.ndarray) -> np.ndarray:
    """Per-face-edge cut flags in libigl's convention (edge k of face f joins corners k and k+1).

    Args:
        faces: (F, 3) int.
        seam_edges: (S, 2) int vertex pairs.

    Returns:
        (F, 3) bool, True where the face edge lies on the seam.
    """
    faces = np.asarray(faces, dtype=np.int64)
    n = int(faces.max()) + 1
    s = np.sort(np.asarray(seam_edges, dtype=np.int64), axis=1)
    keys = s[:, 0] * n + s[:, 1]
    flags = np.zeros(faces.shape, dtype=bool)
    for k in range(3):
        a, b = faces[:, k], faces[:, (k + 1) % 3]
        flags[:, k] = np.isin(np.minimum(a, b) * n + np.maximum(a, b), keys)
    return flags


def symmetric_sphere(n_lat: int = 10, n_lon: int = 16):
    """A small closed, left/right symmetric triangle mesh (a UV sphere) for examples and tests.

    The poles lie on the y axis (head/crotch stand-ins), the x = 0 meridians are edge loops and
    the quad diagonals are mirrored, so ``x -> -x`` maps the mesh onto itself.

    Args:
        n_lat: latitude bands (>= 3). n_lon: longitudes (even, >= 4).

    Returns:
        (vertices (V, 3) float64, faces (F, 3) int64 outward-oriented, mirror_map (V,) int64).

    Example:
        >>> v, f, m = symmetric_sphere(4, 8)
        >>> v.shape, f.shape, bool(np.allclose(v[m] * [-1, 1, 1], v))
        ((26, 3), (48, 3), True)
    """
    if n_lat < 3 or n_lon < 4 or n_lon % 2:
        raise ValueError(f"n_lat, n_lon: expected n_lat >= 3 and an even n_lon >= 4, received {n_lat}, {n_lon}")
    phi = np.linspace(0.0, np.pi, n_lat + 1)[1:-1]
    th = 2.0 * np.pi * np.arange(n_lon) / n_lon  # theta = 0: the front (+z); x = sin(theta)
    ring = np.stack(
        [np.sin(phi)[:, None] * np.sin(th)[None], np.cos(phi)[:, None] * np.ones_like(th)[None], np.sin(phi)[:, None] * np.cos(th)[None]],
        axis=-1,
    ).reshape(-1, 3)
    v = np.concatenate([[[0.0, 1.0, 0.0]], ring, [[0.0, -1.0, 0.0]]])
    last = len(v) - 1

    def idx(i, j):
        return 1 + i * n_lon + (j % n_lon)

    f = [[0, idx(0, j), idx(0, j + 1)] for j in range(n_lon)]
    for i in range(n_lat - 2):
        for j in range(n_lon):
            a, b, c, d = idx(i, j), idx(i, j + 1), idx(i + 1, j + 1), idx(i + 1, j)
            f += [[a, b, c], [a, c, d]] if j < n_lon // 2 else [[a, b, d], [b, c, d]]  # mirrored diagonals
    f += [[last, idx(n_lat - 2, j + 1), idx(n_lat - 2, j)] for j in range(n_lon)]
    f = np.asarray(f, dtype=np.int64)
    normal = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    inward = (normal * v[f].mean(axis=1)).sum(axis=1) < 0
    f[inward] = f[inward][:, ::-1]
    mirror = np.array([0] + [idx(i, -j) for i in range(n_lat - 1) for j in range(n_lon)] + [last], dtype=np.int64)
    return v, f, mirror
