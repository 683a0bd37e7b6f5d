"""Table 1: how well a UV map preserves the mesh's vertex distances (Sec. 3.1, Eq. 2).

A is the matrix of graph shortest-path distances between mesh vertices (edges weighted by their
length, ``scipy.sparse.csgraph.dijkstra``), B the matrix of Euclidean distances between their UV
coordinates. Two scores compare them over all entries (m, n):

* S1, the 2D correlation coefficient (Eq. 2) — Pearson's r of the flattened matrices;
* S2, the normalised cosine similarity ``sum(A * B) / (||A|| ||B||)``.

Which UV copy stands for a vertex on a seam. The paper's B has one UV point per mesh vertex
("the distance between their UV coordinates") and the official code keeps, per UV vertex, its
mesh vertex (``vt2v``); the natural one-line inversion, ``uv_v[vt2v] = texcoords``, keeps the
LAST copy of each vertex. That is our default (``copy="last"``); ``"first"`` and ``"min"`` (the
smallest distance over all copy pairs, the most favourable reading for a multi-chart map) are
available to show how much the choice matters.

The sums are streamed over chunks of source vertices, so the full V x V matrices (1.4 GB each in
float64 for 13k vertices) are never stored; a random vertex subset gives a fast estimate.

Glossary: V mesh vertices, T UV vertices, N vertices scored.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import dijkstra

from decomr.paths import figures_dir
from decomr.uv.atlas import UVAtlas
from decomr.uv.sampler import _group_members
from decomr.uv.seams import check_mesh_arrays, edge_length_graph

__all__ = [
    "COPY_MODES",
    "PAPER_TABLE1",
    "Table1Scores",
    "vertex_uv",
    "mesh_distances",
    "uv_distances",
    "scores_from_matrices",
    "table1_scores",
    "write_table1",
]

COPY_MODES = ("last", "first", "min")

#: Table 1 of the paper (SMPL, 6890 vertices): (S1, S2).
PAPER_TABLE1 = {"default": (0.2132, 0.8306), "continuous": (0.7758, 0.9458)}


@dataclass(frozen=True)
class Table1Scores:
    """S1 and S2 of one atlas (Table 1).

    Attributes:
        atlas: atlas name. body: body name.
        s1: 2D correlation coefficient (Eq. 2). s2: normalised cosine similarity.
        num_vertices: N, the vertices scored (all V, or the subsample size).
        subsampled: whether N < V (a random subset, seed below).
        seed: the subset's seed.
        copy: which UV copy stands for a seam vertex (see module docstring).
        seconds: wall time.
    """

    atlas: str
    body: str
    s1: float
    s2: float
    num_vertices: int
    subsampled: bool
    seed: int
    copy: str
    seconds: float


def vertex_uv(atlas: UVAtlas, copy: str = "last") -> np.ndarray:
    """One UV point per mesh vertex.

    Args:
        atlas: the atlas.
        copy: ``"last"`` (highest UV-vertex index) or ``"first"`` (lowest).

    Returns:
        (V, 2) float64.
    """
    if copy == "last":
        idx = atlas.last_copy()
    elif copy == "first":
        idx = atlas.first_copy()
    else:
        raise ValueError(f"copy: expected 'last' or 'first', received {copy!r}")
    return atlas.uv.numpy().astype(np.float64)[idx.numpy()]


def mesh_distances(vertices: np.ndarray, faces: np.ndarray, sources: np.ndarray, targets: np.ndarray | None = None) -> np.ndarray:
    """Graph shortest-path distances along mesh edges (the paper's "length of the minimal path
    between them on the graph built from the mesh").

    Args:
        vertices: (V, 3). faces: (F, 3). sources: (S,) int. targets: optional (N,) int (default all).

    Returns:
        (S, N) float64, metres.
    """
    vertices, faces, _ = check_mesh_arrays(vertices, faces)
    d = dijkstra(edge_length_graph(vertices, faces), directed=False, indices=np.asarray(sources, dtype=np.int64))
    return d if targets is None else d[:, np.asarray(targets, dtype=np.int64)]


def uv_distances(atlas: UVAtlas, sources: np.ndarray, targets: np.ndarray, copy: str = "last") -> np.ndarray:
    """Euclidean UV distances between mesh vertices (one UV point each, or the min over copies).

    Args:
        atlas: the atlas. sources: (S,) int mesh vertices. targets: (N,) int mesh vertices.
        copy: one of :data:`COPY_MODES`.

    Returns:
        (S, N) float64, UV units.
    """
    sources = np.asarray(sources, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    if copy != "min":
        uv = vertex_uv(atlas, copy)
        return np.linalg.norm(uv[sources][:, None] - uv[targets][None], axis=-1)
    uv = atlas.uv.numpy().astype(np.float64)
    rows, n_rows = _group_members(atlas.vt_to_v.numpy(), sources)  # the UV copies of each source
    cols, n_cols = _group_members(atlas.vt_to_v.numpy(), targets)
    d = np.linalg.norm(uv[rows][:, None] - uv[cols][None], axis=-1)  # (copies of S, copies of N)
    d = np.minimum.reduceat(d, np.cumsum(n_cols) - n_cols, axis=1)
    return np.minimum.reduceat(d, np.cumsum(n_rows) - n_rows, axis=0)


def scores_from_matrices(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """S1 (Eq. 2) and S2 of two full distance matrices (reference implementation).

    Args:
        a, b: (N, N) float.

    Returns:
        (S1, S2).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    da, db = a - a.mean(), b - b.mean()
    s1 = float((da * db).sum() / np.sqrt((da * da).sum() * (db * db).sum()))
    s2 = float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)))
    return s1, s2


