"""decomr.uv.metrics: Table 1's S1 (Eq. 2) and S2 against independent computations."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import floyd_warshall

from decomr.uv.atlas import UVAtlas
from decomr.uv.metrics import PAPER_TABLE1, scores_from_matrices, table1_scores, uv_distances, write_table1


def _grid(n: int = 6, seam: bool = False):
    """A bumpy n x n vertex grid surface; its UV is the flat (x, y) layout, optionally with the
    middle column of vertices duplicated (a cut between the left and right halves)."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    xy = np.stack([j.ravel(), i.ravel()], 1) / (n - 1)
    z = 0.15 * np.sin(3 * xy[:, 0]) * np.cos(2 * xy[:, 1])
    v = np.concatenate([xy, z[:, None]], 1)
    f = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            f += [[a, b, e], [a, e, d]]
    f = np.array(f)
    uv = 0.1 + 0.8 * xy
    fuv = f.copy()
    vt_to_v = np.arange(n * n)
    if seam:  # faces right of the middle column use copies of its vertices, shifted right
        mid = n // 2
        col = np.arange(n) * n + mid
        copies = n * n + np.arange(n)
        right = (xy[f].mean(1)[:, 0] > mid / (n - 1))
        for k, c in zip(col, copies):
            fuv[right & (f == k).any(1)] = np.where(f[right & (f == k).any(1)] == k, c, fuv[right & (f == k).any(1)])
        uv = np.concatenate([uv, uv[col] + [0.05, 0.0]])
        uv = uv / uv.max() * 0.95
        vt_to_v = np.concatenate([vt_to_v, col])
    return v, f, UVAtlas("grid", uv, fuv, vt_to_v, n * n)


def _reference(v, f, uv_v):
    """Full matrices the slow way: Floyd-Warshall on a dense edge graph, scipy-free Pearson."""
    n = len(v)
    w = np.full((n, n), np.inf)
    for tri in f:
        for a, b in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0])):
            w[a, b] = w[b, a] = np.linalg.norm(v[a] - v[b])
    w[np.isinf(w)] = 0
    a = floyd_warshall(csr_matrix(w), directed=False)
    b = np.sqrt(((uv_v[:, None] - uv_v[None]) ** 2).sum(-1))
    s1 = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    s2 = (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())
    return a, b, s1, s2


def test_scores_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.random((20, 20))
    assert scores_from_matrices(a, 3 * a) == pytest.approx((1.0, 1.0))
    assert scores_from_matrices(a, 5 - a)[0] == pytest.approx(-1.0)
    s1, s2 = scores_from_matrices(a, a + 10)  # a shift keeps S1, not S2
    assert s1 == pytest.approx(1.0) and s2 < 1.0


@pytest.mark.parametrize("chunk", [1, 7, 256])
def test_full_scores_match_reference(chunk):
    v, f, atlas = _grid(6)
    ref = _reference(v, f, atlas.uv.numpy().astype(np.float64))
    r = table1_scores(v, f, atlas, sample=None, chunk=chunk)
    assert not r.subsampled and r.num_vertices == 36
    assert r.s1 == pytest.approx(ref[2], abs=1e-6)
    assert r.s2 == pytest.approx(ref[3], abs=1e-6)


def test_subsample_is_a_submatrix():
    v, f, atlas = _grid(7)
    a, b, _, _ = _reference(v, f, atlas.uv.numpy().astype(np.float64))
    r = table1_scores(v, f, atlas, sample=20, seed=3)
    idx = np.sort(np.random.default_rng(3).choice(49, size=20, replace=False))
    s1, s2 = scores_from_matrices(a[np.ix_(idx, idx)], b[np.ix_(idx, idx)])
    assert r.subsampled and r.num_vertices == 20
    assert (r.s1, r.s2) == pytest.approx((s1, s2), abs=1e-6)


def test_seam_copies():
    v, f, atlas = _grid(6, seam=True)
    uv = atlas.uv.numpy().astype(np.float64)
    vt_to_v = atlas.vt_to_v.numpy()
    idx = np.arange(36)
    # Brute force over copies.
    brute = np.array([[min(np.linalg.norm(uv[p] - uv[q]) for p in np.flatnonzero(vt_to_v == m) for q in np.flatnonzero(vt_to_v == n))
                       for n in idx] for m in idx])
    assert np.allclose(uv_distances(atlas, idx, idx, "min"), brute)
    first = uv[[np.flatnonzero(vt_to_v == m)[0] for m in idx]]
    last = uv[[np.flatnonzero(vt_to_v == m)[-1] for m in idx]]
    assert np.allclose(uv_distances(atlas, idx, idx, "first"), np.linalg.norm(first[:, None] - first[None], axis=-1))
    assert np.allclose(uv_distances(atlas, idx, idx, "last"), np.linalg.norm(last[:, None] - last[None], axis=-1))
    ref = _reference(v, f, last)
    r = table1_scores(v, f, atlas, sample=None, copy="last")
    assert (r.s1, r.s2) == pytest.approx(ref[2:], abs=1e-6)


def test_bad_input():
    v, f, atlas = _grid(5)
    with pytest.raises(ValueError, match="copy"):
        table1_scores(v, f, atlas, copy="mean")
    with pytest.raises(ValueError, match="sample"):
        table1_scores(v, f, atlas, sample=1)
    with pytest.raises(ValueError, match="atlas"):
        table1_scores(v, f[:, ::-1], atlas)
    with pytest.raises(ValueError, match="vertices"):
        table1_scores(v[:, :2], f, atlas)


def test_write_table1(tmp_path):
    v, f, atlas = _grid(5)
    r = table1_scores(v, f, atlas, sample=None, body_name="grid")
    p = write_table1([r], tmp_path / "t.md")
    text = p.read_text()
    assert f"{PAPER_TABLE1['default'][0]:.4f}" in text and f"{PAPER_TABLE1['continuous'][1]:.4f}" in text
    assert f"| grid | grid | {r.s1:.4f} | {r.s2:.4f} |" in text


def test_anny_continuous_beats_default(anny_body):
    from decomr.uv import load_atlas

    scores = {n: table1_scores(anny_body.template, anny_body.faces, load_atlas(anny_body, n), sample=300, seed=0) for n in ("continuous", "default")}
    assert scores["continuous"].s1 > scores["default"].s1 + 0.4
    assert scores["continuous"].s2 > scores["default"].s2
