"""Tests for decomr.eval.metrics against independent references (numpy loops, scipy)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.transform import Rotation

from decomr.eval.metrics import (
    SegmentationCounter,
    SegmentationScores,
    mpjpe,
    pa_mpjpe,
    per_vertex_error,
    root_joint,
    similarity_procrustes,
    similarity_transform,
)
from tests.helpers import assert_close


def _rng(seed=0):
    return np.random.default_rng(seed)


def _random_similarity(rng, B):
    R = Rotation.random(B, random_state=rng.integers(1 << 30)).as_matrix()  # (B, 3, 3), det +1
    s = rng.uniform(0.5, 2.0, size=B)
    t = rng.normal(size=(B, 3))
    return s, R, t


# ---- MPJPE ----------------------------------------------------------------------------------------
def naive_mpjpe(pred, gt, root):
    out = []
    for p, g in zip(pred, gt):
        if root == "hips":
            rp, rg = (p[2] + p[3]) / 2, (g[2] + g[3]) / 2
        elif root is None:
            rp = rg = np.zeros(3)
        else:
            rp, rg = p[root], g[root]
        out.append(np.mean([np.linalg.norm((p[j] - rp) - (g[j] - rg)) for j in range(len(p))]))
    return np.array(out)


@pytest.mark.parametrize("root", ["hips", 0, 5, None])
def test_mpjpe_matches_naive_loop(root):
    rng = _rng(1)
    pred, gt = rng.normal(size=(4, 14, 3)), rng.normal(size=(4, 14, 3))
    out = mpjpe(torch.from_numpy(pred), torch.from_numpy(gt), root=root)
    assert out.shape == (4,) and out.dtype == torch.float64
    assert_close(out, naive_mpjpe(pred, gt, root), atol=1e-12)


def test_mpjpe_root_alignment_removes_translation():
    gt = torch.randn(3, 14, 3, dtype=torch.float64)
    shifted = gt + torch.tensor([0.3, -2.0, 5.0], dtype=torch.float64)
    assert mpjpe(shifted, gt, root="hips").abs().max() < 1e-12
    assert mpjpe(shifted, gt, root=0).abs().max() < 1e-12
    assert_close(mpjpe(shifted, gt, root=None), np.full(3, np.sqrt(0.09 + 4 + 25)), atol=1e-12)


def test_mpjpe_float32_and_hips_override():
    pred, gt = torch.randn(2, 24, 3), torch.randn(2, 24, 3)
    assert mpjpe(pred, gt).dtype == torch.float32
    expected = mpjpe(pred - pred[:, [1, 2]].mean(1, keepdim=True), gt - gt[:, [1, 2]].mean(1, keepdim=True), root=None)
    assert_close(mpjpe(pred, gt, hips=(1, 2)), expected, atol=1e-6)


@pytest.mark.parametrize("pred, gt, kwargs, match", [
    (torch.zeros(2, 14, 3), torch.zeros(2, 13, 3), {}, "gt"),
    (torch.zeros(14, 3), torch.zeros(14, 3), {}, "pred"),
    (torch.zeros(2, 14, 2), torch.zeros(2, 14, 2), {}, "pred"),
    (torch.zeros(2, 14, 3), torch.zeros(2, 14, 3), {"root": 14}, "root"),
    (torch.zeros(2, 14, 3), torch.zeros(2, 14, 3), {"root": "pelvis"}, "root"),
    (torch.zeros(2, 14, 3), torch.zeros(2, 14, 3), {"hips": (2, 30)}, "hips"),
])
def test_mpjpe_bad_input(pred, gt, kwargs, match):
    with pytest.raises(ValueError, match=match):
        mpjpe(pred, gt, **kwargs)


def test_root_joint_shapes():
    j = torch.randn(2, 14, 3)
    assert root_joint(j, None).shape == (2, 1, 3) and root_joint(j, None).abs().max() == 0
    assert_close(root_joint(j, 3), j[:, [3]])


# ---- Procrustes -----------------------------------------------------------------------------------
def test_known_similarity_is_removed_exactly():
    rng = _rng(2)
    B = 5
    gt = rng.normal(size=(B, 14, 3))
    s, R, t = _random_similarity(rng, B)
    # pred = (gt - t) R / s  <=>  gt = s R' pred + t with R' = R^T ... build pred from the inverse
    pred = np.einsum("bij,bnj->bni", R.transpose(0, 2, 1), gt - t[:, None]) / s[:, None, None]
    T = similarity_transform(torch.from_numpy(pred), torch.from_numpy(gt))
    assert_close(T.scale, s, atol=1e-10)
    assert_close(T.rotation, R, atol=1e-10)
    assert_close(T.translation, t, atol=1e-10)
    assert pa_mpjpe(torch.from_numpy(pred), torch.from_numpy(gt)).abs().max() < 1e-10


def reference_similarity_procrustes(pred, gt):
    """scipy.linalg.orthogonal_procrustes with the optimal scale (no reflection constraint)."""
    mp, mg = pred.mean(0), gt.mean(0)
    A, Bm = pred - mp, gt - mg
    R, sum_sv = orthogonal_procrustes(A, Bm)  # min ||A R - B||, R orthogonal
    scale = sum_sv / (A ** 2).sum()
    return scale * A @ R + mg, np.linalg.det(R)


def test_procrustes_matches_scipy_orthogonal_procrustes():
    rng = _rng(3)
    B, N = 6, 14
    gt = rng.normal(size=(B, N, 3))
    s, R, t = _random_similarity(rng, B)
    pred = np.einsum("bij,bnj->bni", R, gt) * s[:, None, None] + t[:, None] + 0.2 * rng.normal(size=(B, N, 3))
    ours = similarity_procrustes(torch.from_numpy(pred), torch.from_numpy(gt))
    for b in range(B):
        ref, det = reference_similarity_procrustes(pred[b], gt[b])
        assert det > 0  # noisy rotation: the unconstrained optimum is a rotation, so they agree
        assert_close(ours[b], ref, atol=1e-6)


def test_pa_mpjpe_matches_scipy_spatial_procrustes_disparity():
    rng = _rng(4)
    gt, pred = rng.normal(size=(3, 17, 3)), rng.normal(size=(3, 17, 3))
    gt_t, pred_t = torch.from_numpy(gt), torch.from_numpy(pred)
    aligned = similarity_procrustes(pred_t, gt_t).numpy()
    dets = []
    for b in range(3):
        _, _, disparity = scipy_procrustes(gt[b], pred[b])
        _, det = reference_similarity_procrustes(pred[b], gt[b])
        dets.append(det)
        ours = ((aligned[b] - gt[b]) ** 2).sum() / ((gt[b] - gt[b].mean(0)) ** 2).sum()
        if det > 0:
            assert abs(ours - disparity) < 1e-9
        else:  # scipy picked a reflection; ours is restricted to rotations, so it can only be worse
            assert ours >= disparity - 1e-9
    assert min(dets) < 0 < max(dets)  # both cases exercised with this seed
    naive = np.linalg.norm(aligned - gt, axis=-1).mean(-1)
    assert_close(pa_mpjpe(pred_t, gt_t), naive, atol=1e-12)


def test_reflection_is_fixed_and_matches_kabsch():
    """A mirrored skeleton must be aligned by a proper rotation (det +1), not a reflection."""
    rng = _rng(5)
    gt = rng.normal(size=(14, 3)) * np.array([1.0, 2.0, 0.3])
    pred = gt * np.array([-1.0, 1.0, 1.0]) + 0.01 * rng.normal(size=(14, 3))  # mirror image
    T = similarity_transform(torch.from_numpy(pred)[None], torch.from_numpy(gt)[None])
    assert abs(torch.linalg.det(T.rotation[0]).item() - 1.0) < 1e-10
    _, det = reference_similarity_procrustes(pred, gt)
    assert det < 0  # the unconstrained optimum is indeed a reflection here
    # independent reference: Kabsch over proper rotations (scipy), then the closed-form scale
    A, Bm = pred - pred.mean(0), gt - gt.mean(0)
    rot, _ = Rotation.align_vectors(Bm, A)  # min sum |b_i - R a_i|^2, R in SO(3)
    RA = rot.apply(A)
    scale = (RA * Bm).sum() / (A ** 2).sum()
    ref = scale * RA + gt.mean(0)
    assert_close(similarity_procrustes(torch.from_numpy(pred)[None], torch.from_numpy(gt)[None])[0], ref, atol=1e-6)


def test_procrustes_dtype_degenerate_and_bad_input():
    pred, gt = torch.randn(2, 14, 3), torch.randn(2, 14, 3)
    assert similarity_procrustes(pred, gt).dtype == torch.float32
    assert pa_mpjpe(pred, gt).dtype == torch.float32
    same = torch.ones(1, 14, 3, dtype=torch.float64)  # all points equal: scale 0, maps to gt's centroid
    aligned = similarity_procrustes(same, gt[:1].double())
    assert torch.isfinite(aligned).all()
    assert_close(aligned[0], gt[0].double().mean(0).expand(14, 3), atol=1e-6)
    with pytest.raises(ValueError, match="gt"):
        pa_mpjpe(pred, gt[:, :5])


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(6)
    pred = torch.randn(2, 6, 3, dtype=torch.float64, generator=g, requires_grad=True)
    gt = torch.randn(2, 6, 3, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(lambda p: mpjpe(p, gt), (pred,))
    assert torch.autograd.gradcheck(lambda p: pa_mpjpe(p, gt), (pred,))


# ---- surface error --------------------------------------------------------------------------------
def test_per_vertex_error_alignments():
    rng = _rng(7)
    pred, gt = rng.normal(size=(2, 50, 3)), rng.normal(size=(2, 50, 3))
    pj, gj = rng.normal(size=(2, 14, 3)), rng.normal(size=(2, 14, 3))
    P, G, PJ, GJ = map(torch.from_numpy, (pred, gt, pj, gj))
    naive_none = np.linalg.norm(pred - gt, axis=-1).mean(-1)
    assert_close(per_vertex_error(P, G, align=None), naive_none, atol=1e-12)
    hp, hg = (pj[:, 2] + pj[:, 3]) / 2, (gj[:, 2] + gj[:, 3]) / 2
    naive_hips = np.linalg.norm((pred - hp[:, None]) - (gt - hg[:, None]), axis=-1).mean(-1)
    assert_close(per_vertex_error(P, G, "hips", PJ, GJ), naive_hips, atol=1e-12)
    naive_pelvis = np.linalg.norm((pred - pj[:, None, 0]) - (gt - gj[:, None, 0]), axis=-1).mean(-1)
    assert_close(per_vertex_error(P, G, "pelvis", PJ, GJ), naive_pelvis, atol=1e-12)


def test_per_vertex_error_translation_invariant_and_bad_input():
    v = torch.randn(1, 30, 3, dtype=torch.float64)
    joints = torch.randn(1, 14, 3, dtype=torch.float64)
    shift = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert per_vertex_error(v + shift, v, "hips", joints + shift, joints).abs().max() < 1e-12
    with pytest.raises(ValueError, match="pred_joints"):
        per_vertex_error(v, v, "hips")
    with pytest.raises(ValueError, match="align"):
        per_vertex_error(v, v, "mean", joints, joints)
    with pytest.raises(ValueError, match="gt_joints"):
        per_vertex_error(v, v, "hips", joints, joints[:, :5])


# ---- segmentation ---------------------------------------------------------------------------------
def naive_segmentation(pairs, C, ignore):
    """Official-style loops (DecoMR eval.py / UP-3D): per-class tp/fp/fn summed over images."""
    tp, fp, fn = np.zeros(C), np.zeros(C), np.zeros(C)
    correct = total = correct_excl = total_excl = 0
    for pred, gt in pairs:
        for c in range(C):
            cgt, cpred = gt == c, pred == c
            if ignore is not None:
                cpred = cpred & (gt != ignore)
            tp[c] += (cgt & cpred).sum()
            fp[c] += (~cgt & cpred).sum()
            fn[c] += (cgt & ~cpred).sum()
        g = gt.copy()
        if ignore is not None:
            g[g == ignore] = 0
        correct += (g == pred).sum()
        total += gt.size
        valid = gt != ignore if ignore is not None else np.ones_like(gt, bool)
        correct_excl += (gt[valid] == pred[valid]).sum()
        total_excl += valid.sum()
    f1 = 2 * tp / (2 * tp + fp + fn)
    return correct / total, correct_excl / total_excl, f1


@pytest.mark.parametrize("C, ignore", [(2, None), (7, 255)])
def test_segmentation_counter_matches_official_loops(C, ignore):
    rng = _rng(8)
    counter = SegmentationCounter(C, ignore_index=ignore)
    pairs = []
    for shape in [(20, 30), (17, 11), (40, 8)]:  # images of different sizes, accumulated
        gt = rng.integers(0, C, size=shape)
        if ignore is not None:
            gt[rng.random(shape) < 0.1] = ignore
        pred = np.where(rng.random(shape) < 0.6, np.where(gt == ignore, 0, gt), rng.integers(0, C, size=shape))
        pairs.append((pred, gt))
        counter.update(torch.from_numpy(pred), torch.from_numpy(gt))
    acc, acc_excl, f1 = naive_segmentation(pairs, C, ignore)
    assert abs(counter.accuracy() - acc) < 1e-12
    assert abs(counter.accuracy("exclude") - acc_excl) < 1e-12
    assert_close(counter.f1_per_class(), f1, atol=1e-12)
    assert abs(counter.mean_f1() - f1.mean()) < 1e-12
    scores = counter.result()
    assert isinstance(scores, SegmentationScores) and scores.confusion.shape == (C, C)
    assert counter.num_images == 3


def test_segmentation_counts_are_pooled_not_averaged():
    counter = SegmentationCounter(2)
    counter.update(np.ones((1, 1), dtype=bool), np.ones((1, 1), dtype=bool))  # 1 px, correct
    counter.update(np.zeros((3, 3), dtype=bool), np.ones((3, 3), dtype=bool))  # 9 px, wrong
    assert counter.accuracy() == pytest.approx(1 / 10)  # per-image mean would be 0.5
    f1 = counter.f1_per_class()
    assert f1[0] == 0.0 and f1[1] == pytest.approx(2 / (2 + 9))


def test_segmentation_hand_case_batch_and_merge():
    pred = torch.tensor([[[0, 1], [2, 2]], [[0, 0], [1, 2]]])
    gt = torch.tensor([[[0, 1], [2, 1]], [[0, 0], [1, 2]]])
    a = SegmentationCounter(3)
    a.update(pred, gt)  # (B, H, W)
    # class 0: tp 3; class 1: tp 2, fn 1; class 2: tp 2, fp 1
    assert a.accuracy() == pytest.approx(7 / 8)
    assert_close(a.f1_per_class(), [1.0, 4 / 5, 4 / 5], atol=1e-12)
    b = SegmentationCounter(3)
    b.update(pred[0], gt[0])
    c = SegmentationCounter(3)
    c.update(pred[1], gt[1])
    assert torch.equal(b.merge(c).confusion, a.confusion)


def test_segmentation_absent_class_is_nan_and_excluded_from_mean():
    counter = SegmentationCounter(7)
    counter.update(torch.zeros(4, 4, dtype=torch.long), torch.zeros(4, 4, dtype=torch.long))
    f1 = counter.f1_per_class()
    assert f1[0] == 1.0 and torch.isnan(f1[1:]).all()
    assert counter.mean_f1() == 1.0


def test_segmentation_bad_input():
    with pytest.raises(ValueError, match="num_classes"):
        SegmentationCounter(1)
    with pytest.raises(ValueError, match="ignore_index"):
        SegmentationCounter(7, ignore_index=3)
    counter = SegmentationCounter(2)
    with pytest.raises(ValueError, match="no pixel"):
        counter.accuracy()
    with pytest.raises(ValueError, match="pred"):
        counter.update(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="gt"):
        counter.update(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="pred"):
        counter.update(torch.full((2, 2), 2), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="gt"):
        counter.update(torch.zeros(2, 2, dtype=torch.long), torch.full((2, 2), 255))
    with pytest.raises(ValueError, match="shape"):
        counter.update(torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    counter.update(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="ignored"):
        counter.accuracy("drop")
    with pytest.raises(ValueError, match="other"):
        counter.merge(SegmentationCounter(3))
