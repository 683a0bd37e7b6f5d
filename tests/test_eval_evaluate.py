"""Tests for decomr.eval.evaluate: per-batch metrics against naive references, segmentation from the
projected mesh, and evaluate_checkpoint on the synthetic split and on official-format fixtures
(pipeline correctness with an untrained tiny model, not accuracy)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from decomr.data.batch import Batch
from tests.official_fixture import write_official_fixture
from decomr.eval.evaluate import (EVAL_DATASETS, PAPER_NUMBERS, EvalReport, batch_errors, evaluate_checkpoint,
                                  report_markdown, segmentation_from_mesh, template_baseline, template_errors,
                                  write_report)
from decomr.models import DecoMR
from decomr.train.checkpoint import save_checkpoint
from decomr.train.data import build_test_dataset
from decomr.uv import load_atlas
from tests.train_helpers import tiny_config, one_thread  # noqa: F401 (autouse)


# ------------------------------------------------------------------------------------------------
# batch_errors against naive loops
# ------------------------------------------------------------------------------------------------
def _naive_mpjpe(pred, gt):
    out = []
    for p, g in zip(pred, gt):
        p = p - (p[2] + p[3]) / 2
        g = g - (g[2] + g[3]) / 2
        out.append(sum(float((p[j] - g[j]).norm()) for j in range(len(p))) / len(p))
    return torch.tensor(out)


def test_batch_errors_match_naive_references():
    g = torch.Generator().manual_seed(0)
    b, v = 3, 50
    gt_lsp, pred_lsp = torch.randn(b, 14, 3, generator=g), torch.randn(b, 14, 3, generator=g)
    gt_v, pred_v = torch.randn(b, v, 3, generator=g), torch.randn(b, v, 3, generator=g)
    gt_iuv = torch.zeros(b, 3, 4, 4)
    gt_iuv[:, 0, :2] = 1.0  # top half is foreground
    gt_iuv[:, 1:, :2] = 0.5
    logits = torch.full((b, 1, 4, 4), -1.0)
    logits[:, :, :3] = 1.0  # predicted: top three rows
    uv = torch.full((b, 2, 4, 4), 0.7)
    out = SimpleNamespace(mask_logits=logits, uv=uv, vertices=pred_v, lsp_joints=pred_lsp)
    batch = Batch(image=torch.zeros(b, 3, 4, 4), iuv=gt_iuv, lsp_joints3d=gt_lsp, vertices=gt_v,
                  has_3d=torch.tensor([True, True, False]), has_mesh=torch.ones(b, dtype=torch.bool))
    res = batch_errors(out, batch)
    assert torch.allclose(res["mask_iou"], torch.full((b,), 8 / 12))
    assert torch.allclose(res["mask_acc"], torch.full((b,), 12 / 16))
    assert torch.allclose(res["uv_error"], torch.full((b,), 0.2))
    ref = _naive_mpjpe(pred_lsp, gt_lsp) * 1000
    assert torch.allclose(res["mpjpe"][:2], ref[:2], rtol=1e-5) and torch.isnan(res["mpjpe"][2])
    assert (res["pa_mpjpe"][:2] <= res["mpjpe"][:2] + 1e-3).all()
    hips = lambda j: (j[:, 2] + j[:, 3])[:, None] / 2  # noqa: E731
    pve = ((pred_v - hips(pred_lsp)) - (gt_v - hips(gt_lsp))).norm(dim=-1).mean(-1) * 1000
    assert torch.allclose(res["pve"], pve, rtol=1e-5)
    # CNet-only outputs: IUV metrics only
    res1 = batch_errors(SimpleNamespace(mask_logits=logits, uv=uv, vertices=None), batch)
    assert set(res1) == {"mask_iou", "mask_acc", "uv_error"}


def _yaw(angle: float) -> torch.Tensor:
    c, s = torch.cos(torch.tensor(angle)), torch.sin(torch.tensor(angle))
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def test_facing_error_is_the_yaw_between_two_skeletons(anny_body):
    """A skeleton turned by a yaw about its vertical axis faces that many degrees away."""
    from decomr.eval.metrics import facing_direction, facing_error

    lsp = anny_body.regress_joints(anny_body.template[None])[1]  # canonical frame: y up, z forward
    assert torch.allclose(facing_direction(lsp)[0], torch.tensor([0.0, 0.0, 1.0]), atol=0.05)
    # a hand-made upright skeleton (its chest faces +z exactly): hips, shoulders, neck (LSP order)
    j = torch.zeros(1, 14, 3)
    j[0, 2], j[0, 3] = torch.tensor([-0.1, 0.0, 0.0]), torch.tensor([0.1, 0.0, 0.0])  # right, left hip
    j[0, 8], j[0, 9] = torch.tensor([-0.2, 0.5, 0.0]), torch.tensor([0.2, 0.5, 0.0])  # right, left shoulder
    j[0, 12] = torch.tensor([0.0, 0.55, 0.0])  # neck
    assert torch.allclose(facing_direction(j)[0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)
    for degrees in (0.0, 30.0, 90.0, 135.0, 180.0):
        turned = j @ _yaw(torch.pi * degrees / 180).T
        assert abs(float(facing_error(turned.double(), j.double())[0]) - degrees) < 0.01, degrees
    with pytest.raises(ValueError, match="14"):
        facing_direction(torch.zeros(1, 24, 3))


def test_template_errors_match_a_direct_computation(anny_body, tmp_path):
    """The baseline = the template facing the camera, scored like a prediction (naive references)."""
    from decomr.uv.maps import CAMERA_FACING_ORIENT

    config = tiny_config(tmp_path)
    data = build_test_dataset(config, anny_body, load_atlas(anny_body, "continuous"))
    batch = Batch.collate([data[i] for i in range(2)])
    res = template_errors(anny_body, batch)
    out = anny_body(global_orient=torch.tensor([CAMERA_FACING_ORIENT]))
    verts = out.vertices - out.joints[:, :1]
    lsp = anny_body.regress_joints(verts)[1].expand(2, -1, -1)
    assert torch.allclose(res["mpjpe"], _naive_mpjpe(lsp, batch.lsp_joints3d) * 1000, rtol=1e-4)
    assert (res["pa_mpjpe"] < res["mpjpe"] + 1e-3).all() and (res["pa_mpjpe"] > 10).all()
    means = template_baseline(anny_body, data, max_samples=2)
    assert means["mpjpe"] == pytest.approx(float(res["mpjpe"].mean()), rel=1e-5)
    assert set(means) == {"mpjpe", "pa_mpjpe", "pve", "facing_error"}


def test_oracle_mesh_projection_reproduces_the_synthetic_segmentation(anny_body, tmp_path):
    """The GT mesh, projected with the GT weak-perspective camera, gives the GT part labels."""
    config = tiny_config(tmp_path)
    data = build_test_dataset(config, anny_body, load_atlas(anny_body, "continuous"))
    batch = Batch.collate([data[i] for i in range(2)])
    mask, parts = segmentation_from_mesh(batch.vertices, batch.camera, anny_body, 16)
    assert mask.shape == parts.shape == (2, 16, 16) and parts.max() <= 6
    agree_fg = (mask == (batch.parts > 0).long()).float().mean()
    agree_parts = (parts == batch.parts).float().mean()
    assert agree_fg > 0.9 and agree_parts > 0.85, (float(agree_fg), float(agree_parts))


# ------------------------------------------------------------------------------------------------
# evaluate_checkpoint
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, anny_body):
    folder = tmp_path_factory.mktemp("ck")
    config = tiny_config(folder)
    torch.manual_seed(0)
    model = DecoMR(config.model, anny_body, load_atlas(anny_body, "continuous"))
    full = save_checkpoint(folder / "last.pt", model=model, optimizer=None, config=config, step=4, stage=2)
    cnet = save_checkpoint(folder / "stage1.pt", model=model, optimizer=None, config=config, step=1, stage=1)
    return full, cnet


def test_synthetic_split_report(checkpoints, tmp_path):
    report = evaluate_checkpoint(checkpoints[0], "synthetic", out_dir=tmp_path, batch_size=2, synthetic_size=2)
    assert isinstance(report, EvalReport) and report.num_samples == 2 and report.paper == {}
    for key in ("mpjpe", "pa_mpjpe", "pve", "mask_iou", "uv_error", "fb_acc", "fb_f1", "parts_acc", "parts_f1"):
        assert key in report.metrics, key
    # the segmentation numbers, recomputed here: pooled pixel counts over the two test images
    from decomr.train import load_model

    loaded = load_model(checkpoints[0])
    data = build_test_dataset(loaded.config, loaded.body, loaded.atlas, split="test")
    batch = Batch.collate([data[i] for i in range(2)])
    with torch.no_grad():
        out = loaded.model(batch.image)
    mask, _ = segmentation_from_mesh(out.vertices, out.camera, loaded.body, tuple(batch.parts.shape[-2:]))
    fg = (batch.parts > 0).long()
    assert report.metrics["fb_acc"] == pytest.approx(100 * float((mask == fg).float().mean()), abs=1e-3)
    assert report.metrics["mask_iou"] == pytest.approx(float(batch_errors(out, batch)["mask_iou"].mean()), abs=1e-5)
    assert 0 <= report.metrics["parts_f1"] <= 1
    assert report.model["backbone"] == "resnet18" and report.model["step"] == 4
    data = json.loads((tmp_path / "synthetic.json").read_text())
    assert data["metrics"] == pytest.approx(report.metrics)
    md = (tmp_path / "synthetic.md").read_text()
    assert "| pve |" in md and "synthetic test split" in md and "template body" in md
    assert set(report.baseline) == {"mpjpe", "pa_mpjpe", "pve", "facing_error"}
    # a fresh model's LNet residual is zero: it predicts the template body, so it scores the baseline
    # up to the template's round trip through the tiny model's 32 px location map (~2 cm)
    for key in ("mpjpe", "pa_mpjpe", "pve"):
        assert report.metrics[key] == pytest.approx(report.baseline[key], abs=30.0), key
    stage1 = evaluate_checkpoint(checkpoints[1], "synthetic", write=False, batch_size=2, synthetic_size=2)
    assert "pve" not in stage1.metrics and "mask_iou" in stage1.metrics
    assert any("stage 1" in n for n in stage1.notes)


def test_the_papers_plain_read_of_eq3_on_a_model_trained_with_the_seam_aware_one(checkpoints, tmp_path, capsys):
    """seam_aware_read=False scores the same weights as a checkpoint built with the plain read."""
    from decomr.cli import main
    from decomr.train import load_model

    loaded = load_model(checkpoints[0])
    assert loaded.config.model.seam_aware_read  # decomr's default
    torch.manual_seed(3)
    torch.nn.init.normal_(loaded.model.lnet.head[-1].weight, std=0.05)  # a fresh LNet predicts the template only
    config = loaded.config
    aware = save_checkpoint(tmp_path / "aware.pt", model=loaded.model, optimizer=None, config=config, step=4, stage=2)
    plain = save_checkpoint(tmp_path / "plain.pt", model=loaded.model, optimizer=None, stage=2, step=4,
                            config=config.replace(model=config.model.replace(seam_aware_read=False)))
    kw = dict(batch_size=2, synthetic_size=2)
    as_trained = evaluate_checkpoint(aware, out_dir=tmp_path / "eval", **kw)
    switched = evaluate_checkpoint(aware, out_dir=tmp_path / "eval", seam_aware_read=False, **kw)
    reference = evaluate_checkpoint(plain, write=False, **kw)
    assert switched.metrics == pytest.approx(reference.metrics, rel=1e-6)
    assert abs(switched.metrics["pve"] - as_trained.metrics["pve"]) > 1e-3  # the reads differ
    assert switched.metrics["mask_iou"] == pytest.approx(as_trained.metrics["mask_iou"])  # CNet is untouched
    assert (as_trained.read, switched.read) == ("", "plain") and switched.name == "synthetic-plain-read"
    assert (as_trained.model["seam_aware_read"], switched.model["seam_aware_read"]) == (True, False)
    assert any("plain bilinear" in n and "trained with the seam-aware" in n for n in switched.notes)
    assert {p.name for p in (tmp_path / "eval").iterdir()} == {"synthetic.json", "synthetic.md",
                                                               "synthetic-plain-read.json", "synthetic-plain-read.md"}
    assert "Eq. 3 read: plain" in (tmp_path / "eval" / "synthetic-plain-read.md").read_text()
    same = evaluate_checkpoint(aware, write=False, seam_aware_read=True, **kw)  # the trained read: nothing switched
    assert same.read == "" and same.metrics == pytest.approx(as_trained.metrics)
    # the CLI
    assert main(["eval", "--checkpoint", str(aware), "--read", "plain", "--synthetic-size", "2", "--batch-size", "2",
                 "--out", str(tmp_path / "cli")]) == 0
    cli = json.loads((tmp_path / "cli" / "synthetic-plain-read.json").read_text())
    assert cli["metrics"] == pytest.approx(reference.metrics, rel=1e-6) and "Eq. 3 read: plain" in capsys.readouterr().out


def test_h36m_protocols_on_a_fixture(checkpoints, tmp_path):
    write_official_fixture(tmp_path, "h36m", "valid_p1", num_records=4, off_protocol=2)
    report = evaluate_checkpoint(checkpoints[0], "h36m-p2", root=tmp_path, out_dir=tmp_path / "eval")
    assert report.num_samples == 1  # P2 keeps the frontal camera's frames of S9/S11 (derived from P1)
    assert set(report.metrics) == {"decomr/mpjpe", "decomr/pa_mpjpe"}
    assert report.metrics["decomr/pa_mpjpe"] <= report.metrics["decomr/mpjpe"] + 1e-3
    assert report.paper == PAPER_NUMBERS["h36m-p2"]
    assert any("'cmr-spin' convention" in n and "J_regressor_h36m" in n for n in report.notes)
    md = (tmp_path / "eval" / "h36m-p2.md").read_text()
    assert "| decomr/pa_mpjpe |" in md and "39.30" in md
    p1 = evaluate_checkpoint(checkpoints[0], "h36m-p1", root=tmp_path, write=False)
    assert p1.num_samples == 4


def test_lsp_segmentation_is_counted_in_the_original_images(checkpoints, tmp_path):
    fx = write_official_fixture(tmp_path, "lsp", "test", num_records=2)
    report = evaluate_checkpoint(checkpoints[0], "lsp", root=tmp_path, write=False)
    assert report.num_samples == 2 and set(report.paper) == {"fb_acc", "fb_f1", "parts_acc", "parts_f1"}
    for key in report.paper:
        assert key in report.metrics and report.metrics[key] >= 0
    assert report.metrics["fb_acc"] <= 100 and report.metrics["parts_f1"] <= 1
    assert any("original image" in n for n in report.notes)
    assert fx.image_size == (96, 128)


@pytest.mark.parametrize("dataset, split", [("surreal", "val"), ("3dpw", "test")])
def test_smpl_datasets_say_what_is_missing(checkpoints, tmp_path, dataset, split):
    write_official_fixture(tmp_path, dataset, split, num_records=2)
    report = evaluate_checkpoint(checkpoints[0], dataset, root=tmp_path, write=False)
    assert report.num_samples == 2 and report.metrics == {}
    assert any("SMPL" in n for n in report.notes)


def test_bad_requests_fail_clearly(checkpoints, tmp_path):
    with pytest.raises(ValueError, match="dataset: expected one of"):
        evaluate_checkpoint(checkpoints[0], "coco")
    with pytest.raises(FileNotFoundError, match="h36m"):
        evaluate_checkpoint(checkpoints[0], "h36m-p2", root=tmp_path)
    assert set(PAPER_NUMBERS) < set(EVAL_DATASETS)


def test_report_writers(tmp_path):
    report = EvalReport("h36m-p2", "x.pt", 3, {"decomr/pa_mpjpe": 45.0}, paper=PAPER_NUMBERS["h36m-p2"],
                        notes=["a note"], model={"step": 1})
    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["metrics"] == {"decomr/pa_mpjpe": 45.0}
    md = report_markdown(report)
    assert md == md_path.read_text()
    assert "| decomr/pa_mpjpe | 45.00 | 39.30 |" in md and "| decomr/mpjpe | — | 60.60 |" in md and "- a note" in md
