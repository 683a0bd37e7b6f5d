"""Tests for decomr.data.render_gt: GT IUV images of official datasets from their SMPL fits.

A fake SMPL model (tests/smpl_fixture.py) with a closed, body-sized ellipsoid mesh, tiny datasets in
the official formats (tests/official_fixture.py) whose 2D keypoints are the model's joints projected by
known cameras, and a hand-made UV atlas (u, v from the template's x and y + z). The rendered PNGs
are compared with a naive per-face z-buffer written here in NumPy.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import torch

from decomr.body import load
from decomr.data.crop import crop_image, points_to_center_scale
from decomr.data.errors import CorruptDataError
from tests.official_fixture import corrupt_file, update_npz_fields, write_official_fixture
from decomr.data.official import OfficialDataset
from decomr.data.render_gt import (
    FAILURE_REASONS,
    fit_weak_perspective_pixels,
    iuv_to_uint8,
    load_iuv_png,
    render_gt_iuv,
    render_gt_main,
    render_iuv_pixels,
    resize_iuv,
    save_iuv_png,
)
from decomr.uv import UVAtlas
from decomr.uv.atlas import atlas_path
from tests.helpers import assert_close
from tests.smpl_fixture import write_fake_smpl

Q = 0.5 / 255 + 1e-6  # uint8 quantisation of u, v
SHAPES = {"neutral": (0.25, 0.9, 0.15), "male": (0.28, 0.95, 0.16), "female": (0.4, 0.7, 0.22)}
FILES = {"neutral": "SMPL_NEUTRAL.pkl", "male": "SMPL_MALE.pkl", "female": "SMPL_FEMALE.pkl"}


# ------------------------------------------------------------------------------------ fixtures
def _ellipsoid(radii) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=2)  # 162 vertices, 320 faces, x -> -x symmetric
    return np.asarray(ico.vertices) * np.asarray(radii), np.asarray(ico.faces)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """$DECOMR_DATA -> tmp_path, with a fresh body-model cache (decomr.body.load caches by kwargs)."""
    from decomr.body import _load_cached

    monkeypatch.setenv("DECOMR_DATA", str(tmp_path))
    _load_cached.cache_clear()
    yield tmp_path
    _load_cached.cache_clear()


def _write_smpl(data_dir, genders=("neutral",)):
    for g in genders:
        write_fake_smpl(data_dir / "body_models" / "smpl", filename=FILES[g], mesh=_ellipsoid(SHAPES[g]), seed=1)


def _atlas(body, name="xyz") -> UVAtlas:
    """Per-vertex UVs: u from x, v from y + 3 z (front and back differ), each scaled to [0, 1]."""
    t = body.template.double()
    raw = torch.stack([t[:, 0], t[:, 1] + 3 * t[:, 2]], dim=1)
    uv = (raw - raw.min(0).values) / (raw.max(0).values - raw.min(0).values)
    return UVAtlas(name=name, uv=uv.float(), faces_uv=body.faces, vt_to_v=torch.arange(body.num_vertices),
                   num_vertices=body.num_vertices, mesh_hash=body.mesh_hash(), body_name="smpl")


def _posed(body, pose: np.ndarray, shape: np.ndarray):
    pose = torch.as_tensor(pose, dtype=torch.float32)
    return body(shape=torch.as_tensor(shape, dtype=torch.float32), pose=pose[:, 3:].reshape(-1, 23, 3),
                global_orient=pose[:, :3])


def _dataset(data_dir, name="up3d", split="trainval", n=3, genders=None, seed=0):
    """An official-format dataset whose 2D keypoints are the SMPL joints seen by known cameras.

    Returns:
        (fixture, cameras (n, 3) [s px/m, tx, ty]).
    """
    fx = write_official_fixture(data_dir / "datasets", name, split, num_records=n, seed=seed)
    H, W = fx.image_size
    with np.load(fx.npz_path) as z:
        pose, shape = z["pose"], z["shape"]
        gender = z["gender"] if "gender" in z.files else np.array(["n"] * n)
    cams, part = np.zeros((n, 3)), np.zeros((n, 24, 3))
    smpl24 = name == "surreal"
    rng = np.random.default_rng(seed)
    for k in range(n):
        g = {"m": "male", "f": "female"}.get(str(gender[k]), "neutral")
        out = _posed(load("smpl", gender=g), pose[k:k + 1], shape[k:k + 1])
        joints = (out.joints if smpl24 else out.lsp_joints)[0].double().numpy()  # (J, 3)
        s = 40.0 + 5 * k
        pelvis = out.joints[0, 0, :2].double().numpy()
        t = np.array([W / 2 + rng.uniform(-8, 8), H / 2 + rng.uniform(-6, 6)]) / s - pelvis
        cams[k] = [s, *t]
        J = joints.shape[0]
        part[k, :J, :2] = s * (joints[:, :2] + t)
        part[k, :J, 2] = 1.0
    part[:, 3] = [5.0, 7.0, 0.0]  # an invisible joint with a wrong position: must be ignored
    key = "part_smpl" if smpl24 else "part"
    cs = [points_to_center_scale(p[p[:, 2] > 0, :2]) for p in part]
    update_npz_fields(fx.npz_path, **{key: part, "center": np.stack([c.center.numpy() for c in cs]),
                                      "scale": np.array([float(c.scale) for c in cs])})
    return fx, cams


def _reference_iuv(verts: np.ndarray, faces: np.ndarray, corner_uv: np.ndarray, cam: np.ndarray,
                   hw: tuple[int, int]) -> np.ndarray:
    """Naive z-buffer, one face at a time: (3, H, W) mask, u, v at pixel centres (x = col, y = row)."""
    H, W = hw
    p = cam[0] * (verts[:, :2] + cam[1:])  # (V, 2) pixels
    zbuf = np.full((H, W), np.inf)
    out = np.zeros((3, H, W))
    for f, tri in enumerate(faces):
        a, b, c = p[tri]
        den = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
        if abs(den) < 1e-12:
            continue
        x0, x1 = int(np.floor(min(a[0], b[0], c[0]))), int(np.ceil(max(a[0], b[0], c[0])))
        y0, y1 = int(np.floor(min(a[1], b[1], c[1]))), int(np.ceil(max(a[1], b[1], c[1])))
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W - 1), min(y1, H - 1)
        if x0 > x1 or y0 > y1:
            continue
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1].astype(np.float64)
        l0 = ((b[1] - c[1]) * (xx - c[0]) + (c[0] - b[0]) * (yy - c[1])) / den
        l1 = ((c[1] - a[1]) * (xx - c[0]) + (a[0] - c[0]) * (yy - c[1])) / den
        l2 = 1 - l0 - l1
        inside = (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
        z = l0 * verts[tri[0], 2] + l1 * verts[tri[1], 2] + l2 * verts[tri[2], 2]
        win = inside & (z < zbuf[y0:y1 + 1, x0:x1 + 1])
        zbuf[y0:y1 + 1, x0:x1 + 1][win] = z[win]
        for ch in range(2):
            val = l0 * corner_uv[f, 0, ch] + l1 * corner_uv[f, 1, ch] + l2 * corner_uv[f, 2, ch]
            out[1 + ch, y0:y1 + 1, x0:x1 + 1][win] = val[win]
        out[0, y0:y1 + 1, x0:x1 + 1][win] = 1.0
    return out


def _sha(path) -> str:
    return hashlib.sha1(open(path, "rb").read()).hexdigest()


# ------------------------------------------------------------------------------------ camera fit
def test_fit_matches_lstsq_and_recovers_a_known_camera():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(4, 14, 3, generator=g, dtype=torch.float64)
    vis = (torch.rand(4, 14, generator=g) > 0.3).double()
    vis[:, :3] = 1
    kp = torch.cat([200 * torch.rand(4, 14, 2, generator=g, dtype=torch.float64), vis[..., None]], -1)
    fit = fit_weak_perspective_pixels(X, kp)
    for b in range(4):  # reference: numpy least squares in (s, s tx, s ty) on the visible joints
        m = vis[b] > 0
        A = np.zeros((2 * int(m.sum()), 3))
        A[0::2, 0], A[1::2, 0] = X[b, m, 0].numpy(), X[b, m, 1].numpy()
        A[0::2, 1], A[1::2, 2] = 1, 1
        sol = np.linalg.lstsq(A, kp[b, m, :2].numpy().reshape(-1), rcond=None)[0]
        assert_close(fit.camera[b], [sol[0], sol[1] / sol[0], sol[2] / sol[0]], atol=1e-9)
        assert int(fit.num_visible[b]) == int(m.sum())
    # Noise-free keypoints of a known camera: recovered exactly, zero error, invisible ones ignored.
    cam = torch.tensor([[55.0, 0.3, -0.2]], dtype=torch.float64).expand(4, 3)
    kp = torch.cat([cam[:, None, :1] * (X[..., :2] + cam[:, None, 1:]), vis[..., None]], -1)
    kp[..., :2] = torch.where(vis[..., None] > 0, kp[..., :2], torch.full_like(kp[..., :2], -999.0))
    fit = fit_weak_perspective_pixels(X, kp)
    assert_close(fit.camera, cam, atol=1e-9)
    assert float(fit.error.abs().max()) < 1e-9
    with pytest.raises(ValueError, match="keypoints"):
        fit_weak_perspective_pixels(X, kp[:, :5])
    with pytest.raises(ValueError, match="joints"):
        fit_weak_perspective_pixels(X[..., :2], kp)


# ------------------------------------------------------------------------------------ PNG format
def test_png_round_trip_is_within_uint8_quantisation(tmp_path):
    g = torch.Generator().manual_seed(1)
    iuv = torch.rand(3, 9, 11, generator=g)
    iuv[0] = (iuv[0] > 0.4).float()
    iuv[1:] *= iuv[0]
    back = load_iuv_png(save_iuv_png(iuv, tmp_path / "a" / "x.png"))
    assert back.shape == (3, 9, 11) and back.dtype == torch.float32
    assert torch.equal(back[0], iuv[0])
    assert_close(back, iuv, atol=Q)
    assert not list((tmp_path / "a").glob(".*tmp*")), "temporary file left behind"
    assert iuv_to_uint8(iuv).shape == (9, 11, 3)
    # Bad inputs
    with pytest.raises(ValueError, match="iuv"):
        iuv_to_uint8(torch.zeros(2, 4, 4))
    with pytest.raises(FileNotFoundError):
        load_iuv_png(tmp_path / "missing.png")
    from PIL import Image

    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "grey.png")
    with pytest.raises(CorruptDataError, match="RGB"):
        load_iuv_png(tmp_path / "grey.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(CorruptDataError, match="decode"):
        load_iuv_png(tmp_path / "junk.png")
    # resize_iuv: nearest back to the image size; other aspect ratios are rejected
    assert resize_iuv(back, (9, 11)) is back
    assert resize_iuv(torch.ones(3, 5, 6), (10, 12)).shape == (3, 10, 12)
    with pytest.raises(CorruptDataError, match="aspect"):
        resize_iuv(torch.ones(3, 5, 6), (10, 30))


# ------------------------------------------------------------------------------------ rendering
def test_render_gt_pngs_match_a_reference_renderer(data_dir):
    _write_smpl(data_dir)
    fx, cams = _dataset(data_dir)
    body = load("smpl", gender="neutral")
    atlas = _atlas(body)
    original = _sha(fx.npz_path)
    summary = render_gt_iuv("up3d", "trainval", atlas=atlas, device="cpu", progress=False)

    assert (summary.rendered, summary.skipped, summary.num_failed, summary.no_smpl) == (3, 0, 0, 0)
    assert summary.fit_error_max < 1e-6  # exact keypoints
    assert _sha(fx.npz_path) == original, "the user's npz must not change"
    out = fx.root / "up3d_trainval_iuv_xyz.npz"
    assert summary.npz_path == out and summary.out_dir == fx.root / "iuv_xyz"
    with np.load(fx.npz_path) as a, np.load(out) as b:
        assert set(b.files) == set(a.files) | {"iuv_names"}
        for k in a.files:
            assert np.array_equal(a[k], b[k]), k
        names, part, pose, shape, center = b["iuv_names"], b["part"], b["pose"], b["shape"], b["center"]
    H, W = fx.image_size
    corner_uv = atlas.corner_uv().double().numpy()
    inside_checked = 0
    for k in range(3):
        stem = fx.imgnames[k].rsplit(".", 1)[0]
        cx, cy = np.round(center[k]).astype(int)
        assert names[k] == f"iuv_xyz/{stem}_{cx}_{cy}.png"
        iuv = load_iuv_png(fx.root / names[k])
        assert iuv.shape == (3, H, W)
        verts = _posed(body, pose[k:k + 1], shape[k:k + 1]).vertices[0].double().numpy()
        ref = _reference_iuv(verts, body.faces.numpy(), corner_uv, cams[k], (H, W))
        mask, ref_mask = iuv[0].numpy() > 0.5, ref[0] > 0.5
        # The mask is where the known camera puts the mesh (up to ties on the silhouette).
        assert mask.sum() > 300
        assert (mask != ref_mask).sum() <= 0.01 * ref_mask.sum(), (mask != ref_mask).sum()
        both = mask & ref_mask
        diff = np.abs(iuv[1:].numpy() - ref[1:])[:, both]
        assert (diff <= Q).mean() > 0.995 and diff.max() < 0.05, diff.max()
        # Visible keypoints well inside the body are covered by the mask.
        for x, y, v in part[k, :14]:
            i, j = int(round(y)), int(round(x))
            if v > 0 and 1 <= i < H - 1 and 1 <= j < W - 1 and ref_mask[i - 1:i + 2, j - 1:j + 2].all():
                assert mask[i, j], (k, x, y)
                inside_checked += 1
        # And the PNG is the rendered tensor, quantised.
        fit = fit_weak_perspective_pixels(_posed(body, pose[k:k + 1], shape[k:k + 1]).lsp_joints,
                                          torch.as_tensor(part[k:k + 1, :14]))
        assert_close(fit.camera[0], cams[k], atol=1e-6)
        rendered = render_iuv_pixels(torch.as_tensor(verts[None]).float(), body.faces, atlas.corner_uv(),
                                     fit.camera, (H, W))[0]
        assert torch.equal(iuv[0], rendered[0])
        assert_close(iuv[1:], rendered[1:], atol=Q)
    assert inside_checked >= 10


def test_rerun_skips_existing_pngs(data_dir):
    _write_smpl(data_dir)
    fx, _ = _dataset(data_dir)
    atlas = _atlas(load("smpl"))
    render_gt_iuv("up3d", "trainval", atlas=atlas, progress=False)
    pngs = sorted((fx.root / "iuv_xyz").rglob("*.png"))
    assert len(pngs) == 3
    stamps = {p: p.stat().st_mtime_ns for p in pngs}
    again = render_gt_iuv("up3d", "trainval", atlas=atlas, progress=False)
    assert (again.rendered, again.skipped) == (0, 3)
    assert {p: p.stat().st_mtime_ns for p in pngs} == stamps
    pngs[1].unlink()
    resumed = render_gt_iuv("up3d", "trainval", atlas=atlas, progress=False)
    assert (resumed.rendered, resumed.skipped) == (1, 2) and pngs[1].is_file()
    forced = render_gt_iuv("up3d", "trainval", atlas=atlas, skip_existing=False, progress=False)
    assert (forced.rendered, forced.skipped) == (3, 0)
    with np.load(resumed.npz_path) as z:
        assert all(z["iuv_names"])


def test_official_dataset_reads_the_iuv_images(data_dir):
    _write_smpl(data_dir)
    fx, _ = _dataset(data_dir, n=4)
    update_npz_fields(fx.npz_path, has_smpl=np.array([1, 0, 1, 1]))
    atlas = _atlas(load("smpl"))
    summary = render_gt_iuv("up3d", "trainval", atlas=atlas, progress=False)
    assert (summary.rendered, summary.no_smpl) == (3, 1)

    plain = OfficialDataset("up3d", "trainval", res=64)
    assert "iuv" not in plain[0] and plain.npz_path == fx.npz_path
    ds = OfficialDataset("up3d", "trainval", res=64, iuv_atlas="xyz", iuv_res=32)
    assert ds.npz_path == summary.npz_path
    with np.load(summary.npz_path) as z:
        names = z["iuv_names"]
    assert names[1] == ""
    rec = ds.load_record(0)
    assert rec.iuv.shape == (3, *fx.image_size)
    assert_close(rec.iuv, load_iuv_png(fx.root / names[0]), atol=0)
    item = ds[0]
    assert item["iuv"].shape == (3, 32, 32) and bool(item["has_iuv"])
    expected = crop_image(load_iuv_png(fx.root / names[0]), item["center"].double(), item["scale"].double(), 32,
                          mode="nearest")
    assert_close(item["iuv"], expected, atol=0)
    assert 0 < float(item["iuv"][0].mean()) < 1
    # u, v are copied from the PNG's pixels, never blended (nearest-pixel crop)
    values = set(np.round(item["iuv"][1:].numpy().ravel() * 255, 4).tolist())
    assert all(float(v).is_integer() for v in values)
    empty = ds[1]
    assert not bool(empty["has_iuv"]) and float(empty["iuv"].abs().sum()) == 0 and ds.load_record(1).iuv is None
    # A missing PNG names the fix; skip_bad skips the record.
    (fx.root / names[2]).unlink()
    with pytest.raises(FileNotFoundError, match="render-gt"):
        ds[2]
    lenient = OfficialDataset("up3d", "trainval", res=64, iuv_atlas="xyz", skip_bad=True)
    assert int(lenient[2]["record_index"]) == 3 and lenient.skipped["missing_image"] == 1
    # A corrupt PNG: delete it and render it again (not "re-download", as for the dataset's own files).
    corrupt_file(fx.root / names[3], "garbage")
    with pytest.raises(CorruptDataError, match=r"cannot decode the IUV image .*Delete it and re-run "
                                               r"`decomr render-gt up3d trainval --atlas xyz`, or pass skip_bad"):
        ds[3]
    with pytest.raises(FileNotFoundError, match="render-gt up3d trainval --atlas other"):
        OfficialDataset("up3d", "trainval", iuv_atlas="other")
    with pytest.raises(ValueError, match="iuv_res"):
        OfficialDataset("up3d", "trainval", iuv_atlas="xyz", iuv_res=0)
    with pytest.raises(ValueError, match="iuv_atlas"):
        OfficialDataset("up3d", "trainval", iuv_atlas=atlas)


def test_res_caps_the_png_size_and_the_loader_scales_back(data_dir):
    _write_smpl(data_dir)
    fx, _ = _dataset(data_dir, n=1)
    atlas = _atlas(load("smpl"))
    full = render_gt_iuv("up3d", "trainval", atlas=atlas, out_dir=data_dir / "full", progress=False)
    small = render_gt_iuv("up3d", "trainval", atlas=atlas, res=64, progress=False)
    with np.load(small.npz_path) as z:
        name = str(z["iuv_names"][0])
    assert name.startswith("iuv_xyz/")
    H, W = fx.image_size  # 96 x 128 -> 48 x 64
    assert load_iuv_png(fx.root / name).shape == (3, 48, 64)
    hi = load_iuv_png(next((data_dir / "full").rglob("*.png")))
    lo = OfficialDataset("up3d", "trainval", iuv_atlas="xyz").load_record(0).iuv
    assert lo.shape == (3, H, W)
    assert np.abs(lo[0] - hi[0].numpy()).mean() < 0.05  # same silhouette, coarser
    assert full.rendered == 1 and str(data_dir / "full") in str(full.out_dir)


def test_gendered_models_per_record(data_dir):
    _write_smpl(data_dir, ("male", "female"))
    fx, cams = _dataset(data_dir, name="surreal", split="val", n=2)  # genders m, f; 24 SMPL joints
    atlas = _atlas(load("smpl", gender="male"))
    summary = render_gt_iuv("surreal", "val", atlas=atlas, progress=False)
    assert summary.rendered == 2 and summary.fit_error_max < 1e-6
    with np.load(summary.npz_path) as z:
        names, pose, shape = z["iuv_names"], z["pose"], z["shape"]
    assert names[0].startswith("iuv_xyz/frames/val/")
    for k, g in enumerate(("male", "female")):
        body = load("smpl", gender=g)
        verts = _posed(body, pose[k:k + 1], shape[k:k + 1]).vertices[0].double().numpy()
        ref = _reference_iuv(verts, body.faces.numpy(), atlas.corner_uv().double().numpy(), cams[k], fx.image_size)
        mask = load_iuv_png(fx.root / names[k])[0].numpy() > 0.5
        assert (mask != (ref[0] > 0.5)).sum() <= 0.01 * ref[0].sum()
    # Without the female file: decomr.body's error, plus how to go without genders.
    (data_dir / "body_models" / "smpl" / "SMPL_FEMALE.pkl").unlink()
    from decomr.body import _load_cached

    _load_cached.cache_clear()
    with pytest.raises(FileNotFoundError, match="SMPL_FEMALE.pkl") as err:
        render_gt_iuv("surreal", "val", atlas=atlas, progress=False)
    assert any("gendered=False" in note for note in getattr(err.value, "__notes__", []))
    with pytest.raises(FileNotFoundError, match="SMPL_NEUTRAL.pkl"):  # gendered=False needs the neutral model
        render_gt_iuv("surreal", "val", atlas=atlas, gendered=False, progress=False)


def test_bad_records_are_reported_not_rendered(data_dir):
    _write_smpl(data_dir)
    fx, _ = _dataset(data_dir, n=6)
    with np.load(fx.npz_path) as z:
        part, pose = z["part"].copy(), z["pose"].copy()
    part[1, 2:14, 2] = 0  # too few visible keypoints
    part[2, :14, :2] = part[2, :14, :2][::-1]  # keypoints that do not match the SMPL fit
    pose[3, :3] = 0.0  # global orientation not in the camera frame: the body is upside down
    part[4, :14, :2] += 10_000  # the fitted camera puts the mesh outside the image
    update_npz_fields(fx.npz_path, part=part, pose=pose)
    (fx.root / fx.imgnames[5]).unlink()
    summary = render_gt_iuv("up3d", "trainval", atlas=_atlas(load("smpl")), progress=False)
    assert summary.rendered == 1
    reasons = {f.record: f.reason for f in summary.failures}
    assert reasons == {1: "too_few_keypoints", 2: "bad_fit", 3: "negative_scale", 4: "empty_render",
                       5: "missing_image"}
    assert set(summary.failed) <= set(FAILURE_REASONS) and summary.num_failed == 5
    with np.load(summary.npz_path) as z:
        names = z["iuv_names"]
    assert names[0] and not any(names[1:])
    text = "\n".join(summary.lines())
    assert "failed (bad_fit): 1" in text and "record 3" in text
    ds = OfficialDataset("up3d", "trainval", iuv_atlas="xyz", skip_bad=True)
    assert [bool(ds[k]["has_iuv"]) for k in range(5)] == [True, False, False, False, False]


def test_errors(data_dir):
    # Dataset without SMPL fits, or without 2D keypoints, before any SMPL file is needed.
    write_official_fixture(data_dir / "datasets", "lsp", "test", num_records=2)
    with pytest.raises(ValueError, match="no SMPL fits"):
        render_gt_iuv("lsp", "test", progress=False)
    write_official_fixture(data_dir / "datasets", "3dpw", "test", num_records=2)
    with pytest.raises(ValueError, match="no 2D keypoints"):
        render_gt_iuv("3dpw", "test", progress=False)
    with pytest.raises(ValueError, match="name"):
        render_gt_iuv("coco", "train", progress=False)
    with pytest.raises(FileNotFoundError, match="up3d_trainval.npz"):
        render_gt_iuv("up3d", "trainval", progress=False)
    # Missing SMPL: decomr.body's message (file name, where to get it)
    write_official_fixture(data_dir / "datasets", "up3d", "trainval", num_records=2)
    with pytest.raises(FileNotFoundError, match="SMPL_NEUTRAL.pkl") as err:
        render_gt_iuv("up3d", "trainval", progress=False)
    assert "smpl.is.tue.mpg.de" in str(err.value)
    # Bad arguments and atlases
    _write_smpl(data_dir)
    body = load("smpl")
    for kwargs, match in [({"res": 0}, "res"), ({"batch_size": 0}, "batch_size"),
                          ({"max_fit_error": -1}, "max_fit_error"), ({"atlas": 3}, "atlas"),
                          ({"atlas": UVAtlas("xyz", torch.zeros(3, 2), torch.tensor([[0, 1, 2]]),
                                             torch.arange(3), 3)}, "atlas"),
                          ({"atlas": _atlas(body, name="a/b")}, "atlas")]:
        with pytest.raises(ValueError, match=match):
            render_gt_iuv("up3d", "trainval", progress=False, **kwargs)
    update_npz_fields(write_official_fixture(data_dir / "datasets", "up3d", "test", num_records=2).npz_path,
                      has_smpl=np.zeros(2))
    with pytest.raises(ValueError, match="no record has SMPL"):
        render_gt_iuv("up3d", "test", atlas=_atlas(body), progress=False)


def test_cli(data_dir, capsys):
    _write_smpl(data_dir)
    _dataset(data_dir, n=2)
    atlas = _atlas(load("smpl"), name="continuous")
    atlas.save(atlas_path("smpl", "continuous"))  # what load_atlas(smpl, "continuous") finds
    assert render_gt_main(["up3d", "trainval", "--no-progress", "--res", "64"]) == 0
    out = capsys.readouterr().out
    assert "rendered 2" in out and "iuv_atlas='continuous'" in out
    assert len(list((data_dir / "datasets" / "up3d" / "iuv_continuous").rglob("*.png"))) == 2
    assert render_gt_main(["up3d", "trainval", "--no-progress"]) == 0
    assert "skipped 2" in capsys.readouterr().out
    write_official_fixture(data_dir / "datasets", "lsp", "test", num_records=1)
    assert render_gt_main(["lsp", "test"]) == 1
    assert "no SMPL fits" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        render_gt_main(["up3d"])
    assert os.environ["DECOMR_DATA"] == str(data_dir)
