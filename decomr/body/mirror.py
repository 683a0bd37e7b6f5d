"""The left/right mirror map of a body mesh, from its connectivity.

The continuous UV map is built symmetric (Sec. 3.1: each vertex averaged with its mirror image),
so the builder needs, for every vertex, its mirror vertex. A nearest-neighbour search on the
reflected positions gives it only for exactly symmetric geometry; real templates (SMPL: mirror
pairs a few millimetres off, some midline vertices on the "wrong" side of x = 0) give a map that
is not even one-to-one. Their *connectivity* is symmetric though, and a mirror symmetry of the
connectivity is determined by where it sends one oriented edge:

    a face (a, b, c) maps to the face (m[a], m[c], m[b])      (a mirror reverses orientation)

so from one seed pair the whole map follows face by face. :func:`mirror_map_from_connectivity`
tries the few seeds that geometry suggests, propagates each over the mesh and keeps the one that
maps every face onto a face, is an involution and moves the reflected vertices least.

:func:`mesh_sides` then splits the surface into left (+1), right (-1) and midline (0) vertices
from the map alone: removing the fixed points (the midline) leaves two mirror-image components.

Glossary: V vertices, F faces. The canonical frame has x towards the body's left.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["MirrorMap", "AsymmetricMeshError", "MeshTopologyError", "mirror_map_from_connectivity",
           "nearest_mirror_map", "mesh_sides", "check_closed_genus0"]


class AsymmetricMeshError(ValueError):
    """The mesh's connectivity has no left/right mirror symmetry (no seed propagates consistently)."""


@dataclass(frozen=True)
class MirrorMap:
    """A vertex mirror map and how it was found.

    Attributes:
        mirror: (V,) int64, ``mirror[v]`` = the mirror image of vertex v.
        exact: True when it is a symmetry of the connectivity (an involution mapping every face
            onto a face, orientation reversed); False for the approximate nearest-neighbour map.
        max_error: largest distance between a reflected vertex and its mirror (mesh units).
        mean_error: mean of those distances.
        fixed: number of vertices on the midline (``mirror[v] == v``).
    """

    mirror: np.ndarray
    exact: bool
    max_error: float
    mean_error: float
    fixed: int


def _directed_edges(faces: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted keys ``u * n + v`` of the directed edges of the faces and the opposite vertex of each."""
    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    keys = np.concatenate([a * n + b, b * n + c, c * n + a])
    opp = np.concatenate([c, a, b])
    order = np.argsort(keys, kind="stable")
    keys, opp = keys[order], opp[order]
    if np.any(keys[1:] == keys[:-1]):
        raise ValueError("faces: a directed edge is used twice (non-manifold or inconsistently oriented faces)")
    return keys, opp


def _lookup(keys: np.ndarray, opp: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Opposite vertex of each directed edge key in ``query`` (-1 where there is no such edge)."""
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, len(keys) - 1)
    return np.where(keys[pos] == query, opp[pos], -1)


def _propagate(faces: np.ndarray, n: int, keys: np.ndarray, opp: np.ndarray, seed: dict[int, int]) -> np.ndarray | None:
    """The map that ``seed`` forces through ``opp[(u, v)] = w  =>  opp[(m[v], m[u])] = m[w]``; None if inconsistent."""
    m = np.full(n, -1, dtype=np.int64)
    for k, v in seed.items():
        m[k] = v
    u_all, v_all = keys // n, keys % n
    while True:
        known = (m[u_all] >= 0) & (m[v_all] >= 0)
        w = opp[known]
        image = _lookup(keys, opp, m[v_all[known]] * n + m[u_all[known]])
        if np.any(image < 0):
            return None  # an edge maps onto a non-edge (or an edge of the wrong orientation)
        assigned = m[w] >= 0
        if np.any(m[w[assigned]] != image[assigned]):
            return None  # two faces disagree about a vertex's image
        new = ~assigned
        if not new.any():
            break
        m[w[new]] = image[new]
    if np.any(m < 0):
        return None  # a part of the mesh the seed never reached (several components)
    return m


def nearest_mirror_map(vertices: np.ndarray, axis: int = 0) -> np.ndarray:
    """The approximate mirror map: each vertex's nearest vertex to its reflection (not one-to-one in general)."""
    reflected = np.array(vertices, dtype=np.float64, copy=True)
    reflected[:, axis] *= -1
    return cKDTree(vertices).query(reflected)[1].astype(np.int64)


