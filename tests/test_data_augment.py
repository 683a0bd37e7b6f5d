"""Tests of decomr.data.augment: parameter distributions, 2D/3D consistency, flips, IUV mirrors."""
from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from decomr.body import LSP_FLIP_PERM, SMPL_FLIP_PERM, axis_angle_to_matrix
from decomr.data import crop
from decomr.data.augment import (
    AugmentConfig,
    AugmentParams,
    UVMirror,
    augment_batch,
    augment_global_orient,
    augment_points_2d,
    augment_points_3d,
    augment_weak_camera,
    compose_axis_angle,
    mirror_pose,
    pose_flip_perm,
    sample_augment_params,
    warp_images,
)
from decomr.data.batch import Batch
from decomr.data.synthetic import SyntheticBatchGenerator, SyntheticConfig
from tests.helpers import assert_close

CFG = SyntheticConfig(image_size=64, iuv_size=64, train_size=20, val_size=4, test_size=4)


def symmetric_atlas(body):
    """A left/right symmetric per-vertex atlas (front projection, symmetrised): u(mirror) = 1 - u."""
    from decomr.uv.atlas import UVAtlas

    T, m = body.template, body.mirror_map
    u = 0.5 + 0.45 * T[:, 0] / T[:, 0].abs().max()
    v = 0.05 + 0.9 * (T[:, 1].max() - T[:, 1]) / (T[:, 1].max() - T[:, 1].min())
    u, v = (u + 1 - u[m]) / 2, (v + v[m]) / 2
    V = body.num_vertices
    return UVAtlas("symmetric-test", torch.stack([u, v], -1), body.faces, torch.arange(V), V)


@pytest.fixture(scope="module")
def sym_gen(anny_body):
    torch.set_num_threads(1)
    return SyntheticBatchGenerator(CFG, body=anny_body, atlases={"continuous": symmetric_atlas(anny_body)})


@pytest.fixture(scope="module")
def sym_batch(sym_gen):
    return sym_gen.batch("train", [0, 1, 2, 3])


def _params(flip=(False,), rot=(0.0,), scale=(1.0,), color=None) -> AugmentParams:
    n = len(flip)
    return AugmentParams(flip=torch.tensor(flip), rot=torch.tensor(rot, dtype=torch.float32),
                         scale=torch.tensor(scale, dtype=torch.float32),
                         color=torch.ones(n, 3) if color is None else torch.tensor(color, dtype=torch.float32))


# ------------------------------------------------------------------------------ parameters
def test_config_and_params_validation():
    with pytest.raises(ValueError, match="flip_prob"):
        AugmentConfig(flip_prob=1.5)
    with pytest.raises(ValueError, match="scale_min"):
        AugmentConfig(scale_min=1.1)
    with pytest.raises(ValueError, match="color_noise"):
        AugmentConfig(color_noise=1.0)
    with pytest.raises(ValueError, match="AugmentParams"):
        AugmentParams(flip=torch.zeros(2, dtype=torch.bool), rot=torch.zeros(3), scale=torch.ones(2), color=torch.ones(2, 3))
    with pytest.raises(ValueError, match="scale"):
        AugmentParams(flip=torch.zeros(1, dtype=torch.bool), rot=torch.zeros(1), scale=torch.zeros(1), color=torch.ones(1, 3))
    ident = sample_augment_params(AugmentConfig.none(), 5)
    assert not bool(ident.flip.any()) and bool((ident.rot == 0).all() and (ident.scale == 1).all() and (ident.color == 1).all())


