"""decomr.uv.atlas / store / seams / build / checks: the continuous UV map (Sec. 3.1) and its files."""
from __future__ import annotations

import copy

import subprocess
import sys

import numpy as np
import pytest
import torch

from decomr.uv import checks
from decomr.uv.atlas import StaleAtlasError, UVAtlas, atlas_report, default_atlas
from decomr.uv.build import AtlasValidationError, BuildConfig, build_continuous_atlas, build_continuous_atlas_stages, cut_to_disk
from decomr.uv.seams import mesh_edges, symmetric_seam_tree, symmetric_sphere
from decomr.uv.store import load_atlas
from tests.helpers import assert_close


def _sphere(n_lat: int = 10, n_lon: int = 16):
    return symmetric_sphere(n_lat, n_lon)


class _FakeBody:
    """The few BodyModel attributes load_atlas needs, on a small sphere."""

    def __init__(self, hash_="h1"):
        v, f, m = _sphere(6, 10)
        self.name = "sphere"
        self.template = torch.as_tensor(v, dtype=torch.float32)
        self.faces = torch.as_tensor(f)
        self.mirror_map = torch.as_tensor(m)
        self.num_vertices, self.num_faces = len(v), len(f)
        self._hash = hash_

    def mesh_hash(self):
        return self._hash


@pytest.fixture(scope="module")
def sphere_build():
    v, f, m = _sphere()
    return v, f, m, build_continuous_atlas_stages(v, f, m, BuildConfig(slim_iterations=30, snapshot_every=10))


# ----------------------------------------------------------------------------- seam tree
def test_seam_is_a_symmetric_tree(sphere_build):
    v, f, m, b = sphere_build
    seam = b.seam
    assert len(seam.edges) == len(seam.vertices) - 1  # a connected tree (checked inside too)
    mirrored = np.unique(np.sort(m[seam.edges], axis=1), axis=0)
    assert np.array_equal(mirrored, seam.edges)
    edges = {tuple(e) for e in mesh_edges(f).tolist()}
    assert all(tuple(e) in edges for e in seam.edges.tolist())
    assert (v[seam.terminals, 0] > 0).all() and (v[seam.mirrored_terminals, 0] < 0).all()


def test_seam_bad_input():
    v, f, m = _sphere(4, 8)
    with pytest.raises(ValueError, match="vertices"):
        symmetric_seam_tree(v[:, :2], f, m)
    with pytest.raises(ValueError, match="faces"):
        symmetric_seam_tree(v, f[:, :2], m)
    bad = m.copy()
    bad[0] = bad[1]
    with pytest.raises(ValueError, match="mirror_map"):
        symmetric_seam_tree(v, f, bad)
    with pytest.raises(ValueError, match="terminals"):
        symmetric_seam_tree(v, f, m, terminals=np.array([int(np.argmin(v[:, 0]))]))


def test_cut_along_a_cycle_is_rejected():
    v, f, m = _sphere(6, 10)
    mid = np.flatnonzero(m == np.arange(len(v)))  # the x = 0 great circle: a closed loop
    e = mesh_edges(f)
    loop = e[np.isin(e[:, 0], mid) & np.isin(e[:, 1], mid)]
    with pytest.raises(AtlasValidationError, match="boundary loops"):
        cut_to_disk(v, f, loop)


# ----------------------------------------------------------------------------- build
def test_build_gives_one_flip_free_symmetric_chart(sphere_build):
    v, f, m, b = sphere_build
    a = b.atlas
    s = a.stats
    assert (s.num_charts, s.num_flipped, s.num_boundary_loops, s.boundary_is_simple) == (1, 0, 1, True)
    assert np.array_equal(a.mesh_faces().numpy(), f)  # same face order and corners as the mesh
    uv = a.uv.numpy()
    assert uv.min() >= 0 and uv.max() <= 1
    # Independent re-check of the geometry.
    assert len(checks.flipped_faces(uv, a.faces_uv.numpy())) == 0
    assert len(checks.boundary_loops(a.faces_uv.numpy())) == 1
    # Mirror pairs: (u, v) <-> (1 - u, v), and the UV mirror covers the mesh mirror.
    mir = a.uv_mirror.numpy()
    assert_close(uv[mir, 0], 1.0 - uv[:, 0], atol=1e-6)
    assert_close(uv[mir, 1], uv[:, 1], atol=1e-7)
    assert np.array_equal(a.vt_to_v.numpy()[mir], m[a.vt_to_v.numpy()])
    assert s.symmetry_error_max < 1e-6
    # Body's left (x > 0) at u > 0.5; top (y max) at small v.
    x = v[a.vt_to_v.numpy(), 0]
    assert uv[x > 1e-6, 0].min() >= 0.5 and uv[x < -1e-6, 0].max() <= 0.5
    assert np.corrcoef(uv[:, 1], v[a.vt_to_v.numpy(), 1])[0, 1] < 0


