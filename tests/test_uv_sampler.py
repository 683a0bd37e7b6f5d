"""decomr.uv.raster / sampler / maps / roundtrip: mesh <-> UV map transfers (Eq. 3)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from decomr.uv.atlas import UVAtlas
from decomr.uv.raster import barycentric, rasterize_uv
from decomr.uv.sampler import UVSampler
from tests.helpers import assert_close


def _grid_atlas(n: int = 5, lo: float = 0.1, hi: float = 0.9) -> UVAtlas:
    """An n x n vertex grid laid flat in [lo, hi]^2 (mesh vertex k = grid point k)."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    uv = lo + (hi - lo) * np.stack([j.ravel(), i.ravel()], 1) / (n - 1)
    f = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            f += [[a, b, e], [a, e, d]] if (r + c) % 2 else [[a, b, d], [b, e, d]]
    return UVAtlas("grid", uv, np.array(f), np.arange(n * n), n * n)


def _naive_raster(uv, faces, r):
    """Per pixel, per face barycentric test (slow reference)."""
    face = -np.ones((r, r), int)
    score = np.full((r, r), -np.inf)
    for i in range(r):
        for j in range(r):
            p = np.array([j, i]) / (r - 1)
            for k, t in enumerate(faces):
                w = barycentric(p, uv[t[0]], uv[t[1]], uv[t[2]])
                if w.min() >= -1e-9 and w.min() > score[i, j]:
                    face[i, j], score[i, j] = k, w.min()
    return face


# ----------------------------------------------------------------------------- raster
def test_raster_matches_naive_loop():
    rng = np.random.default_rng(0)
    atlas = _grid_atlas(4)
    uv = atlas.uv.numpy().astype(np.float64) + rng.normal(0, 0.02, (16, 2))  # irregular, still valid
    uv = np.clip(uv, 0, 1)
    f = atlas.faces_uv.numpy()
    for r in (7, 12):
        assert np.array_equal(rasterize_uv(uv, f, r).face_idx, _naive_raster(uv, f, r))
    ras = rasterize_uv(uv, f, 12)
    m = ras.mask
    # Barycentrics reproduce the pixel centres.
    centres = np.stack(np.meshgrid(np.arange(12), np.arange(12), indexing="xy"), -1) / 11.0
    rec = (ras.bary[..., None] * uv[f[ras.face_idx]]).sum(-2)
    assert_close(rec[m], centres[m], atol=1e-12)


def test_raster_bad_input():
    with pytest.raises(ValueError, match="uv"):
        rasterize_uv(np.zeros((3, 3)), np.array([[0, 1, 2]]), 8)
    with pytest.raises(ValueError, match="resolution"):
        rasterize_uv(np.zeros((3, 2)), np.array([[0, 1, 2]]), 1)