def test_param_distributions():
    n = 20000
    p = sample_augment_params(AugmentConfig(), n, torch.Generator().manual_seed(0))
    # flip: Bernoulli(0.5)
    assert abs(float(p.flip.float().mean()) - 0.5) < 0.015
    # rotation: 0 with p = 0.6, else clip(N(0, 30), -60, 60)
    rot = p.rot.double()
    on = rot != 0
    assert abs(float(on.double().mean()) - 0.4) < 0.015
    assert float(rot.abs().max()) <= 60.0
    clipped = (rot[on].abs() == 60.0).double().mean()
    assert abs(float(clipped) - 2 * stats.norm.sf(2.0)) < 0.01
    inner = rot[on & (rot.abs() < 60)].numpy()
    lo, hi = stats.norm.cdf(-2.0), stats.norm.cdf(2.0)
    assert stats.kstest(inner, lambda x: (stats.norm.cdf(x / 30.0) - lo) / (hi - lo)).pvalue > 1e-3
    # scale: clip(N(1, 0.25), 0.75, 1.25)
    sc = p.scale.double()
    assert float(sc.min()) >= 0.75 and float(sc.max()) <= 1.25
    at_bounds = ((sc == 0.75) | (sc == 1.25)).double().mean()
    assert abs(float(at_bounds) - 2 * stats.norm.sf(1.0)) < 0.015
    inner = sc[(sc > 0.75) & (sc < 1.25)].numpy()
    lo, hi = stats.norm.cdf(-1.0), stats.norm.cdf(1.0)
    assert stats.kstest(inner, lambda x: (stats.norm.cdf((x - 1) / 0.25) - lo) / (hi - lo)).pvalue > 1e-3
    # colour: U[0.6, 1.4] per channel, independent
    col = p.color.double()
    assert float(col.min()) >= 0.6 and float(col.max()) <= 1.4
    assert stats.kstest(col.flatten().numpy(), stats.uniform(loc=0.6, scale=0.8).cdf).pvalue > 1e-3
    assert abs(float(torch.corrcoef(col.T)[0, 1])) < 0.03


# ------------------------------------------------------------------------------ 2D maps
def test_points_2d_match_the_crop_module():
    g = torch.Generator().manual_seed(1)
    center, scale = torch.tensor([310.0, 240.0]), torch.tensor(1.7)
    pts = 200 * torch.rand(6, 2, generator=g, dtype=torch.float64) + 220
    base = crop.pixels_to_normalized(crop.transform_points(pts, center, scale, 224), 224)
    for flip, rot, sc in ((False, 30.0, 1.2), (True, -45.0, 0.8), (True, 0.0, 1.0), (False, 60.0, 1.0)):
        p = _params((flip,), (rot,), (sc,))
        expected = crop.pixels_to_normalized(crop.transform_points(pts, center, scale * sc, 224, rot=rot, flip=flip), 224)
        assert_close(augment_points_2d(base[None], p)[0], expected, atol=1e-5)


def test_warp_images_against_rot90_and_flip():
    x = torch.randn(2, 3, 8, 8)
    p = _params((False, True), (90.0, 0.0), (1.0, 1.0))
    w = warp_images(x, p, "nearest")
    assert_close(w[0], torch.rot90(x[0], 1, (-2, -1)), atol=1e-6)  # counter-clockwise content rotation
    assert_close(w[1], x[1].flip(-1), atol=0)
    # a marked pixel moves where augment_points_2d sends its centre
    img = torch.zeros(1, 1, 16, 16)
    img[0, 0, 3, 11] = 1.0
    p = _params((True,), (90.0,), (1.0,))
    out = warp_images(img, p, "nearest")[0, 0]
    centre = crop.pixels_to_normalized(torch.tensor([[11.0, 3.0]]), 16)
    moved = crop.normalized_to_pixels(augment_points_2d(centre[None], p)[0], 16).round().long()[0]
    assert out[moved[1], moved[0]] == 1.0 and out.sum() == 1.0
    with pytest.raises(ValueError, match="square"):
        warp_images(torch.zeros(1, 1, 4, 6), _params(), "nearest")
    with pytest.raises(ValueError, match="mode"):
        warp_images(x, _params((False, False), (0.0, 0.0), (1.0, 1.0)), "cubic")