def mirror_map_from_connectivity(vertices: np.ndarray, faces: np.ndarray, axis: int = 0, candidates: int = 8,
                                 approximate_ok: bool = False) -> MirrorMap:
    """The mesh's left/right mirror map from its connectivity (see the module docstring).

    Args:
        vertices: (V, 3) positions; the symmetry plane is ``vertices[:, axis] = 0`` roughly (only
            used to choose and rank the seeds: the geometry may be off by centimetres).
        faces: (F, 3) consistently oriented triangles of a manifold mesh.
        axis: the left/right axis (0 = x).
        candidates: nearest-neighbour candidates tried for the seed vertex's mirror.
        approximate_ok: when the connectivity is not symmetric, return the nearest-neighbour map
            (``exact=False``) instead of raising.

    Returns:
        :class:`MirrorMap`.

    Raises:
        AsymmetricMeshError: no seed gives a symmetry of the connectivity (and not ``approximate_ok``).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    n = len(vertices)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"vertices, faces: expected (V, 3) and (F, 3), got {vertices.shape} and {faces.shape}")
    try:
        keys, opp = _directed_edges(faces, n)
    except ValueError as err:  # non-manifold: no face-by-face propagation possible
        if not approximate_ok:
            raise AsymmetricMeshError(f"the mirror map cannot be propagated over this mesh: {err}") from None
        keys = opp = None
    reflected = vertices.copy()
    reflected[:, axis] *= -1
    tree = cKDTree(vertices)
    # Seed: a vertex far from the symmetry plane in a coarse part of the mesh (its mirror is then
    # unambiguous even when the geometry is off by millimetres), one of its neighbours, and each
    # neighbour of each candidate image (the map's value on that edge). Candidates are tried
    # nearest first; the first that propagates into a symmetry of the whole mesh wins.
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    length = np.linalg.norm(vertices[e[:, 0]] - vertices[e[:, 1]], axis=1)
    spacing = np.bincount(e[:, 0], weights=length, minlength=n) / np.maximum(np.bincount(e[:, 0], minlength=n), 1)
    s = int(np.argmax(np.abs(vertices[:, axis]) * spacing))
    face = faces[np.nonzero((faces == s).any(1))[0][0]]
    s_next = int(face[(list(face).index(s) + 1) % 3])
    best, best_err = None, np.inf
    for t in np.atleast_1d(tree.query(reflected[s], k=min(candidates, n))[1]) if keys is not None else []:
        ring = np.unique(faces[(faces == t).any(1)])
        for t_next in ring[ring != t]:
            m = _propagate(faces, n, keys, opp, {s: int(t), s_next: int(t_next)})
            if m is None or np.any(m[m] != np.arange(n)):
                continue
            err = float(np.linalg.norm(vertices[m] - reflected, axis=1).mean())
            if err < best_err:
                best, best_err = m, err
        if best is not None:
            break
    if best is None:
        if not approximate_ok:
            raise AsymmetricMeshError(
                "the mesh's connectivity is not left/right symmetric: no mirror map sends every face onto a face "
                "(a symmetric continuous UV map needs one). Use a template with symmetric connectivity, or build "
                "with the approximate nearest-neighbour map (approximate_ok=True), knowing that it is not exact.")
        best = nearest_mirror_map(vertices, axis)
        exact = False
    else:
        exact = True
    dist = np.linalg.norm(vertices[best] - reflected, axis=1)
    return MirrorMap(mirror=best, exact=exact, max_error=float(dist.max()), mean_error=float(dist.mean()),
                     fixed=int((best == np.arange(n)).sum()))


def mesh_sides(vertices: np.ndarray, faces: np.ndarray, mirror: np.ndarray, axis: int = 0) -> np.ndarray:
    """Left (+1), right (-1) or midline (0) for each vertex, from the mirror map's connectivity.

    The midline = the fixed points of the mirror map; edges that the map sends onto themselves
    reversed (where the symmetry plane cuts an edge) are cut too. Without them the surface falls
    into two components that the mirror swaps; the one whose vertices have the larger mean coordinate along ``axis`` is the
    left (+x in the canonical frame). The sign of a single vertex's x is never used, so vertices
    of slightly asymmetric geometry near the midline get the side their connectivity gives them.

    Raises:
        ValueError: the vertices off the midline do not form exactly two mirror-image halves.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    mirror = np.asarray(mirror, dtype=np.int64)
    n = len(vertices)
    fixed = mirror == np.arange(n)
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    e = e[~fixed[e[:, 0]] & ~fixed[e[:, 1]] & (mirror[e[:, 0]] != e[:, 1])]
    graph = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    halves = np.unique(labels[~fixed])
    if len(halves) != 2 or np.any(labels[mirror[~fixed]] == labels[~fixed]):
        raise ValueError(f"mirror: removing the {int(fixed.sum())} midline vertices leaves {len(halves)} components "
                         "that the mirror map does not swap; expected a left and a right half")
    side = np.zeros(n, dtype=np.int64)
    a, b = halves
    left = a if vertices[labels == a, axis].mean() > vertices[labels == b, axis].mean() else b
    side[(labels == left) & ~fixed] = 1
    side[(labels != left) & ~fixed] = -1
    return side


class MeshTopologyError(ValueError):
    """A mesh that cannot be cut into one disk: open, non-manifold, in pieces or of higher genus."""


def check_closed_genus0(faces: np.ndarray, num_vertices: int) -> None:
    """Raise :class:`MeshTopologyError` unless the triangles form one closed, manifold, genus-0 surface.

    The message names the problem and its count (boundary edges, non-manifold edges, components,
    genus), so a user can fix the mesh (fill holes, remove extra shells).
    """
    faces = np.asarray(faces, dtype=np.int64)
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    problems = []
    if (counts == 1).any():
        problems.append(f"{int((counts == 1).sum())} boundary edges (holes: the surface is not closed)")
    if (counts > 2).any():
        problems.append(f"{int((counts > 2).sum())} non-manifold edges (shared by more than two triangles)")
    used = np.unique(faces)
    graph = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(num_vertices, num_vertices))
    n_comp = connected_components(graph, directed=False)[1][used]
    components = len(np.unique(n_comp))
    if components != 1:
        problems.append(f"{components} separate components (one body surface expected)")
    if len(used) != num_vertices:
        problems.append(f"{num_vertices - len(used)} vertices used by no triangle")
    if not problems:
        chi = len(used) - len(counts) + len(faces)
        if chi != 2:
            problems.append(f"genus {(2 - chi) // 2} (handles: Euler characteristic {chi}, a sphere-like surface has 2)")
    if problems:
        raise MeshTopologyError("the mesh cannot be cut into one disk for a continuous UV map: " + "; ".join(problems)
                                + ". Expected one closed, manifold, genus-0 triangle mesh (fill holes, remove extra "
                                "shells such as eyes or teeth).")