# ----------------------------------------------------------------------------- sampler
@pytest.mark.parametrize("resolution", [8, 17, 64])
def test_linear_field_is_reproduced(resolution):
    atlas = _grid_atlas(5)
    s = UVSampler(atlas, resolution)
    uv = atlas.uv.double()
    a, b, c = 0.7, -1.3, 0.25
    vals = (a * uv[:, 0] + b * uv[:, 1] + c).float()[None, :, None]  # (1, V, 1)
    m = s.mesh_to_map(vals)[0, 0]
    t = torch.arange(resolution, dtype=torch.float64) / (resolution - 1)
    expect = a * t[None, :] + b * t[:, None] + c  # pixel (i, j): u = j/(R-1), v = i/(R-1)
    assert_close(m[s.mask], expect[s.mask], atol=2e-6)  # covered pixels and extrapolated padding
    assert (m[~s.mask] == 0).all()
    assert_close(s.map_to_mesh(s.mesh_to_map(vals)), vals, atol=2e-6)  # Eq. 3 round trip exact
    pts = torch.rand(1, 50, 2, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2  # stencils inside the mask
    assert_close(s.sample(s.mesh_to_map(vals), pts)[0, :, 0], a * pts[0, :, 0] + b * pts[0, :, 1] + c, atol=2e-6)


def test_other_convention_shifts_by_half_a_pixel():
    """align_corners=False reads pixel (u R - 1/2), i.e. at u' = (u R - 1/2) / (R - 1)."""
    atlas = _grid_atlas(5, 0.3, 0.7)
    r = 16
    good, bad = UVSampler(atlas, r), UVSampler(atlas, r, align_corners=False)
    uv = atlas.uv.double()
    vals = (2.0 * uv[:, 0] + 0.5 * uv[:, 1]).float()[None, :, None]
    shifted = (uv * r - 0.5) / (r - 1)
    expect = 2.0 * shifted[:, 0] + 0.5 * shifted[:, 1]
    assert_close(bad.map_to_mesh(good.mesh_to_map(vals))[0, :, 0], expect, atol=2e-6)
    err_good = (good.map_to_mesh(good.mesh_to_map(vals)) - vals).abs().max()
    err_bad = (bad.map_to_mesh(bad.mesh_to_map(vals)) - vals).abs().max()
    assert err_good < 1e-5 < err_bad


def _cut_atlas() -> UVAtlas:
    """Two triangles sharing mesh vertices 1 and 2, cut apart in UV (4 mesh, 6 UV vertices)."""
    uv = [[0.1, 0.1], [0.4, 0.1], [0.1, 0.4], [0.9, 0.9], [0.6, 0.9], [0.9, 0.6]]
    return UVAtlas("cut", uv, [[0, 1, 2], [3, 5, 4]], [0, 1, 2, 3, 1, 2], 4)


def test_seam_copies_are_averaged():
    atlas = _cut_atlas()
    s = UVSampler(atlas, 32)
    maps = torch.zeros(1, 1, 32, 32)
    maps[..., :16, :] = 1.0  # top half 1, bottom half 0: copies of vertices 1, 2 disagree
    out = s.map_to_mesh(maps)[0, :, 0]
    vt = s.sample(maps, atlas.uv[None])[0, :, 0]
    assert_close(out, torch.stack([vt[0], (vt[1] + vt[4]) / 2, (vt[2] + vt[5]) / 2, vt[3]]))
    assert s._average_rows.tolist() == [0, 1, 3, 5, 6]


def test_padding_modes():
    atlas = _grid_atlas(4, 0.1, 0.9)
    none = UVSampler(atlas, 10, padding="none")
    assert torch.equal(none.mask, none.coverage)
    near = UVSampler(atlas, 10, padding="nearest")
    ext = UVSampler(atlas, 10)
    assert near.mask.sum() >= near.coverage.sum() and torch.equal(near.mask, ext.mask)
    with pytest.raises(ValueError, match="padding"):
        UVSampler(atlas, 10, padding="zeros")


@pytest.mark.parametrize("atlas", [_grid_atlas(5), _cut_atlas()], ids=["grid", "cut"])
def test_sparse_and_dense_paths_agree(atlas):
    s = UVSampler(atlas, 12)
    vals = torch.randn(3, atlas.num_vertices, 4)
    maps = torch.randn(3, 4, 12, 12)
    sparse = (s.mesh_to_map(vals), s.map_to_mesh(maps))
    s.use_sparse = False
    dense = (s.mesh_to_map(vals), s.map_to_mesh(maps))
    for a, b in zip(sparse, dense):
        assert_close(a, b, atol=1e-6)
    # The dense path reproduces a naive per-pixel loop.
    pv, pw = s.pixel_vertex.numpy(), s.pixel_weight.numpy()
    naive = torch.zeros(3, 4, 12 * 12)
    for p in range(12 * 12):
        for k in range(3):
            naive[:, :, p] += pw[p, k] * vals[:, pv[p, k]]
    assert_close(dense[0].reshape(3, 4, -1), naive, atol=1e-6)


def test_gradcheck():
    atlas = _grid_atlas(3)
    s = UVSampler(atlas, 6).double()
    vals = torch.randn(2, 9, 2, dtype=torch.float64, requires_grad=True)
    maps = torch.randn(2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    for sparse in (True, False):
        s.use_sparse = sparse
        assert torch.autograd.gradcheck(s.mesh_to_map, (vals,))
        assert torch.autograd.gradcheck(s.map_to_mesh, (maps,))
    pts = torch.rand(2, 5, 2, dtype=torch.float64) * 0.8 + 0.1
    assert torch.autograd.gradcheck(lambda m: s.sample(m, pts), (maps,))


def test_shapes_and_bad_input():
    atlas = _grid_atlas(3)
    s = UVSampler(atlas, 8)
    assert s.mesh_to_map(torch.zeros(4, 9, 5)).shape == (4, 5, 8, 8)
    assert s.map_to_mesh(torch.zeros(4, 5, 8, 8)).shape == (4, 9, 5)
    assert s.sample(torch.zeros(4, 5, 8, 8), torch.zeros(4, 7, 2)).shape == (4, 7, 5)
    with pytest.raises(ValueError, match="values"):
        s.mesh_to_map(torch.zeros(9, 3))
    with pytest.raises(ValueError, match="values"):
        s.mesh_to_map(torch.zeros(1, 8, 3))
    with pytest.raises(ValueError, match="maps"):
        s.map_to_mesh(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="uv"):
        s.sample(torch.zeros(2, 3, 8, 8), torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="atlas"):
        UVSampler("not an atlas", 8)
    with pytest.raises(ValueError, match="resolution"):
        UVSampler(atlas, 1)


def test_device(device):
    atlas = _grid_atlas(4)
    s = UVSampler(atlas, 16)
    vals = torch.randn(3, 16, 3)
    ref = s.map_to_mesh(s.mesh_to_map(vals))
    s2 = UVSampler(atlas, 16).to(device)
    out = s2.map_to_mesh(s2.mesh_to_map(vals.to(device)))
    assert out.device.type == device.type
    assert_close(out.cpu(), ref, atol=1e-5)


# ----------------------------------------------------------------------------- Anny
@pytest.fixture(scope="module")
def anny_continuous(anny_body):
    from decomr.uv import load_atlas

    return load_atlas(anny_body, "continuous")


def test_round_trip_bound_on_posed_bodies(anny_body, anny_continuous):
    from decomr.uv.roundtrip import round_trip_errors

    (good, bad) = round_trip_errors(anny_body, anny_continuous, resolutions=(128,), n=2, seed=0)
    assert good.align_corners and not bad.align_corners
    assert good.mean_mm < 6.0  # measured ~4.4 mm on Anny's 13k vertices at R = 128
    assert bad.mean_mm > 1.5 * good.mean_mm


def test_seam_aware_reads_do_not_cross_slits(anny_body, anny_continuous):
    """With the template as reference, Eq. 3 stops reading across slits of the chart."""
    from decomr.uv import body_sampler
    from decomr.uv.roundtrip import posed_bodies

    verts = posed_bodies(anny_body, 3, seed=1)
    plain, aware = UVSampler(anny_continuous, 128), body_sampler(anny_body, anny_continuous, 128)
    assert aware.seam_aware and not plain.seam_aware
    maps = plain.mesh_to_map(verts)
    e_plain = (plain.map_to_mesh(maps) - verts).norm(dim=-1)
    e_aware = (aware.map_to_mesh(maps) - verts).norm(dim=-1)
    assert float(e_aware.max()) < 0.5 * float(e_plain.max())
    assert float(e_aware.mean()) <= float(e_plain.mean()) + 1e-4
    # Rows of the read matrix are convex combinations: constants are reproduced exactly.
    const = torch.full((1, 3, 128, 128), 0.7)
    assert_close(aware.map_to_mesh(const), torch.full((1, anny_body.num_vertices, 3), 0.7), atol=1e-5)
    # The dense (export) path equals the sparse one, and gradients flow to the map.
    aware.use_sparse = False
    dense = aware.map_to_mesh(maps)
    aware.use_sparse = True
    assert_close(dense, aware.map_to_mesh(maps), atol=1e-6)
    m = maps[:1].clone().requires_grad_(True)
    aware.map_to_mesh(m).sum().backward()
    assert m.grad is not None and float(m.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="reference"):
        UVSampler(anny_continuous, 32, reference=torch.zeros(5, 3))


def test_weight_map(anny_body, anny_continuous):
    from decomr.uv import UVSampler as S
    from decomr.uv.maps import weight_map

    w = weight_map(anny_body, anny_continuous, 64)
    mask = S(anny_continuous, 64).mask
    assert w.shape == (64, 64)
    assert_close(w.mean(), 1.0, atol=1e-5)  # mean 1 over the whole square, as the official code
    assert (w[~mask] == 0).all()
    levels = torch.unique(w[mask])
    assert len(levels) == 4
    assert_close(levels / levels[0], torch.tensor([1.0, 2.0, 5.0, 25.0]), atol=1e-5)


def test_uniform_error_costs_the_same_on_both_atlases(anny_body, anny_continuous):
    """Eq. 6 with the official normalisation: a uniform 1 cm error gives L_map = 1 cm on any atlas,
    although the continuous and the default atlas cover different shares of the square."""
    from decomr.losses import location_map_loss
    from decomr.uv import load_atlas
    from decomr.uv.maps import weight_map

    default = load_atlas(anny_body, "default")
    coverage = []
    for atlas in (anny_continuous, default):
        sampler = UVSampler(atlas, 64)
        w = weight_map(anny_body, atlas, 64)
        gt = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * sampler.mask
        pred = gt + 0.01 * sampler.mask  # 1 cm on every channel of every pixel inside the atlas
        assert_close(location_map_loss(pred, gt, w), 0.01, atol=1e-7)
        coverage.append(float(sampler.mask.float().mean()))
    assert abs(coverage[0] - coverage[1]) > 0.2  # the two atlases cover the square very differently


def test_reference_location_map(anny_body, anny_continuous):
    from decomr.uv.maps import reference_location_map

    r = 128
    ref = reference_location_map(anny_body, anny_continuous, r)
    s = UVSampler(anny_continuous, r)
    assert ref.shape == (3, r, r) and (ref[:, ~s.mask] == 0).all()
    out = anny_body()
    expect = (out.vertices[0] - out.joints[0, 0]) * torch.tensor([1.0, -1.0, -1.0])  # camera frame
    rec = s.map_to_mesh(ref[None])[0]
    assert (rec - expect).norm(dim=-1).mean() < 6e-3
    top = anny_body.template[:, 1].argmax()
    assert rec[top, 1] < -0.5  # the head is up, i.e. at negative y in the camera frame
