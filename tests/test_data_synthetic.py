"""Tests of decomr.data.synthetic, decomr.data.backgrounds, decomr.data.appearance, decomr.data.shards.

Small images (64 px, IUV 32 px) and the body model's default atlas keep the file fast.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from decomr.data import crop
from decomr.data.appearance import REGION_NAMES, body_regions
from decomr.data.augment import AugmentParams
from decomr.data.batch import Batch
from decomr.data.backgrounds import (
    BACKGROUND_KINDS,
    hash_uniform,
    pixel_noise,
    render_backgrounds,
    sample_background_params,
    stack_params,
)
from decomr.data.shards import ShardDataset, export_shards
from decomr.data.synthetic import (
    SPLITS,
    SyntheticBatchGenerator,
    SyntheticConfig,
    SyntheticDataset,
    SyntheticParamDataset,
    collate_params,
    fit_weak_perspective,
    sample_seed,
    upright_orientation,
)
from tests.helpers import assert_close

SMALL = SyntheticConfig(image_size=64, iuv_size=32, atlas="default", train_size=50, val_size=10, test_size=10)

KEYS = {
    "image", "iuv", "parts", "mask", "keypoints", "lsp_keypoints", "joints3d", "lsp_joints3d", "vertices",
    "has_3d", "has_mesh", "shape", "pose", "global_orient", "center", "scale", "camera", "index",
}


@pytest.fixture(scope="module")
def gen(anny_body):
    torch.set_num_threads(1)
    return SyntheticBatchGenerator(SMALL, "cpu", body=anny_body)


@pytest.fixture(scope="module")
def batch(gen):
    return gen.batch("train", [0, 1, 2, 3])


# ------------------------------------------------------------------------------ config
def test_config_validation():
    with pytest.raises(ValueError, match="atlas"):
        SyntheticConfig(atlas="smpl")
    with pytest.raises(ValueError, match="image_size"):
        SyntheticConfig(image_size=4)
    with pytest.raises(ValueError, match="distance_range"):
        SyntheticConfig(distance_range=(5.0, 2.0))
    with pytest.raises(ValueError, match="background_kinds"):
        SyntheticConfig(background_kinds=("photos",))
    with pytest.raises(ValueError, match="occlusion_prob"):
        SyntheticConfig(occlusion_prob=1.5)
    with pytest.raises(ValueError, match="split"):
        SyntheticConfig().split_size("holdout")
    q = SyntheticConfig.quick(seed=3)
    assert q.train_size < SyntheticConfig().train_size and q.seed == 3 and q.image_size == 224
    assert SyntheticConfig(atlas="both").atlas_names() == {"iuv": "continuous", "iuv_default": "default"}


def test_seeds_are_disjoint_across_splits():
    seeds = {s: {sample_seed(SMALL, s, i) for i in range(500)} for s in SPLITS}
    assert all(len(v) == 500 for v in seeds.values())
    assert not (seeds["train"] & seeds["val"]) and not (seeds["train"] & seeds["test"]) and not (seeds["val"] & seeds["test"])
    assert sample_seed(SMALL, "train", 7) == sample_seed(SyntheticConfig(image_size=32), "train", 7)  # seed only
    assert sample_seed(SMALL, "train", 7) != sample_seed(SyntheticConfig(seed=1), "train", 7)
    with pytest.raises(ValueError, match="index"):
        sample_seed(SMALL, "train", -1)


# ------------------------------------------------------------------------------ samples
def test_sample_keys_shapes_dtypes(batch, anny_body):
    V = anny_body.num_vertices
    assert set(batch.to_dict()) == KEYS
    shapes = {
        "image": (4, 3, 64, 64), "iuv": (4, 3, 32, 32), "parts": (4, 32, 32), "mask": (4, 1, 64, 64),
        "keypoints": (4, 24, 3), "lsp_keypoints": (4, 14, 3), "joints3d": (4, 24, 3), "lsp_joints3d": (4, 14, 3),
        "vertices": (4, V, 3), "has_3d": (4,), "has_mesh": (4,), "shape": (4, anny_body.shape_dim),
        "pose": (4, anny_body.pose_dim, 3), "global_orient": (4, 3), "center": (4, 2), "scale": (4,),
        "camera": (4, 3), "index": (4,),
    }
    for k, s in shapes.items():
        assert tuple(getattr(batch, k).shape) == s, k
    assert batch.parts.dtype == torch.int64 and batch.index.dtype == torch.int64
    assert batch.has_3d.dtype == torch.bool and bool(batch.has_3d.all() and batch.has_mesh.all())
    assert batch.image.dtype == torch.float32 and 0 <= float(batch.image.min()) and float(batch.image.max()) <= 1
    assert batch.index.tolist() == [0, 1, 2, 3]
    iuv = batch.iuv
    assert set(iuv[:, 0].unique().tolist()) <= {0.0, 1.0}
    assert float(iuv[:, 1:].min()) >= 0 and float(iuv[:, 1:].max()) <= 1
    assert bool((iuv[:, 1:] * (1 - iuv[:, :1]) == 0).all())  # uv = 0 on the background
    assert bool(((batch.parts > 0) == (iuv[:, 0] > 0.5)).all())  # same fragments
    assert set(batch.parts.unique().tolist()) <= set(range(7))
    for b in range(4):  # a person is present and fairly large in every crop
        assert 0.08 < float(batch.mask[b].mean()) < 0.7


def test_both_atlases(anny_body):
    from decomr.uv.store import load_atlas

    default = load_atlas(anny_body, "default")
    cfg = SyntheticConfig(image_size=32, iuv_size=16, atlas="both", train_size=4)
    g = SyntheticBatchGenerator(cfg, body=anny_body, atlases={"continuous": default, "default": default})
    b = g.batch("train", [0])
    assert b.iuv.shape == b.iuv_default.shape == (1, 3, 16, 16)


def test_deterministic_and_batch_independent(gen, batch):
    again = gen.batch("train", [2])
    for k in KEYS:
        # float noise of the batched barycentrics (~1e-5) times the sharpest colour edge (the
        # front print against the shirt, up to 1) bounds the image difference
        assert_close(getattr(again, k).float(), getattr(batch, k)[2:3].float(), atol=1e-4 if k == "image" else 1e-5, msg=k)
    other = gen.batch("val", [2])
    assert not torch.equal(other.shape, batch.shape[2:3])


def test_dataset_equals_batch_generator(gen, anny_body):
    ds = SyntheticDataset("train", length=6, config=SMALL, body=anny_body)
    assert len(ds) == 6
    rows = gen.batch("train", [5, 1, 3])
    for j, i in enumerate([5, 1, 3]):
        s = ds[i]
        assert set(s) == KEYS
        for k in KEYS:
            if k in ("image", "iuv", "mask", "parts"):  # rendering: allow a few edge pixels
                diff = (s[k].float() - getattr(rows, k)[j].float()).abs()
                assert float((diff > 1e-3).float().mean()) < 0.01, k
            else:
                assert_close(s[k].float(), getattr(rows, k)[j].float(), atol=1e-4, msg=k)
    with pytest.raises(IndexError):
        ds[6]
    with pytest.raises(ValueError, match="length"):
        SyntheticDataset("val", length=11, config=SMALL)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=Batch.collate)
    first = next(iter(loader))
    assert isinstance(first, Batch) and first.image.shape == (2, 3, 64, 64)


def test_dataset_augmentation_is_drawn_per_epoch(gen, anny_body):
    from decomr.data.augment import AugmentConfig

    ds = SyntheticDataset("train", length=4, config=SMALL, augment=AugmentConfig(), body=anny_body)
    a, b = ds[1], ds[1]
    assert torch.equal(a["keypoints"], b["keypoints"])
    ref = gen.batch("train", [1], augment=ds.augment_params(1))
    assert_close(a["keypoints"], ref.keypoints[0], atol=1e-5)
    draws = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        p = ds.augment_params(1)
        draws.add((bool(p.flip[0]), float(p.rot[0]), float(p.scale[0])))
    assert len(draws) == 4  # a new draw each epoch
    assert SyntheticDataset("train", length=4, config=SMALL).augment_params(1) is None


def test_param_dataset_renders_the_same_samples(gen, batch, anny_body):
    ds = SyntheticParamDataset("train", length=4, config=SMALL, body=anny_body)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_params)
    rendered = gen.render(next(iter(loader)))
    for k in KEYS:
        assert_close(getattr(rendered, k).float(), getattr(batch, k).float(), atol=1e-5, msg=k)
    with pytest.raises(ValueError, match="items"):
        collate_params([])


def test_bad_indices(gen):
    with pytest.raises(ValueError, match="indices"):
        gen.batch("val", [10])
    with pytest.raises(ValueError, match="split"):
        gen.batch("holdout", [0])
    with pytest.raises(ValueError, match="augment"):
        gen.batch("train", [0, 1], augment=AugmentParams.identity(3))


# ------------------------------------------------------------------------------ geometry
def _virtual_points(gen, params, points_pc):
    """Project pelvis-centred camera-frame points into the virtual original image (pixels)."""
    cfg = gen.config
    H0, W0 = cfg.orig_size
    c0 = torch.tensor([(W0 - 1) / 2, (H0 - 1) / 2], dtype=torch.float64)
    f = params.focal.double()[:, None]
    Z = params.distance.double()[:, None]
    transl = torch.cat([(params.pelvis_px.double() - c0) * Z / f, Z], -1)
    X = points_pc.double() + transl[:, None]
    return f[:, :, None] * X[..., :2] / X[..., 2:] + c0, X


def test_joints_and_keypoints_follow_the_official_crop(gen, batch, anny_body):
    params = gen.params("train", [0, 1, 2, 3])
    # 3D: joints are the body's regressed joints of the vertices, centred on the pelvis (joint 0).
    j, lsp = anny_body.regress_joints(batch.vertices)
    assert_close(batch.joints3d, j, atol=1e-5)
    assert_close(batch.lsp_joints3d, lsp, atol=1e-5)
    assert_close(batch.joints3d[:, 0], torch.zeros(4, 3), atol=1e-6)
    # 2D: keypoints = the crop module's transform of the joints projected in the virtual image.
    pix, _ = _virtual_points(gen, params, batch.joints3d)
    for b in range(4):
        crop_px = crop.transform_points(pix[b], batch.center[b].double(), batch.scale[b].double(), 64)
        expected = crop.pixels_to_normalized(crop_px, 64)
        assert_close(batch.keypoints[b, :, :2], expected, atol=2e-4)
        inside = (expected.abs() <= 1).all(-1).float()
        assert_close(batch.keypoints[b, :, 2], inside)
    # The crop box: 1.2 x the vertices' box (before jitter), person centred up to the jitter.
    vpix, _ = _virtual_points(gen, params, batch.vertices)
    box = torch.cat([vpix.min(1).values, vpix.max(1).values], -1)
    cs = crop.bbox_to_center_scale(box, SMALL.bbox_rescale)
    assert_close(batch.scale.double(), cs.scale * params.scale_jitter.double(), rtol=1e-5)
    shift = (batch.center.double() - cs.center) / (200 * batch.scale.double())[:, None]
    assert_close(shift, params.center_jitter.double(), atol=1e-5)


def test_render_equals_crop_of_virtual_image(anny_body):
    """Rendering straight into the crop == rendering the whole virtual image then cropping it."""
    from decomr.render import PerspectiveCamera, rasterize

    cfg = SyntheticConfig(image_size=96, iuv_size=96, atlas="default", orig_size=(300, 400), focal_range=(350.0, 350.0),
                          distance_range=(4.0, 4.0), train_size=4)
    g = SyntheticBatchGenerator(cfg, body=anny_body)
    aug = AugmentParams(flip=torch.tensor([False, True]), rot=torch.tensor([25.0, -40.0]),
                        scale=torch.tensor([1.15, 0.9]), color=torch.ones(2, 3))
    b0 = g.batch("train", [0, 1])
    b1 = g.batch("train", [0, 1], augment=aug)
    params = g.params("train", [0, 1])
    _, X = _virtual_points(g, params, b0.vertices)
    f = params.focal[:, None].expand(2, 2) * 2 / torch.tensor([400.0, 300.0])
    full = rasterize(PerspectiveCamera(f, torch.zeros(2, 2)).vertices(X.float()), anny_body.faces, (300, 400),
                     perspective_correct=True).mask.float()
    for b in range(2):
        for mask, kw in ((b0.mask[b, 0], {}),
                         (b1.mask[b, 0], dict(rot=float(aug.rot[b]), flip=bool(aug.flip[b])))):
            scale = b0.scale[b] * (aug.scale[b] if kw else 1.0)
            cropped = crop.crop_image(full[b][None], b0.center[b], scale, 96, mode="nearest", **kw)[0]
            iou = float((cropped * mask).sum() / ((cropped + mask) > 0).sum())
            assert iou > 0.93, (b, kw, iou)
        assert_close(b1.scale[b], b0.scale[b] * aug.scale[b], rtol=1e-6)


def test_weak_perspective_fit_matches_lstsq():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(3, 50, 3, generator=g, dtype=torch.float64)
    x = torch.randn(3, 50, 2, generator=g, dtype=torch.float64)
    cam = fit_weak_perspective(X, x)
    for b in range(3):  # x = a X + b per coordinate with shared a: least squares in (a, bx, by)
        A = np.zeros((100, 3))
        A[:50, 0], A[50:, 0] = X[b, :, 0], X[b, :, 1]
        A[:50, 1], A[50:, 2] = 1, 1
        sol = np.linalg.lstsq(A, np.concatenate([x[b, :, 0], x[b, :, 1]]), rcond=None)[0]
        assert_close(cam[b], torch.tensor([sol[0], sol[1] / sol[0], sol[2] / sol[0]]), atol=1e-9)
    with pytest.raises(ValueError, match="points"):
        fit_weak_perspective(X[..., :2], x)


def test_camera_fits_the_projection(batch):
    from decomr.render import weak_perspective_project

    proj = weak_perspective_project(batch.joints3d, batch.camera)
    err = (proj - batch.keypoints[..., :2]).norm(dim=-1)
    assert float(err.median()) < 0.05  # weak perspective of a person 3.5-8 m away


def test_upright_orientation(anny_body):
    from decomr.body import axis_angle_to_matrix

    z = torch.zeros(())
    assert_close(upright_orientation(z, z, z), torch.tensor([math.pi, 0.0, 0.0]), atol=1e-6)
    yaw, pitch, roll = torch.tensor([0.7, -2.0]), torch.tensor([0.1, -0.2]), torch.tensor([0.05, 0.3])
    R = axis_angle_to_matrix(upright_orientation(yaw, pitch, roll).float())
    ax = lambda a, i: axis_angle_to_matrix(torch.nn.functional.one_hot(torch.tensor(i), 3).float() * a)  # noqa: E731
    for b in range(2):
        ref = ax(math.pi + pitch[b], 0) @ ax(roll[b], 2) @ ax(yaw[b], 1)
        assert_close(R[b], ref, atol=1e-5)


# ------------------------------------------------------------------------------ appearance
def test_body_regions(anny_body):
    r = body_regions(anny_body)
    counts = torch.bincount(r.region, minlength=len(REGION_NAMES))
    assert bool((counts > 0).all()), dict(zip(REGION_NAMES, counts.tolist()))
    assert bool(((r.limb_t >= 0) & (r.limb_t <= 1)).all())
    hands = r.region == REGION_NAMES.index("hand")
    assert bool((anny_body.weight_parts[hands] == 3).all())
    arms = r.region == REGION_NAMES.index("arm")
    assert float(r.limb_t[arms].max()) > 0.9 and float(r.limb_t[arms].min()) < 0.1


def test_front_cues_are_on_the_front_only(anny_body):
    """Eyes, mouth, shirt print and toe caps sit where the template faces forwards (+z), so that
    a person seen from the front looks unlike the same person seen from behind."""
    from decomr.data.appearance import FRONT_MARKS
    from decomr.render.images import vertex_normals

    r = body_regions(anny_body)
    T = anny_body.template
    n = vertex_normals(T[None], anny_body.faces)[0]
    for name in FRONT_MARKS[1:]:
        marked = r.front_mark == FRONT_MARKS.index(name)
        assert int(marked.sum()) >= 4, name
        if name != "toe_cap":
            assert float(n[marked, 2].min()) > 0.3, name  # facing forwards
    toes = r.front_mark == FRONT_MARKS.index("toe_cap")
    feet = r.region == REGION_NAMES.index("foot")
    assert bool(feet[toes].all()) and float(T[toes, 2].mean()) > float(T[feet & ~toes, 2].mean()) + 0.05
    mirror = anny_body.mirror_map
    assert bool((r.front_mark[mirror] == r.front_mark).float().mean() > 0.97)  # left/right symmetric


def test_front_and_back_views_differ_by_the_print(anny_body):
    """The same person facing the camera and facing away: only the front view shows the print colour."""
    import dataclasses

    base = SyntheticConfig(image_size=96, iuv_size=24, atlas="default", pose_kind="A", occlusion_prob=0.0,
                           blur_prob=0.0, pixel_noise_max=0.0, texture_noise=0.0, pitch_std=0.0, roll_std=0.0,
                           distance_range=(3.5, 3.5), test_size=4)
    views = []
    for yaw in (0.0, math.pi):
        gen = SyntheticBatchGenerator(dataclasses.replace(base, yaw_range=(yaw, yaw)), body=anny_body)
        views.append(gen.batch("test", [1]))
    params = gen.params("test", [1]).appearance
    colour = params.print_color[0]
    def share(batch):  # foreground pixels whose chromaticity matches the print's
        img, fg = batch.image[0], batch.mask[0, 0] > 0.5
        chroma = img / img.sum(0, keepdim=True).clamp_min(1e-6)
        ref = colour / colour.sum().clamp_min(1e-6)
        close = (chroma - ref[:, None, None]).abs().sum(0) < 0.04
        return float((close & fg).sum()) / float(fg.sum())
    assert share(views[0]) > 3 * share(views[1]) and share(views[0]) > 0.01


# ------------------------------------------------------------------------------ backgrounds
def test_hash_uniform():
    s = torch.tensor([0, 1, 2**31 - 2])
    u = hash_uniform(s, 20000, salt=5)
    assert u.shape == (3, 20000) and float(u.min()) >= 0 and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.003
    assert not torch.equal(u[0], u[1]) and not torch.equal(u, hash_uniform(s, 20000, salt=6))
    assert_close(hash_uniform(s[1:2], 100, salt=5), u[1:2, :100], atol=0)  # batch independent
    with pytest.raises(ValueError, match="seed"):
        hash_uniform(torch.tensor([0.5]), 3)


def test_backgrounds_every_kind():
    g = torch.Generator().manual_seed(0)
    for kind in BACKGROUND_KINDS:
        p = stack_params([sample_background_params(g, kinds=(kind,)) for _ in range(2)])
        img = render_backgrounds(p, (24, 40))
        assert img.shape == (2, 3, 24, 40) and float(img.min()) >= 0 and float(img.max()) <= 1
        assert float(img.std()) > 0.005, kind  # not flat
        again = render_backgrounds(stack_params([sample_background_params(torch.Generator().manual_seed(0),
                                                                           kinds=(kind,))]), (24, 40))
        assert again.shape == (1, 3, 24, 40)
    with pytest.raises(ValueError, match="kinds"):
        sample_background_params(g, kinds=("sky",))
    noise = pixel_noise(torch.tensor([3, 4]), (32, 32))
    assert noise.shape == (2, 3, 32, 32) and float(noise.abs().max()) <= 1
    assert abs(float(noise.mean())) < 0.05 and not torch.equal(noise[0], noise[1])


# ------------------------------------------------------------------------------ shards
def test_export_and_read_shards(tmp_path, anny_body):
    ds = SyntheticDataset("val", length=5, config=SMALL, body=anny_body)
    index = export_shards(ds, tmp_path / "val", shard_size=2)
    assert index.exists() and len(list((tmp_path / "val").glob("shard_*.pt"))) == 3
    back = ShardDataset(tmp_path / "val")
    assert len(back) == 5 and back.split == "val" and back.config["image_size"] == 64
    for i in (0, 3, 4, -1):
        a, b = back[i], ds[i]
        assert set(a) == set(b)
        assert_close(a["image"], b["image"], atol=0.5 / 255 + 1e-6)
        for k in ("iuv", "parts", "vertices", "keypoints", "index"):
            assert_close(a[k].float(), b[k].float(), atol=0)
    with pytest.raises(IndexError):
        back[5]
    with pytest.raises(FileNotFoundError):
        ShardDataset(tmp_path / "nothing")
