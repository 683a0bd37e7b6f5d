"""Tests for decomr.experiments.tables: one checkpoint on every dataset present (official-format
fixtures for H36M and LSP here), missing datasets skipped with the reason, the paper's rows beside ours."""
from __future__ import annotations

import pytest
import torch

from tests.official_fixture import write_official_fixture
from decomr.eval.evaluate import PAPER_NUMBERS
from decomr.cli.experiments import reproduce_main
from decomr.experiments.tables import PAPER_COMPARISONS, reproduce_tables
from decomr.models import DecoMR
from decomr.train.checkpoint import save_checkpoint
from decomr.uv import load_atlas
from tests.train_helpers import one_thread, tiny_config  # noqa: F401 (autouse)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, anny_body):
    folder = tmp_path_factory.mktemp("ck")
    config = tiny_config(folder)
    torch.manual_seed(0)
    model = DecoMR(config.model, anny_body, load_atlas(anny_body, "continuous"))
    return save_checkpoint(folder / "last.pt", model=model, optimizer=None, config=config, step=4, stage=2)


def test_paper_rows_agree_with_the_evaluation_module():
    ours = {key: dict(t["rows"])[next(n for n, _ in t["rows"] if n.startswith("DecoMR"))]
            for key, t in PAPER_COMPARISONS.items()}
    assert ours["table2"] == (PAPER_NUMBERS["h36m-p2"]["decomr/pa_mpjpe"],)
    assert ours["table3"] == (PAPER_NUMBERS["surreal"]["pve"],)
    assert ours["table4"] == tuple(PAPER_NUMBERS["lsp"][k] for k in ("fb_acc", "fb_f1", "parts_acc", "parts_f1"))
    assert ours["supp_table2"] == (PAPER_NUMBERS["3dpw"]["decomr/pa_mpjpe"],)
    assert ours["table2_p1"] == (PAPER_NUMBERS["h36m-p1"]["decomr/mpjpe"], PAPER_NUMBERS["h36m-p1"]["decomr/pa_mpjpe"])


def test_every_available_dataset_is_evaluated_and_the_others_skipped(checkpoint, tmp_path):
    root = tmp_path / "datasets"
    write_official_fixture(root, "h36m", "valid_p1", num_records=4, off_protocol=2)
    write_official_fixture(root, "lsp", "test", num_records=2)
    out = tmp_path / "tables.md"
    report = reproduce_tables(checkpoint, root=root, out=out, synthetic_size=2, batch_size=2)
    assert set(report.reports) == {"synthetic", "h36m-p1", "h36m-p2", "lsp"}
    assert set(report.skipped) == {"surreal", "3dpw"}
    assert all("surreal" in r or "3dpw" in r for r in report.skipped.values())
    md = out.read_text()
    for value in ("39.3", "50.1", "56.5", "73.6", "92.10", "89.45", "68.5", "59.2", "62.7"):
        assert value in md, value
    assert md.count("**this checkpoint** (") == 3  # H36M P2, P1 and LSP; SURREAL and 3DPW are skipped
    assert md.count("**this checkpoint**: skipped") == 2
    assert "## Synthetic test split" in md and "per-vertex error (Table 3)" in md
    p2 = report.reports["h36m-p2"]
    assert f"| **this checkpoint** ({p2.num_samples} samples) | {p2.metrics['decomr/pa_mpjpe']:.1f} |" in md


def test_bad_dataset_and_cli(checkpoint, tmp_path, capsys):
    with pytest.raises(ValueError, match="datasets: expected names from"):
        reproduce_tables(checkpoint, datasets=["coco"], write=False)
    code = reproduce_main(["tables", "--checkpoint", str(checkpoint), "--root", str(tmp_path), "--out",
                           str(tmp_path / "t.md"), "--synthetic-size", "2", "--device", "cpu"])
    text = capsys.readouterr().out
    assert code == 0 and "skipped h36m-p2" in text and "evaluated: synthetic" in text
    assert (tmp_path / "t.md").is_file()