def test_points_3d_and_global_orient(anny_body):
    g = torch.Generator().manual_seed(2)
    shape, pose = anny_body.sample_shape(2, g), anny_body.sample_pose(2, g)
    go = torch.tensor([[math.pi, 0.3, 0.1], [2.9, -0.4, 0.5]])
    p = _params((False, True), (35.0, -20.0), (1.1, 0.9))
    out = anny_body(shape=shape, pose=pose, global_orient=go)
    pc = out.vertices - out.joints[:, :1]
    rotated = augment_points_3d(pc, p, anny_body.mirror_map)
    # rotation only: the body posed with the new global orientation is the rotated body
    new = anny_body(shape=shape[:1], pose=pose[:1], global_orient=augment_global_orient(go, p)[:1])
    assert_close(new.vertices - new.joints[:, :1], rotated[:1], atol=2e-5)
    # flip: the mirrored global orientation is F R F
    Fm = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))
    r = -math.radians(-20.0)
    Rz = torch.tensor([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1.0]])
    expected = Fm @ Rz @ axis_angle_to_matrix(go[1]) @ Fm
    assert_close(axis_angle_to_matrix(augment_global_orient(go, p)[1]), expected, atol=1e-5)
    # (Rz X)_xy = R(-rot) X_xy: the in-plane rotation of the crop
    pts = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(4))
    pts[..., 2] = pts[..., 2].abs() + 1.0  # in front of the camera (a depth near 0 blows float32 noise up)
    aug = augment_points_3d(pts, _params((False, False), (30.0, 30.0), (1.0, 1.0)))
    proj = lambda X: X[..., :2] / X[..., 2:]  # noqa: E731
    assert_close(proj(aug), augment_points_2d(proj(pts), _params((False, False), (30.0, 30.0), (1.0, 1.0))), atol=1e-5)


def test_compose_axis_angle_matches_matrices():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(20, 3, generator=g), torch.randn(20, 3, generator=g)
    a[0] = torch.tensor([math.pi, 0, 0])
    b[0] = 0
    c = compose_axis_angle(a, b)
    assert_close(axis_angle_to_matrix(c), axis_angle_to_matrix(a) @ axis_angle_to_matrix(b), atol=1e-5)
    assert bool((c.norm(dim=-1) <= math.pi + 1e-5).all())
    assert_close(c[0], torch.tensor([math.pi, 0.0, 0.0]), atol=1e-6)


def test_mirror_pose(anny_body):
    perm = torch.tensor(pose_flip_perm(anny_body))
    assert torch.equal(perm[perm], torch.arange(anny_body.pose_dim)) and not torch.equal(perm, torch.arange(len(perm)))
    g = torch.Generator().manual_seed(4)
    shape, pose = anny_body.sample_shape(2, g), anny_body.sample_pose(2, g)
    mirrored = anny_body(shape=shape, pose=mirror_pose(pose, perm)).vertices
    ref = anny_body(shape=shape, pose=pose).vertices[:, anny_body.mirror_map] * torch.tensor([-1.0, 1.0, 1.0])
    assert float((mirrored - ref).norm(dim=-1).max()) < 0.006  # Anny: symmetric to a few mm
    assert torch.equal(mirror_pose(mirror_pose(pose, perm), perm), pose)
    with pytest.raises(ValueError, match="pose"):
        mirror_pose(pose[0], perm)


# ------------------------------------------------------------------------------ whole samples
def test_flip_twice_is_identity(sym_batch, sym_gen, anny_body):
    mirrors = {"iuv": UVMirror.from_atlas(sym_gen.atlases["iuv"], anny_body)}
    assert mirrors["iuv"].symmetric
    p = _params((True, False, True, True), (0.0,) * 4, (1.0,) * 4)
    twice = augment_batch(augment_batch(sym_batch, p, anny_body, mirrors), p, anny_body, mirrors)
    for k, v in sym_batch.items():
        assert_close(getattr(twice, k).float(), v.float(), atol=1e-5, msg=k)
    once = augment_batch(sym_batch, p, anny_body, mirrors)
    assert not torch.equal(once.image[0], sym_batch.image[0])
    assert torch.equal(once.image[1], sym_batch.image[1])


