"""Tests for decomr.render.images: IUV, masks, parts, depth, shading and render_body."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from decomr.render import (
    PerspectiveCamera,
    RenderOutput,
    interpolate_vertex_attrs,
    rasterize,
    render_body,
    render_depth,
    render_iuv,
    render_mask,
    render_parts,
    render_shaded,
    vertex_normals,
    weak_perspective_vertices,
)
from tests.helpers import assert_close


def grid_mesh(n: int = 5, extent: float = 1.3, depth: float = 2.0):
    """A flat (n x n)-vertex grid in the plane z = depth, triangulated, outward normal -z."""
    xs = torch.linspace(-extent, extent, n, dtype=torch.float64)
    gy, gx = torch.meshgrid(xs, xs, indexing="ij")
    verts = torch.stack([gx.reshape(-1), gy.reshape(-1), torch.full((n * n,), depth, dtype=torch.float64)], -1)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a, b, c, d = i * n + j, i * n + j + 1, (i + 1) * n + j, (i + 1) * n + j + 1
            faces += [[a, c, b], [b, c, d]]  # counter-clockwise seen from the camera: normal -z
    return verts[None], torch.tensor(faces)


def icosphere(subdivisions: int = 2):
    trimesh = pytest.importorskip("trimesh")
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.7)
    verts = torch.tensor(mesh.vertices, dtype=torch.float64)[None] + torch.tensor([0.0, 0.0, 3.0], dtype=torch.float64)
    return verts, torch.tensor(mesh.faces)


def test_mask_depth_and_iuv_of_a_linear_uv_map():
    verts, faces = grid_mesh()
    frags = rasterize(verts, faces, (12, 10))
    corner_uv = ((verts[0, faces, :2] + 1.3) / 2.6)  # (F, 3, 2): u, v linear in x, y
    iuv = render_iuv(frags, corner_uv)
    assert iuv.shape == (1, 3, 12, 10)
    assert torch.equal(iuv[:, 0].bool(), frags.mask) and bool(frags.mask.all())
    x = (2 * torch.arange(10, dtype=torch.float64) + 1) / 10 - 1
    y = (2 * torch.arange(12, dtype=torch.float64) + 1) / 12 - 1
    assert_close(iuv[0, 1], ((x + 1.3) / 2.6).expand(12, 10), atol=1e-12)
    assert_close(iuv[0, 2], ((y[:, None] + 1.3) / 2.6).expand(12, 10), atol=1e-12)
    assert_close(render_mask(frags), frags.mask[:, None].double(), atol=0)
    assert_close(render_depth(frags), torch.full((1, 1, 12, 10), 2.0), atol=1e-12)


def test_iuv_uses_each_face_own_corners_and_zero_background():
    # Two faces share an edge but carry different per-corner UVs (as across an atlas seam).
    verts = torch.tensor([[[-0.8, -0.8, 1.0], [0.8, -0.8, 1.0], [0.8, 0.8, 1.0], [-0.8, 0.8, 1.0]]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    corner_uv = torch.tensor([[[0.25, 0.1]] * 3, [[0.75, 0.9]] * 3])
    frags = rasterize(verts, faces, (16, 16))
    iuv = render_iuv(frags, corner_uv)
    for f, (u, v) in enumerate([(0.25, 0.1), (0.75, 0.9)]):
        sel = frags.face_idx[0] == f
        assert sel.sum() > 10
        assert_close(iuv[0, 1][sel], torch.full((int(sel.sum()),), u), atol=1e-6)
        assert_close(iuv[0, 2][sel], torch.full((int(sel.sum()),), v), atol=1e-6)
    assert bool((iuv[0][:, ~frags.mask[0]] == 0).all()) and (~frags.mask).sum() > 0


def test_parts_take_the_corner_with_the_largest_barycentric():
    verts, faces = icosphere(1)
    verts = weak_perspective_vertices(verts, torch.tensor([[1.2, 0.0, 0.0]], dtype=torch.float64))
    frags = rasterize(verts, faces, (24, 24))
    labels = torch.randint(1, 7, (verts.shape[1],), generator=torch.Generator().manual_seed(0))
    parts = render_parts(frags, faces, labels)
    assert parts.shape == (1, 24, 24) and parts.dtype == torch.long
    for i in range(24):  # naive loop
        for j in range(24):
            f = int(frags.face_idx[0, i, j])
            expected = 0 if f < 0 else int(labels[faces[f, int(frags.bary[0, i, j].argmax())]])
            assert int(parts[0, i, j]) == expected
    batched = render_parts(frags, faces, labels[None], background=-1)
    assert torch.equal(batched[frags.mask], parts[frags.mask]) and bool((batched[~frags.mask] == -1).all())


def test_vertex_normals_naive_loop_and_sphere():
    verts, faces = icosphere(2)
    normals = vertex_normals(verts, faces)
    ref = np.zeros((verts.shape[1], 3))
    v = verts[0].numpy()
    for a, b, c in faces.numpy():
        n = np.cross(v[b] - v[a], v[c] - v[a])
        ref[[a, b, c]] += n
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert_close(normals[0], ref, atol=1e-12)
    radial = torch.nn.functional.normalize(verts[0] - torch.tensor([0.0, 0.0, 3.0], dtype=torch.float64), dim=-1)
    assert (normals[0] * radial).sum(-1).min() > math.cos(math.radians(3))  # outward, nearly radial


@pytest.mark.parametrize("flip", [False, True])
def test_lambert_shading_of_a_plane(flip):
    verts, faces = grid_mesh()
    if flip:  # back face towards the camera: two-sided lighting shades it the same
        faces = faces[:, [0, 2, 1]]
    frags = rasterize(verts, faces, (8, 8))
    color = (0.8, 0.6, 0.4)
    angle = math.radians(60)
    light = (0.0, math.sin(angle), -math.cos(angle))  # 60 degrees from the plane normal (-z)
    rgb = render_shaded(frags, verts, faces, color, light_dir=light, ambient=0.3, diffuse=0.6)
    expected = torch.tensor(color, dtype=torch.float64) * (0.3 + 0.6 * 0.5)
    assert_close(rgb[0].permute(1, 2, 0).reshape(-1, 3), expected.expand(64, 3), atol=1e-9)
    behind = render_shaded(frags, verts, faces, color, light_dir=(0.0, 0.0, 1.0), ambient=0.3, diffuse=0.6)
    ambient_only = (torch.tensor(color, dtype=torch.float64) * 0.3).expand(64, 3)
    assert_close(behind[0].permute(1, 2, 0).reshape(-1, 3), ambient_only, atol=1e-9)


def test_shaded_background_and_per_vertex_colours():
    verts, faces = icosphere(1)
    verts_r = weak_perspective_vertices(verts, torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64))
    frags = rasterize(verts_r, faces, (20, 20))
    colors = torch.rand(verts.shape[1], 3, dtype=torch.float64)
    rgb = render_shaded(frags, verts, faces, colors, background=(0.1, 0.2, 0.3), ambient=1.0, diffuse=0.0)
    assert_close(rgb, interpolate_vertex_attrs(frags, faces, colors).where(frags.mask[:, None], rgb), atol=1e-12)
    bg = rgb.permute(0, 2, 3, 1)[~frags.mask]
    assert_close(bg, torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64).expand_as(bg), atol=0)
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1


def test_render_body_weak_perspective_and_perspective():
    verts, faces = icosphere(2)
    verts = verts - torch.tensor([0.0, 0.0, 3.0], dtype=torch.float64)
    camera = torch.tensor([[1.1, 0.05, -0.1]], dtype=torch.float64)
    corner_uv = torch.rand(faces.shape[0], 3, 2, dtype=torch.float64)
    labels = torch.randint(1, 7, (verts.shape[1],))
    out = render_body(verts, faces, camera, (20, 24), corner_uv=corner_uv, vertex_labels=labels)
    assert isinstance(out, RenderOutput)
    frags = rasterize(weak_perspective_vertices(verts, camera), faces, (20, 24))
    assert torch.equal(out.fragments.face_idx, frags.face_idx)
    assert_close(out.iuv, render_iuv(frags, corner_uv), atol=0)
    assert torch.equal(out.parts, render_parts(frags, faces, labels))
    assert out.mask.shape == (1, 1, 20, 24) and out.depth.shape == (1, 1, 20, 24) and out.rgb.shape == (1, 3, 20, 24)
    bare = render_body(verts, faces, camera, 16, shade=False)
    assert bare.iuv is None and bare.parts is None and bare.rgb is None
    cam = PerspectiveCamera(torch.tensor([2.0], dtype=torch.float64))
    persp = render_body(verts + torch.tensor([0.0, 0.0, 2.5], dtype=torch.float64), faces, cam, 16)
    assert persp.fragments.perspective_correct and persp.mask.sum() > 20


def test_anny_body_renders_and_mirrors(anny_body):
    """Smoke test on the real body: IUV in range, parts in 1..6, mirror symmetry of the mask."""
    body = anny_body
    with torch.no_grad():
        out = body(global_orient=torch.tensor([[math.pi, 0.0, 0.0]]))
    verts = out.vertices  # (1, V, 3) camera frame, pelvis near the origin
    camera = torch.tensor([[1.0, 0.0, 0.0]])
    corner_uv = body.default_uv_coords[body.default_uv_faces]  # (F, 3, 2)
    rendered = render_body(verts, body.faces, camera, 64, corner_uv=corner_uv, vertex_labels=body.lsp_parts)
    fg = rendered.fragments.mask[0]
    assert fg.float().mean() > 0.05
    uv = rendered.iuv[0, 1:][:, fg]
    assert float(uv.min()) >= 0 and float(uv.max()) <= 1
    parts = rendered.parts[0][fg]
    assert int(parts.min()) >= 1 and int(parts.max()) <= 6 and len(parts.unique()) >= 5
    mirrored = render_body(verts * torch.tensor([-1.0, 1.0, 1.0]), body.faces, camera, 64, shade=False)
    agree = (mirrored.fragments.mask[0] == fg.flip(-1)).float().mean()
    assert agree > 0.999


def test_bad_inputs_raise_value_errors():
    verts, faces = grid_mesh(3)
    frags = rasterize(verts, faces, (6, 6))
    with pytest.raises(ValueError, match="corner_uv"):
        render_iuv(frags, torch.rand(faces.shape[0], 3, 3))
    with pytest.raises(ValueError, match="vertex_labels"):
        render_parts(frags, faces, torch.rand(verts.shape[1]))
    with pytest.raises(ValueError, match="vertex_labels"):
        render_parts(frags, faces, torch.zeros(2, verts.shape[1], dtype=torch.long))
    with pytest.raises(ValueError, match="faces"):
        render_parts(frags, faces[:, :2], torch.zeros(verts.shape[1], dtype=torch.long))
    with pytest.raises(ValueError, match="verts"):
        render_shaded(frags, verts[0], faces)
    with pytest.raises(ValueError, match="vertex_colors"):
        render_shaded(frags, verts, faces, torch.rand(5, 3))
    with pytest.raises(ValueError, match="light_dir"):
        render_shaded(frags, verts, faces, light_dir=(1.0, 0.0))
    with pytest.raises(ValueError, match="background"):
        render_shaded(frags, verts, faces, background=(0.1, 0.2))
    with pytest.raises(ValueError, match="frags"):
        render_mask(frags.face_idx)
    with pytest.raises(ValueError, match="camera"):
        render_body(verts, faces, torch.rand(2, 3), 8)