class _Moments:
    """Streaming sums for Pearson's r and the cosine similarity (shifted for stability)."""

    def __init__(self):
        self.n = 0
        self.shift = None
        self.sa = self.sb = self.saa = self.sbb = self.sab = 0.0  # shifted
        self.raa = self.rbb = self.rab = 0.0  # raw

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        if self.shift is None:
            self.shift = (float(a.mean()), float(b.mean()))
        self.raa += float((a * a).sum())
        self.rbb += float((b * b).sum())
        self.rab += float((a * b).sum())
        a, b = a - self.shift[0], b - self.shift[1]
        self.n += a.size
        self.sa += float(a.sum())
        self.sb += float(b.sum())
        self.saa += float((a * a).sum())
        self.sbb += float((b * b).sum())
        self.sab += float((a * b).sum())

    def scores(self) -> tuple[float, float]:
        n = self.n
        cov = self.sab - self.sa * self.sb / n
        va = self.saa - self.sa**2 / n
        vb = self.sbb - self.sb**2 / n
        return float(cov / np.sqrt(va * vb)), float(self.rab / np.sqrt(self.raa * self.rbb))


def table1_scores(
    vertices,
    faces,
    atlas: UVAtlas,
    sample: int | None = 2000,
    seed: int = 0,
    copy: str = "last",
    chunk: int = 256,
    body_name: str = "",
) -> Table1Scores:
    """S1 and S2 of an atlas on a mesh (Table 1).

    Args:
        vertices: (V, 3) rest mesh (numpy or torch), metres. faces: (F, 3) int.
        atlas: the atlas (its ``vt_to_v[faces_uv]`` must equal ``faces``).
        sample: score a random subset of this many vertices (None or >= V: all vertices). The
            geodesics of the subset still run on the full mesh.
        seed: the subset's seed.
        copy: which UV copy stands for a seam vertex, one of :data:`COPY_MODES`.
        chunk: source vertices per Dijkstra batch (memory ~ chunk * V * 8 bytes).
        body_name: label for the result.

    Returns:
        Table1Scores.

    Example:
        >>> import numpy as np
        >>> v = np.array([[0., 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
        >>> f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
        >>> atlas = UVAtlas("t", v[:, :2] * 0.5 + 0.25, f, np.arange(4), 4)
        >>> r = table1_scores(v, f, atlas, sample=None)
        >>> round(r.s1, 3), round(r.s2, 3)
        (0.807, 0.929)
    """
    vertices = np.asarray(vertices.detach().cpu() if hasattr(vertices, "detach") else vertices, dtype=np.float64)
    faces = np.asarray(faces.detach().cpu() if hasattr(faces, "detach") else faces, dtype=np.int64)
    vertices, faces, _ = check_mesh_arrays(vertices, faces)
    if copy not in COPY_MODES:
        raise ValueError(f"copy: expected one of {COPY_MODES}, received {copy!r}")
    if atlas.num_vertices != len(vertices) or not np.array_equal(atlas.mesh_faces().numpy(), faces):
        raise ValueError("atlas: does not match the mesh (vt_to_v[faces_uv] != faces)")
    t0 = time.perf_counter()
    v = len(vertices)
    if sample is None or sample >= v:
        idx = np.arange(v)
    else:
        if sample < 2:
            raise ValueError(f"sample: expected None or an int >= 2, received {sample}")
        idx = np.sort(np.random.default_rng(seed).choice(v, size=int(sample), replace=False))
    graph = edge_length_graph(vertices, faces)
    mom = _Moments()
    for s in range(0, len(idx), chunk):
        src = idx[s : s + chunk]
        a = dijkstra(graph, directed=False, indices=src)[:, idx]  # (S, N)
        b = uv_distances(atlas, src, idx, copy)  # (S, N)
        mom.add(a, b)
    s1, s2 = mom.scores()
    return Table1Scores(atlas.name, body_name, s1, s2, len(idx), len(idx) < v, seed, copy, time.perf_counter() - t0)


def write_table1(results: list[Table1Scores], path: str | Path | None = None) -> Path:
    """Write ``figures/table1.md``: our rows beside the paper's SMPL rows.

    Args:
        results: scores (any bodies/atlases; full and subsampled rows both allowed).
        path: output file (default ``figures/table1.md``).

    Returns:
        the path written.
    """
    path = Path(path) if path is not None else figures_dir() / "table1.md"
    lines = [
        "# Table 1 — distance-matrix similarity between the mesh surface and its UV map",
        "",
        "A: graph shortest-path distances along mesh edges; B: Euclidean UV distances.",
        "S1: 2D correlation coefficient (Eq. 2); S2: normalised cosine similarity.",
        "",
        "| body | UV map | S1 | S2 | vertices scored | UV copy on seams | source |",
        "|---|---|---|---|---|---|---|",
        f"| SMPL (6890 v.) | default | {PAPER_TABLE1['default'][0]:.4f} | {PAPER_TABLE1['default'][1]:.4f} | all | ? | paper |",
        f"| SMPL (6890 v.) | continuous | {PAPER_TABLE1['continuous'][0]:.4f} | {PAPER_TABLE1['continuous'][1]:.4f} | all | ? | paper |",
    ]
    for r in results:
        scored = f"{r.num_vertices} (random, seed {r.seed})" if r.subsampled else f"all {r.num_vertices}"
        lines.append(f"| {r.body} | {r.atlas} | {r.s1:.4f} | {r.s2:.4f} | {scored} | {r.copy} | ours ({r.seconds:.1f} s) |")
    lines += [
        "",
        "Seam vertices have several UV copies; `last` keeps the highest-index copy (what "
        "`uv_v[vt2v] = texcoords` gives with the official `vt2v`), `min` the closest pair of copies.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path