def _compare_to_mirrored_render(image_space: Batch, rendered: Batch, uv_tol: float):
    m0, m1 = image_space.iuv[:, 0] > 0.5, rendered.iuv[:, 0] > 0.5
    assert float((m0 == m1).float().mean()) > 0.995
    both = m0 & m1
    d = (image_space.iuv[:, 1:] - rendered.iuv[:, 1:]).abs().amax(1)[both]
    assert float((d < uv_tol).float().mean()) > 0.99, d.quantile(torch.tensor([0.5, 0.99])).tolist()
    assert float((image_space.parts == rendered.parts).float().mean()) > 0.995
    for k in ("keypoints", "lsp_keypoints", "joints3d", "lsp_joints3d", "vertices", "camera", "pose"):
        assert_close(getattr(image_space, k), getattr(rendered, k), atol=1e-4, msg=k)
    assert_close(axis_angle_to_matrix(image_space.global_orient), axis_angle_to_matrix(rendered.global_orient),
                 atol=1e-5)


def test_flipped_iuv_equals_the_mirrored_body_render(sym_gen, sym_batch, anny_body):
    """Image flip + u -> 1 - u (symmetric atlas) == rendering the mirrored body."""
    p = _params((True,) * 4, (0.0,) * 4, (1.0,) * 4)
    image_space = augment_batch(sym_batch, p, anny_body, {"iuv": UVMirror.symmetric_map()})
    rendered = sym_gen.batch("train", [0, 1, 2, 3], augment=p)
    _compare_to_mirrored_render(image_space, rendered, uv_tol=1e-4)


def test_uv_mirror_table_on_the_default_atlas(anny_body):
    """A non-symmetric (multi-chart) atlas: the UV -> UV lookup table reproduces the mirror render."""
    gen = SyntheticBatchGenerator(SyntheticConfig(image_size=48, iuv_size=48, atlas="default", train_size=4),
                                  body=anny_body)
    mirror = UVMirror.from_atlas(gen.atlases["iuv"], anny_body, resolution=256)
    assert not mirror.symmetric and mirror.table.shape == (2, 256, 256)
    p = _params((True,) * 3, (0.0,) * 3, (1.0,) * 3)
    image_space = augment_batch(gen.batch("train", [0, 1, 2]), p, anny_body, {"iuv": mirror})
    rendered = gen.batch("train", [0, 1, 2], augment=p)
    _compare_to_mirrored_render(image_space, rendered, uv_tol=2.5 / 255)
    uv = gen.atlases["iuv"].uv
    assert float((mirror(mirror(uv)) - uv).abs().max()) < 0.02  # an involution up to the table step


def test_continuous_atlas_flip_is_u_to_one_minus_u(anny_body):
    """The real continuous atlas (Sec. 3.1): image flip + u -> 1 - u == the mirrored body's IUV."""
    try:
        from decomr.uv import load_atlas

        atlas = load_atlas(anny_body, "continuous")
    except Exception as err:  # building it is decomr.uv's business, not this module's
        pytest.skip(f"continuous atlas unavailable: {type(err).__name__}: {err}")
    mirror = UVMirror.from_atlas(atlas, anny_body)
    assert mirror.symmetric
    gen = SyntheticBatchGenerator(SyntheticConfig(image_size=48, iuv_size=48, train_size=4), body=anny_body,
                                  atlases={"continuous": atlas})
    p = _params((True,) * 3, (0.0,) * 3, (1.0,) * 3)
    image_space = augment_batch(gen.batch("train", [0, 1, 2]), p, anny_body, {"iuv": mirror})
    _compare_to_mirrored_render(image_space, gen.batch("train", [0, 1, 2], augment=p), uv_tol=1e-3)


