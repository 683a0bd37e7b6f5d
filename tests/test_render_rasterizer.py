"""Tests for decomr.render.rasterizer: coverage, watertightness, z-order, interpolation, references."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.path import Path
from scipy.spatial import Delaunay

from decomr.render import Fragments, interpolate_face_attrs, interpolate_vertex_attrs, rasterize
from tests.helpers import assert_close


def pixel_centres(height: int, width: int) -> np.ndarray:
    """(H, W, 2) normalised (x, y) of the pixel centres (contract convention)."""
    x = (2 * np.arange(width) + 1) / width - 1
    y = (2 * np.arange(height) + 1) / height - 1
    return np.stack(np.meshgrid(x, y, indexing="xy"), axis=-1)


def naive_rasterize(verts: np.ndarray, faces: np.ndarray, height: int, width: int):
    """Per-pixel, per-face loop in float64 (strict inside test): face index and barycentrics."""
    centres = pixel_centres(height, width)
    face_idx = -np.ones((height, width), dtype=np.int64)
    bary = np.zeros((height, width, 3))
    zbuf = np.full((height, width), np.inf)
    for i in range(height):
        for j in range(width):
            p = centres[i, j]
            for f, (a, b, c) in enumerate(faces):
                m = np.array([[verts[a, 0] - verts[c, 0], verts[b, 0] - verts[c, 0]],
                              [verts[a, 1] - verts[c, 1], verts[b, 1] - verts[c, 1]]])
                if abs(np.linalg.det(m)) < 1e-14:
                    continue
                l0, l1 = np.linalg.solve(m, p - verts[c, :2])
                w = np.array([l0, l1, 1 - l0 - l1])
                if (w > 0).all():
                    z = w @ verts[[a, b, c], 2]
                    if z < zbuf[i, j]:
                        zbuf[i, j], face_idx[i, j], bary[i, j] = z, f, w
    return face_idx, bary, np.where(np.isinf(zbuf), 0.0, zbuf)


def icosphere_raster_verts(subdivisions: int = 2, seed: int = 0):
    """A randomly rotated icosphere (outward winding) as rasteriser vertices (x, y in [-0.8, 0.8])."""
    trimesh = pytest.importorskip("trimesh")
    from scipy.spatial.transform import Rotation

    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.8)
    rot = Rotation.random(random_state=seed).as_matrix()
    verts = mesh.vertices @ rot.T + np.array([0.0, 0.0, 3.0])
    return verts, np.asarray(mesh.faces)


def test_shapes_and_dtypes():
    verts = torch.rand(2, 5, 3) * 2 - 1
    faces = torch.tensor([[0, 1, 2], [2, 3, 4]])
    frags = rasterize(verts, faces, image_size=(7, 9))
    assert isinstance(frags, Fragments)
    assert frags.face_idx.shape == (2, 7, 9) and frags.face_idx.dtype == torch.long
    assert frags.bary.shape == (2, 7, 9, 3) and frags.bary.dtype == torch.float32
    assert frags.depth.shape == (2, 7, 9)
    assert frags.mask.dtype == torch.bool and frags.image_size == (7, 9)
    frags64 = rasterize(verts.double(), faces, image_size=8)
    assert frags64.bary.dtype == torch.float64 and frags64.face_idx.shape == (2, 8, 8)


@pytest.mark.parametrize("seed", range(5))
def test_single_triangle_coverage_matches_matplotlib(seed):
    rng = np.random.default_rng(seed)
    height, width = 23, 31
    tri = rng.uniform(-1.2, 1.2, size=(3, 2))
    verts = torch.tensor(np.c_[tri, np.ones(3)], dtype=torch.float32)[None]
    frags = rasterize(verts, torch.tensor([[0, 1, 2]]), (height, width))
    inside = Path(tri).contains_points(pixel_centres(height, width).reshape(-1, 2)).reshape(height, width)
    np.testing.assert_array_equal(frags.mask[0].numpy(), inside)


def test_matches_naive_loop_with_occlusion():
    rng = np.random.default_rng(3)
    height, width = 12, 14
    verts = np.c_[rng.uniform(-1.1, 1.1, size=(12, 2)), rng.uniform(1, 3, size=12)]
    faces = rng.permutation(12).reshape(4, 3)
    face_ref, bary_ref, depth_ref = naive_rasterize(verts, faces, height, width)
    frags = rasterize(torch.tensor(verts)[None], torch.tensor(faces), (height, width))
    np.testing.assert_array_equal(frags.face_idx[0].numpy(), face_ref)
    assert_close(frags.bary[0], bary_ref, atol=1e-9)
    assert_close(frags.depth[0], depth_ref, atol=1e-9)


def test_square_of_two_triangles_diagonal_through_pixel_centres():
    # Corners at pixel centres: the diagonal and the four sides pass through pixel centres.
    n = 16
    lo, hi = 1 / n - 1, 1 - 1 / n  # centres of the first and last pixel
    verts = torch.tensor([[[lo, lo, 1.0], [hi, lo, 1.0], [hi, hi, 1.0], [lo, hi, 1.0]]])
    for faces in (torch.tensor([[0, 1, 2], [0, 2, 3]]), torch.tensor([[0, 2, 1], [3, 2, 0]])):
        frags = rasterize(verts, faces, (n, n))
        alone = [rasterize(verts, faces[k : k + 1], (n, n)).mask[0] for k in range(2)]
        assert not (alone[0] & alone[1]).any(), "a pixel on the diagonal was drawn by both faces"
        union = alone[0] | alone[1]
        # Every pixel centre on the diagonal (i == j) inside the square is drawn exactly once.
        assert union.diagonal()[1:-1].all()
        # The union is the whole square minus, at most, one side on each axis (tie rule).
        assert union[1:-1, 1:-1].all()
        assert torch.equal(frags.mask[0], union)


@pytest.mark.parametrize("seed", range(3))
def test_watertight_delaunay_mesh_with_vertices_on_pixel_centres(seed):
    """Vertices on pixel centres: many centres lie on edges and vertices, each drawn once."""
    rng = np.random.default_rng(seed)
    size = 24
    pix = rng.choice(size * size, size=40, replace=False)
    pts_pix = np.c_[pix % size, pix // size].astype(np.float64)  # (col, row), centres at integers
    pts_pix = np.r_[pts_pix, [[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]]]
    tri = Delaunay(pts_pix)
    faces = tri.simplices.copy()
    flip = rng.random(len(faces)) < 0.5  # mixed windings: the rule does not depend on it
    faces[flip] = faces[flip][:, [0, 2, 1]]
    xy = (2 * pts_pix + 1) / size - 1
    verts = torch.tensor(np.c_[xy, np.ones(len(xy))], dtype=torch.float32)[None]
    faces_t = torch.tensor(faces)
    cover = torch.zeros(size, size, dtype=torch.long)
    for k in range(len(faces)):
        cover += rasterize(verts, faces_t[k : k + 1], (size, size)).mask[0].long()
    assert int(cover.max()) == 1, "some pixel centre is drawn by two faces"
    # Pixel centres strictly inside the square hull are all drawn (sides may go either way).
    assert bool((cover[1:-1, 1:-1] == 1).all()), "some interior pixel centre is dropped"
    assert torch.equal(rasterize(verts, faces_t, (size, size)).mask[0], cover.bool())


@pytest.mark.parametrize("depths", [(1.0, 2.0), (2.0, 1.0), (-2.0, -1.0), (-1.0, 0.5)])
def test_nearer_triangle_wins_regardless_of_face_order(depths):
    near = min(depths)
    tri = [[-0.8, -0.8], [0.8, -0.8], [0.0, 0.8]]
    verts = torch.tensor([[p + [depths[0]] for p in tri] + [p + [depths[1]] for p in tri]])
    for faces in (torch.tensor([[0, 1, 2], [3, 4, 5]]), torch.tensor([[3, 4, 5], [0, 1, 2]])):
        frags = rasterize(verts, faces, (16, 16))
        winner_verts = faces[frags.face_idx[frags.mask]][:, 0]
        assert bool((verts[0, winner_verts, 2] == near).all())
        assert_close(frags.depth[frags.mask], torch.full_like(frags.depth[frags.mask], near), atol=1e-6)


def test_intersecting_triangles_split_where_depths_cross():
    # A: constant depth 1.5; B: depth 1.5 + x / 2. Both cover the whole image.
    verts = torch.tensor([[[-3.0, -3.0, 1.5], [3.0, -3.0, 1.5], [0.0, 6.0, 1.5],
                           [-3.0, -3.0, 0.0], [3.0, -3.0, 3.0], [0.0, 6.0, 1.5]]])
    frags = rasterize(verts, torch.tensor([[0, 1, 2], [3, 4, 5]]), (10, 20))
    x = torch.tensor(pixel_centres(10, 20)[..., 0], dtype=torch.float32)
    expected = torch.where(1.5 + x / 2 < 1.5, 1, 0)
    assert torch.equal(frags.face_idx[0], expected)


def test_equal_depths_go_to_smaller_face_index():
    tri = [[-0.8, -0.8, 1.0], [0.8, -0.8, 1.0], [0.0, 0.8, 1.0]]
    verts = torch.tensor([tri + tri])
    frags = rasterize(verts, torch.tensor([[3, 4, 5], [0, 1, 2]]), (8, 8))
    assert bool((frags.face_idx[frags.mask] == 0).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_affine_barycentrics_reproduce_linear_functions(dtype):
    rng = np.random.default_rng(0)
    n = 6  # a jittered grid mesh over the image
    gx, gy = np.meshgrid(np.linspace(-1.2, 1.2, n), np.linspace(-1.2, 1.2, n))
    xy = np.c_[gx.ravel(), gy.ravel()] + rng.uniform(-0.1, 0.1, size=(n * n, 2))
    plane = np.array([0.3, -0.2, 2.0])  # depth z = 0.3 x - 0.2 y + 2 (one plane)
    z = xy @ plane[:2] + plane[2]
    faces = Delaunay(xy).simplices
    verts = torch.tensor(np.c_[xy, z], dtype=dtype)[None]
    coef = rng.normal(size=(3, 4))  # three linear functions a x + b y + c z + d
    attrs = torch.tensor(np.c_[xy, z, np.ones(n * n)] @ coef.T, dtype=dtype)[None]  # (1, V, 3)
    frags = rasterize(verts, torch.tensor(faces), (20, 24))
    assert frags.mask.all()
    centres = pixel_centres(20, 24)
    zc = centres @ plane[:2] + plane[2]
    expected = np.concatenate([centres, zc[..., None], np.ones_like(zc[..., None])], -1) @ coef.T
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    out = interpolate_vertex_attrs(frags, torch.tensor(faces), attrs)  # (1, 3, H, W)
    assert_close(out[0].permute(1, 2, 0), expected, atol=tol)
    assert_close(frags.depth[0], zc, atol=tol)
    assert_close(frags.bary.sum(-1)[0], np.ones_like(zc), atol=tol)


def test_perspective_correct_matches_ray_plane_intersection():
    tri3d = np.array([[-0.6, -0.5, 2.0], [0.7, -0.4, 3.5], [0.1, 0.8, 1.5]])
    focal, principal = np.array([1.3, 1.1]), np.array([0.05, -0.1])
    xy = focal * tri3d[:, :2] / tri3d[:, 2:] + principal
    verts = torch.tensor(np.c_[xy, tri3d[:, 2]])[None]
    height, width = 25, 27
    frags = rasterize(verts, torch.tensor([[0, 1, 2]]), (height, width), perspective_correct=True)
    attrs = torch.tensor(tri3d)[None]  # interpolate the 3D position itself
    points = interpolate_vertex_attrs(frags, torch.tensor([[0, 1, 2]]), attrs)[0].permute(1, 2, 0)
    rays = np.concatenate([(pixel_centres(height, width) - principal) / focal, np.ones((height, width, 1))], -1)
    normal = np.cross(tri3d[1] - tri3d[0], tri3d[2] - tri3d[0])
    t = (tri3d[0] @ normal) / (rays @ normal)
    expected = rays * t[..., None]
    mask = frags.mask[0].numpy()
    assert mask.sum() > 20
    assert_close(points.numpy()[mask], expected[mask], atol=1e-9)
    assert_close(frags.depth[0].numpy()[mask], expected[mask][:, 2], atol=1e-9)
    # Affine interpolation differs (this triangle spans depths 1.5 to 3.5).
    affine = rasterize(verts, torch.tensor([[0, 1, 2]]), (height, width))
    assert np.abs(affine.depth[0].numpy()[mask] - expected[mask][:, 2]).max() > 1e-2


def test_batched_equals_per_item_and_chunk_does_not_matter():
    verts_np, faces_np = icosphere_raster_verts(subdivisions=2)
    rng = np.random.default_rng(0)
    batch = torch.tensor(np.stack([verts_np * rng.uniform(0.6, 1.2) + [*rng.uniform(-0.3, 0.3, 2), 0]
                                   for _ in range(3)]), dtype=torch.float32)
    faces = torch.tensor(faces_np)
    full = rasterize(batch, faces, (32, 40))
    for b in range(3):
        single = rasterize(batch[b : b + 1], faces, (32, 40))
        assert torch.equal(single.face_idx[0], full.face_idx[b])
        assert torch.equal(single.bary[0], full.bary[b]) and torch.equal(single.depth[0], full.depth[b])
    for chunk in (3, 100, 5000):
        other = rasterize(batch, faces, (32, 40), chunk=chunk)
        assert torch.equal(other.face_idx, full.face_idx)
        assert torch.equal(other.bary, full.bary) and torch.equal(other.depth, full.depth)


def test_face_larger_than_chunk_and_off_screen_faces():
    verts = torch.tensor([[[-3.0, -3.0, 1.0], [3.0, -3.0, 1.0], [0.0, 3.0, 1.0],
                           [5.0, 5.0, 1.0], [6.0, 5.0, 1.0], [5.0, 6.0, 1.0]]])
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    ref = rasterize(verts, faces, (9, 9))
    small = rasterize(verts, faces, (9, 9), chunk=4)
    assert torch.equal(ref.face_idx, small.face_idx) and torch.equal(ref.bary, small.bary)
    assert bool((ref.face_idx[ref.mask] == 0).all()) and int(ref.mask.sum()) > 40


def test_degenerate_inputs_give_background():
    verts = torch.tensor([[[0.0, 0.0, 1.0], [0.5, 0.5, 1.0], [1.0, 1.0, 1.0],  # collinear
                           [float("nan"), 0.0, 1.0], [0.5, -0.5, 1.0], [-0.5, 0.5, 1.0]]])
    frags = rasterize(verts, torch.tensor([[0, 1, 2], [3, 4, 5]]), (8, 8))
    assert not frags.mask.any() and not frags.bary.isnan().any()
    empty = rasterize(verts, torch.zeros(0, 3, dtype=torch.long), (4, 5))
    assert empty.face_idx.shape == (1, 4, 5) and not empty.mask.any()


def test_znear_and_perspective_drop_faces_behind():
    verts = torch.tensor([[[-0.8, -0.8, 1.0], [0.8, -0.8, 1.0], [0.0, 0.8, -0.5]]])
    faces = torch.tensor([[0, 1, 2]])
    assert rasterize(verts, faces, (8, 8)).mask.any()
    assert not rasterize(verts, faces, (8, 8), znear=0.1).mask.any()
    assert not rasterize(verts, faces, (8, 8), perspective_correct=True).mask.any()


def test_backface_culling_keeps_front_faces_of_outward_mesh():
    verts_np, faces_np = icosphere_raster_verts(subdivisions=2)
    verts = torch.tensor(verts_np, dtype=torch.float32)[None]
    faces = torch.tensor(faces_np)
    both = rasterize(verts, faces, (40, 40))
    front = rasterize(verts, faces, (40, 40), cull_backfaces=True)
    assert torch.equal(both.face_idx, front.face_idx)  # a closed convex mesh shows front faces only
    # Inverted winding: the far hemisphere now faces the camera (we see the inside).
    inverted = rasterize(verts, faces[:, [0, 2, 1]], (40, 40), cull_backfaces=True)
    both_drawn = inverted.mask & front.mask
    assert both_drawn.sum() >= 0.95 * front.mask.sum()
    assert bool((inverted.depth[both_drawn] > front.depth[both_drawn]).all())


def test_orthographic_agrees_with_trimesh_ray_casting():
    pytest.importorskip("rtree", reason="trimesh ray casting needs rtree")
    import trimesh

    size = 48
    for seed, mesh in enumerate([trimesh.creation.icosphere(subdivisions=3, radius=0.7),
                                 trimesh.creation.capsule(height=0.8, radius=0.4, count=[16, 16])]):
        from scipy.spatial.transform import Rotation

        mesh.vertices = mesh.vertices @ Rotation.random(random_state=seed).as_matrix().T + [0.05, -0.1, 3.0]
        frags = rasterize(torch.tensor(mesh.vertices)[None], torch.tensor(mesh.faces), (size, size))
        centres = pixel_centres(size, size).reshape(-1, 2)
        origins = np.c_[centres, np.zeros(len(centres))]
        directions = np.tile([0.0, 0.0, 1.0], (len(centres), 1))
        ref = trimesh.ray.ray_triangle.RayMeshIntersector(mesh).intersects_first(origins, directions)
        agree = (frags.face_idx[0].reshape(-1).numpy() == ref).mean()
        assert agree >= 0.99, f"face index agreement {agree:.4f} with trimesh"


def test_perspective_agrees_with_trimesh_ray_casting():
    pytest.importorskip("rtree", reason="trimesh ray casting needs rtree")
    import trimesh

    from decomr.render import perspective_vertices

    size = 40
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    mesh.vertices = mesh.vertices * [1.0, 1.4, 0.8] + [0.1, 0.0, 1.2]  # close: strong perspective
    focal = torch.tensor([[1.2, 1.2]], dtype=torch.float64)
    verts = perspective_vertices(torch.tensor(mesh.vertices)[None], focal)
    frags = rasterize(verts, torch.tensor(mesh.faces), (size, size), perspective_correct=True)
    centres = pixel_centres(size, size).reshape(-1, 2)
    directions = np.c_[centres / 1.2, np.ones(len(centres))]
    index_tri, index_ray, locations = trimesh.ray.ray_triangle.RayMeshIntersector(mesh).intersects_id(
        np.zeros_like(directions), directions, multiple_hits=False, return_locations=True
    )
    ref_face = -np.ones(len(centres), dtype=np.int64)
    ref_depth = np.zeros(len(centres))
    ref_face[index_ray], ref_depth[index_ray] = index_tri, locations[:, 2]
    face = frags.face_idx[0].reshape(-1).numpy()
    assert (face == ref_face).mean() >= 0.99
    both = (face >= 0) & (ref_face >= 0)
    assert_close(frags.depth[0].reshape(-1).numpy()[both], ref_depth[both], atol=1e-9)


def test_device_matches_cpu(device):
    verts_np, faces_np = icosphere_raster_verts(subdivisions=2)
    verts = torch.tensor(verts_np, dtype=torch.float32)[None].repeat(2, 1, 1)
    verts[1, :, :2] *= 0.7
    faces = torch.tensor(faces_np)
    cpu = rasterize(verts, faces, (30, 34))
    dev = rasterize(verts.to(device), faces.to(device), (30, 34), chunk=500)
    assert dev.face_idx.device.type == torch.device(device).type
    assert torch.equal(dev.face_idx.cpu(), cpu.face_idx)
    assert_close(dev.bary.cpu(), cpu.bary, atol=1e-5)
    assert_close(dev.depth.cpu(), cpu.depth, atol=1e-5)
    attrs = torch.rand(2, verts.shape[1], 4)
    assert_close(interpolate_vertex_attrs(dev, faces.to(device), attrs.to(device)).cpu(),
                 interpolate_vertex_attrs(cpu, faces, attrs), atol=1e-5)


def test_interpolation_face_attrs_equal_vertex_attrs_and_background_is_zero():
    verts_np, faces_np = icosphere_raster_verts(subdivisions=1)
    verts = torch.tensor(verts_np, dtype=torch.float32)[None].repeat(2, 1, 1)
    faces = torch.tensor(faces_np)
    frags = rasterize(verts, faces, (20, 20))
    attrs = torch.rand(2, verts.shape[1], 3)
    by_vertex = interpolate_vertex_attrs(frags, faces, attrs)
    assert by_vertex.shape == (2, 3, 20, 20)
    per_corner = attrs[:, faces]  # (B, F, 3, C)
    assert_close(interpolate_face_attrs(frags, per_corner), by_vertex, atol=1e-6)
    assert_close(interpolate_face_attrs(frags, per_corner[0]), by_vertex[:1].expand(2, -1, -1, -1), atol=1e-6)
    assert_close(interpolate_vertex_attrs(frags, faces, attrs[0]), by_vertex[:1].expand(2, -1, -1, -1), atol=1e-6)
    assert bool((by_vertex.permute(0, 2, 3, 1)[~frags.mask] == 0).all())


def test_interpolation_gradcheck():
    verts = torch.tensor([[[-0.9, -0.8, 1.0], [0.9, -0.7, 1.2], [0.1, 0.9, 0.8], [0.8, 0.8, 1.0]]],
                         dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]])
    frags = rasterize(verts, faces, (5, 6))
    attrs = torch.rand(1, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: interpolate_vertex_attrs(frags, faces, a), (attrs,))
    corner = torch.rand(2, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: interpolate_face_attrs(frags, a), (corner,))


def test_bad_inputs_raise_value_errors():
    verts = torch.rand(1, 4, 3)
    faces = torch.tensor([[0, 1, 2]])
    with pytest.raises(ValueError, match="verts"):
        rasterize(torch.rand(4, 3), faces, (4, 4))
    with pytest.raises(ValueError, match="verts"):
        rasterize(torch.rand(1, 4, 2), faces, (4, 4))
    with pytest.raises(ValueError, match="verts"):
        rasterize(torch.ones(1, 4, 3, dtype=torch.long), faces, (4, 4))
    with pytest.raises(ValueError, match="faces"):
        rasterize(verts, torch.tensor([0, 1, 2]), (4, 4))
    with pytest.raises(ValueError, match="faces"):
        rasterize(verts, torch.tensor([[0.0, 1.0, 2.0]]), (4, 4))
    with pytest.raises(ValueError, match="faces"):
        rasterize(verts, torch.tensor([[0, 1, 4]]), (4, 4))
    with pytest.raises(ValueError, match="image_size"):
        rasterize(verts, faces, (4, 0))
    with pytest.raises(ValueError, match="image_size"):
        rasterize(verts, faces, (4, 4, 4))
    with pytest.raises(ValueError, match="chunk"):
        rasterize(verts, faces, (4, 4), chunk=0)
    frags = rasterize(verts, faces, (4, 4))
    with pytest.raises(ValueError, match="attrs"):
        interpolate_vertex_attrs(frags, faces, torch.rand(2, 4, 3))
    with pytest.raises(ValueError, match="faces"):
        interpolate_vertex_attrs(frags, torch.tensor([0, 1, 2]), torch.rand(1, 4, 3))
    with pytest.raises(ValueError, match="attrs"):
        interpolate_face_attrs(frags, torch.rand(1, 2, 2))
    with pytest.raises(ValueError, match="frags"):
        interpolate_face_attrs(frags.face_idx, torch.rand(1, 3, 2))