# ------------------------------------------------------------------------------------------------
# SURREAL and 3DPW need an SMPL model: a fake one in SMPL's format (tests/smpl_fixture.py)
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def smpl_setup(tmp_path, monkeypatch):
    """$DECOMR_DATA -> tmp_path with fake SMPL models (ellipsoids), a hand-made 'continuous' atlas and
    a tiny DecoMR checkpoint trained (for 0 steps) with body=smpl."""
    import numpy as np
    import trimesh

    from decomr.body import _load_cached, load
    from decomr.uv.atlas import UVAtlas, atlas_path
    from tests.smpl_fixture import write_fake_smpl

    monkeypatch.setenv("DECOMR_DATA", str(tmp_path))
    _load_cached.cache_clear()
    ico = trimesh.creation.icosphere(subdivisions=2)  # closed, x -> -x symmetric
    for gender, radii in (("NEUTRAL", (0.25, 0.9, 0.15)), ("MALE", (0.28, 0.95, 0.16)), ("FEMALE", (0.4, 0.7, 0.2))):
        write_fake_smpl(tmp_path / "body_models" / "smpl", filename=f"SMPL_{gender}.pkl",
                        mesh=(np.asarray(ico.vertices) * np.asarray(radii), np.asarray(ico.faces)), seed=1)
    body = load("smpl")
    t = body.template.double()
    raw = torch.stack([t[:, 0], t[:, 1] + 3 * t[:, 2]], dim=1)
    uv = ((raw - raw.min(0).values) / (raw.max(0).values - raw.min(0).values)).float()
    atlas = UVAtlas(name="continuous", uv=uv, faces_uv=body.faces, vt_to_v=torch.arange(body.num_vertices),
                    num_vertices=body.num_vertices, mesh_hash=body.mesh_hash(), body_name="smpl")
    atlas.save(atlas_path("smpl", "continuous"))
    config = tiny_config(tmp_path / "run", "body=smpl")
    torch.manual_seed(0)
    model = DecoMR(config.model, body, load_atlas(body, "continuous"))
    ckpt = save_checkpoint(tmp_path / "run" / "last.pt", model=model, optimizer=None, config=config, step=4, stage=2,
                           body=body)
    for name, split in (("surreal", "val"), ("3dpw", "test")):
        write_official_fixture(tmp_path / "datasets", name, split, num_records=3)
    yield tmp_path, ckpt, body
    _load_cached.cache_clear()


def test_surreal_and_3dpw_are_scored_with_an_smpl_model(smpl_setup):
    from decomr.body import load
    from decomr.eval.metrics import per_vertex_error
    from decomr.train import load_model

    root, ckpt, body = smpl_setup
    report = reproduce_tables(ckpt, root=root / "datasets", datasets=["surreal", "3dpw"], write=False)
    assert not report.skipped
    surreal, tdpw = report.reports["surreal"], report.reports["3dpw"]
    assert surreal.paper == {"pve": 56.5} and tdpw.paper["decomr/pa_mpjpe"] == 68.5
    assert tdpw.metrics["decomr/pa_mpjpe"] <= tdpw.metrics["decomr/mpjpe"] + 1e-3
    # SURREAL's surface error against a per-sample reference: GT meshes posed with the sample's gender.
    from decomr.data.official import OfficialDataset

    data = OfficialDataset("surreal", "val", root=root / "datasets" / "surreal", res=64)
    model = load_model(ckpt).model
    errors = []
    for i in range(len(data)):
        s = data[i]
        g = {0: "male", 1: "female"}.get(int(s.get("gender", -1)), "neutral")
        gt_body = load("smpl", gender=g)
        out = gt_body(shape=s["shape"][None].float(), pose=s["pose"][None].float(),
                      global_orient=s["global_orient"][None].float())
        gt = out.vertices - out.joints[:, :1]
        with torch.no_grad():
            pred = model(s["image"][None])
        errors.append(float(per_vertex_error(pred.vertices, gt, "hips", pred.lsp_joints, body.regress_joints(gt)[1])) * 1000)
    assert surreal.metrics["pve"] == pytest.approx(sum(errors) / len(errors), rel=1e-4)