def test_rotated_keypoints_land_on_rotated_joints(sym_gen, sym_batch, anny_body):
    p = _params((False, False, True, False), (30.0, -50.0, 20.0, 0.0), (1.1, 0.85, 1.0, 1.2))
    rendered = sym_gen.batch("train", [0, 1, 2, 3], augment=p)  # exact, in 3D before rendering
    image_space = augment_batch(sym_batch, p, anny_body, {"iuv": UVMirror.symmetric_map()})
    # keypoints: the 2D map of the un-augmented keypoints == the projection of the rotated joints
    assert_close(image_space.keypoints, rendered.keypoints, atol=1e-4)
    assert_close(image_space.lsp_keypoints, rendered.lsp_keypoints, atol=1e-4)
    for k in ("joints3d", "lsp_joints3d", "vertices"):
        assert_close(getattr(image_space, k), getattr(rendered, k), atol=1e-5, msg=k)
    assert_close(augment_weak_camera(sym_batch.camera, p), rendered.camera, atol=1e-4)
    assert_close(image_space.scale, rendered.scale, atol=1e-4)
    # the resampled mask overlaps the re-rendered one (nearest resampling at 64 px)
    for b in range(4):
        a, r = image_space.mask[b, 0], rendered.mask[b, 0]
        assert float((a * r).sum() / ((a + r) > 0).sum()) > 0.85
        a, r = image_space.iuv[b, 0], rendered.iuv[b, 0]
        assert float((a * r).sum() / ((a + r) > 0).sum()) > 0.85


def test_color_scale_only_touches_the_image(sym_batch, anny_body):
    p = _params((False,) * 4, (0.0,) * 4, (1.0,) * 4, color=[[0.6, 1.0, 1.4]] * 4)
    out = augment_batch(sym_batch, p, anny_body)
    assert_close(out.image, (sym_batch.image * torch.tensor([0.6, 1.0, 1.4])[:, None, None]).clamp(0, 1), atol=1e-6)
    for k, v in sym_batch.items():
        if k != "image":
            assert torch.equal(getattr(out, k), v), k


def test_flip_permutations_swap_sides(sym_batch, anny_body):
    p = _params((True,) * 4, (0.0,) * 4, (1.0,) * 4)
    out = augment_batch(sym_batch, p, anny_body, {"iuv": UVMirror.symmetric_map()})
    assert_close(out.keypoints[:, :, 0], -sym_batch.keypoints[:, list(SMPL_FLIP_PERM), 0], atol=1e-6)
    assert_close(out.lsp_joints3d[..., 0], -sym_batch.lsp_joints3d[:, list(LSP_FLIP_PERM), 0], atol=1e-6)
    assert set(out.parts.unique().tolist()) == set(sym_batch.parts.unique().tolist())
    assert (out.parts == 3).sum() == (sym_batch.parts == 4).sum()  # left arm <-> right arm


def test_bad_inputs(sym_batch, anny_body):
    p = _params((True,) * 4, (0.0,) * 4, (1.0,) * 4)
    with pytest.raises(ValueError, match="uv_mirrors"):
        augment_batch(sym_batch, p, anny_body)
    with pytest.raises(ValueError, match="body"):
        augment_batch({"vertices": sym_batch.vertices}, p)
    with pytest.raises(ValueError, match="points"):
        augment_points_2d(torch.zeros(4, 5), p)
    with pytest.raises(ValueError, match="points"):
        augment_points_3d(torch.zeros(3, 5, 3), p)
    with pytest.raises(ValueError, match="camera"):
        augment_weak_camera(torch.zeros(4, 2), p)
    with pytest.raises(ValueError, match="batch"):
        augment_batch([1, 2], p)