def test_build_stages_and_determinism(sphere_build):
    v, f, m, b = sphere_build
    assert [s.iteration for s in b.snapshots][0] == 0
    assert b.disk_uv.shape == (b.atlas.num_uv, 2)
    assert_close(np.linalg.norm(b.disk_uv, axis=1).max(), 1.0, atol=1e-9)  # Tutte: unit disk
    again = build_continuous_atlas(v, f, m, BuildConfig(slim_iterations=30))
    assert torch.equal(again.uv, b.atlas.uv) and torch.equal(again.faces_uv, b.atlas.faces_uv)


def test_build_config_errors():
    with pytest.raises(ValueError, match="slim_iterations"):
        BuildConfig(slim_iterations=-1)
    with pytest.raises(ValueError, match="margin"):
        BuildConfig(margin=0.7)


# ----------------------------------------------------------------------------- files
def test_save_load_roundtrip(sphere_build, tmp_path):
    a = sphere_build[3].atlas
    p = a.save(tmp_path / "a.npz")
    b = UVAtlas.load(p)
    for name in ("uv", "faces_uv", "vt_to_v", "uv_mirror"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert b.stats == a.stats and b.num_vertices == a.num_vertices and b.name == a.name
    with pytest.raises(StaleAtlasError):
        UVAtlas.load(p, expected_hash="not-the-hash")


def test_load_atlas_builds_caches_and_detects_stale(tmp_path):
    body = _FakeBody("h1")
    path = tmp_path / "sphere_continuous.npz"
    with pytest.raises(FileNotFoundError):
        load_atlas(body, "continuous", rebuild=False, path=path)
    a = load_atlas(body, "continuous", path=path)
    assert path.exists() and a.mesh_hash == "h1"
    stamp = path.stat().st_mtime_ns
    assert torch.equal(load_atlas(body, "continuous", path=path).uv, a.uv)
    assert path.stat().st_mtime_ns == stamp  # served from the cache
    body._hash = "h2"  # the mesh changed
    with pytest.raises(StaleAtlasError, match="h1"):
        load_atlas(body, "continuous", rebuild=False, path=path)
    with pytest.warns(UserWarning, match="rebuilding"):
        b = load_atlas(body, "continuous", path=path)
    assert b.mesh_hash == "h2" and UVAtlas.load(path).mesh_hash == "h2"
    with pytest.raises(ValueError, match="name"):
        load_atlas(body, "bogus", path=path)


def test_seam_aware_reads_come_from_the_atlas_template_not_the_machines(anny_body, anny_atlases):
    """The body's template differs by float noise between machines (~1e-5 m); the seam-aware read
    table is built from the atlas's stored template, so it is the same everywhere."""
    from decomr.uv.sampler import UVSampler, body_sampler

    anny_continuous = anny_atlases[0]
    assert anny_continuous.template is not None
    noisy = copy.deepcopy(anny_body)
    noisy.template = noisy.template + torch.randn(noisy.template.shape, generator=torch.Generator().manual_seed(0)) * 1e-5
    a, b = body_sampler(anny_body, anny_continuous, 64), body_sampler(noisy, anny_continuous, 64)
    assert torch.equal(a.read_table, b.read_table) and torch.equal(a.read_weight, b.read_weight)
    direct = UVSampler(anny_continuous, 64, reference=noisy.template)  # the machine's own template: differs
    assert not (torch.equal(direct.read_table, a.read_table) and torch.equal(direct.read_weight, a.read_weight))


def test_load_atlas_tolerates_float_noise_but_not_a_moved_template(tmp_path):
    from decomr.uv.atlas import PROBE_TOLERANCE

    body = _FakeBody("h1")
    path = tmp_path / "sphere_continuous.npz"
    a = load_atlas(body, "continuous", path=path)
    assert a.template is not None and UVAtlas.load(path).template.shape == (body.num_vertices, 3)
    body.template = body.template + 1e-5  # float noise (another machine): same atlas, no rebuild
    stamp = path.stat().st_mtime_ns
    assert torch.equal(load_atlas(body, "continuous", path=path, rebuild=False).uv, a.uv)
    assert path.stat().st_mtime_ns == stamp
    body.template = body.template + 3 * PROBE_TOLERANCE  # the geometry really moved
    with pytest.raises(StaleAtlasError, match="mm"):
        load_atlas(body, "continuous", path=path, rebuild=False)


def test_loading_does_not_import_libigl(sphere_build, tmp_path):
    p = sphere_build[3].atlas.save(tmp_path / "a.npz")
    code = f"import sys; from decomr.uv import UVAtlas, UVSampler; a = UVAtlas.load({str(p)!r}); UVSampler(a, 16); assert 'igl' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_atlas_bad_input():
    with pytest.raises(ValueError, match="uv"):
        UVAtlas("x", [[0.0, 0.0], [1.5, 0.0], [0.0, 1.0]], [[0, 1, 2]], [0, 1, 2], 3)
    with pytest.raises(ValueError, match="faces_uv"):
        UVAtlas("x", [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [[0, 1]], [0, 1, 2], 3)
    with pytest.raises(ValueError, match="vt_to_v"):
        UVAtlas("x", [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [[0, 1, 2]], [0, 1], 3)


# ----------------------------------------------------------------------------- checks
def test_checks_against_hand_made_cases():
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    f = np.array([[0, 1, 2], [1, 3, 2]])
    assert [len(lp) for lp in checks.boundary_loops(f)] == [4]
    assert len(checks.flipped_faces(uv, f)) == 0
    assert len(checks.flipped_faces(uv, np.array([[0, 1, 2], [1, 2, 3]]))) == 1  # second one folded
    assert checks.chart_labels(np.array([[0, 1, 2], [3, 4, 5]])).tolist() == [0, 1]
    bowtie = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert checks.boundary_self_intersections(bowtie, np.arange(4)) == 1
    assert checks.boundary_self_intersections(uv, np.array([0, 1, 3, 2])) == 0


# ----------------------------------------------------------------------------- Anny
@pytest.fixture(scope="module")
def anny_atlases(anny_body):
    return load_atlas(anny_body, "continuous"), load_atlas(anny_body, "default")


def test_anny_continuous_atlas_is_valid(anny_body, anny_atlases):
    a, _ = anny_atlases
    s = atlas_report(a, anny_body.template, anny_body.faces)  # recomputed, not the stored stats
    assert (s.num_charts, s.num_flipped, s.num_boundary_loops, s.boundary_is_simple) == (1, 0, 1, True)
    assert s.symmetry_error_max < 1e-6
    assert 0.0 < s.duplicated_fraction < 0.15
    assert a.mesh_hash == anny_body.mesh_hash() and a.num_vertices == anny_body.num_vertices


def test_anny_default_atlas(anny_body, anny_atlases):
    _, d = anny_atlases
    assert d.stats.num_charts > 1
    assert np.array_equal(d.mesh_faces().numpy(), anny_body.faces.numpy())
    fresh = default_atlas(anny_body)
    assert torch.equal(fresh.uv, d.uv)


def test_build_uv_cli(anny_atlases, capsys):
    from decomr.cli.uv import build_uv_main

    assert build_uv_main(["--", "--atlas", "default", "continuous", "--sample", "100"]) == 0
    out = capsys.readouterr().out
    assert "anny / continuous" in out and "num_charts: 1" in out and out.count("Table 1 (100 vertices") == 2
    with pytest.raises(SystemExit):
        build_uv_main(["--atlas", "bogus"])
