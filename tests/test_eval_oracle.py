"""Tests for the oracle evaluation (decomr.models.Oracle, evaluate_checkpoint(oracle=...),
decomr.eval.oracle, ``decomr eval --oracle``): each link replaced by its ground truth."""
from __future__ import annotations

import pytest
import torch

from decomr.data.batch import Batch
from decomr.eval.evaluate import evaluate_checkpoint, oracle_for_batch
from decomr.eval.metrics import pa_mpjpe
from decomr.eval.oracle import ORACLE_ROWS, oracle_markdown, oracle_table
from decomr.models import DecoMR, Oracle
from decomr.train.checkpoint import load_model, save_checkpoint
from decomr.train.data import build_test_dataset
from decomr.uv import UVSampler, load_atlas
from tests.train_helpers import one_thread, tiny_config  # noqa: F401 (autouse)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, anny_body):
    """Two tiny untrained models that differ only in their initialisation."""
    folder = tmp_path_factory.mktemp("oracle")
    paths = []
    for seed in (0, 1):
        config = tiny_config(folder / f"s{seed}")
        torch.manual_seed(seed)
        model = DecoMR(config.model, anny_body, load_atlas(anny_body, "continuous"))
        with torch.no_grad():  # make LNet's output depend on the weights (its residual head starts at zero)
            for p in model.lnet.parameters():
                p.add_(0.05 * torch.randn_like(p))
        paths.append(save_checkpoint(folder / f"s{seed}" / "last.pt", model=model, optimizer=None, config=config,
                                     step=4, stage=2))
    return paths


def _batch(anny_body, config, n=2):
    data = build_test_dataset(config, anny_body, load_atlas(anny_body, "continuous"), split="test")
    return Batch.collate([data[i] for i in range(n)])


def test_oracle_puts_the_ground_truth_into_the_chain(two_models, anny_body):
    loaded = load_model(two_models[0])
    model, batch = loaded.model.eval(), _batch(anny_body, load_model(two_models[0]).config)
    with torch.no_grad():
        plain = model(batch.image)
        out = model(batch.image, oracle=oracle_for_batch(model, batch, ("iuv", "camera")))
    assert torch.equal(out.iuv, batch.iuv.float())  # the GT IUV image, binary mask and (u, v) on it
    assert torch.equal(out.camera, batch.camera.float()) and not torch.equal(plain.camera, out.camera)
    assert torch.equal(out.local_features, plain.local_features)  # CNet's own features, read at the GT (u, v)
    assert not torch.allclose(out.transferred, plain.transferred)
    # camera alone: the 3D mesh is exactly the model's
    with torch.no_grad():
        cam = model(batch.image, oracle=Oracle(camera=batch.camera.float()))
    assert torch.equal(cam.vertices, plain.vertices)


def test_gt_location_map_is_the_resolution_floor_whatever_the_weights(two_models, anny_body):
    """With the GT location map the mesh no longer depends on the network: both models give the
    mesh -> map -> mesh round trip of an independently built sampler."""
    outs = []
    for path in two_models:
        loaded = load_model(path)
        batch = _batch(anny_body, loaded.config)
        with torch.no_grad():
            outs.append(loaded.model(batch.image, oracle=oracle_for_batch(loaded.model, batch, ("location_map",))))
    assert torch.equal(outs[0].vertices, outs[1].vertices)
    cfg = load_model(two_models[0]).config.model
    sampler = UVSampler(load_atlas(anny_body, "continuous"), resolution=cfg.map_size,
                        reference=load_atlas(anny_body, "continuous").template if cfg.seam_aware_read else None)
    round_trip = sampler.map_to_mesh(sampler.mesh_to_map(batch.vertices.float()))
    assert torch.allclose(outs[0].vertices, round_trip, atol=1e-5)
    lsp = anny_body.regress_joints(round_trip)[1]
    assert pa_mpjpe(outs[0].lsp_joints, batch.lsp_joints3d).mean() == pytest.approx(
        float(pa_mpjpe(lsp, batch.lsp_joints3d).mean()), abs=1e-5)


def test_oracle_reports_and_table(two_models, tmp_path):
    plain = evaluate_checkpoint(two_models[0], "synthetic", batch_size=2, synthetic_size=2, write=False)
    cam = evaluate_checkpoint(two_models[0], "synthetic", batch_size=2, synthetic_size=2, oracle="camera",
                              out_dir=tmp_path)
    for key in ("mpjpe", "pa_mpjpe", "pve"):  # 3D errors do not depend on the camera
        assert cam.metrics[key] == pytest.approx(plain.metrics[key], abs=1e-4)
    assert cam.metrics["fb_acc"] != pytest.approx(plain.metrics["fb_acc"], abs=1e-6)
    assert (tmp_path / "synthetic-oracle-camera.json").exists() and not (tmp_path / "synthetic.json").exists()
    assert "oracle: GT camera" in (tmp_path / "synthetic-oracle-camera.md").read_text()
    floor = [evaluate_checkpoint(p, "synthetic", batch_size=2, synthetic_size=2, oracle=["location_map"], write=False)
             for p in two_models]
    assert floor[0].metrics["pve"] == pytest.approx(floor[1].metrics["pve"], abs=1e-4)
    assert floor[0].metrics["pve"] < 0.2 * floor[0].baseline["pve"]  # far below the template
    rows = oracle_table(two_models[0], synthetic_size=2, batch_size=2)
    assert [r.label for r in rows] == list(ORACLE_ROWS)
    assert rows[0].metrics["mpjpe"] == pytest.approx(plain.metrics["mpjpe"], abs=1e-4)
    md = oracle_markdown(rows)
    assert md.count("\n") == len(rows) + 3 and "| template body |" in md and "| GT location map |" in md


def test_one_pass_over_all_rows_equals_one_evaluation_per_row(two_models, tmp_path):
    from decomr.eval.evaluate import evaluate_oracles

    link_sets = [(), ("iuv",), ("location_map",), ("iuv", "camera")]
    together = evaluate_oracles(two_models[0], link_sets, synthetic_size=3, batch_size=2, out_dir=tmp_path)
    for links, report in zip(link_sets, together):
        alone = evaluate_checkpoint(two_models[0], "synthetic", batch_size=2, synthetic_size=3, oracle=list(links),
                                    write=False)
        assert report.oracle == list(links) and report.num_samples == alone.num_samples == 3
        assert report.metrics.keys() == alone.metrics.keys()
        for key, value in alone.metrics.items():
            assert report.metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key
        assert report.baseline == pytest.approx(alone.baseline)
        assert (tmp_path / f"{report.name}.json").exists()
    assert together[2].metrics["pve"] < together[0].metrics["pve"]  # the floor is below the untrained model


def test_oracle_errors(two_models, tmp_path, capsys):
    from decomr.cli import main

    with pytest.raises(ValueError, match="expected links among"):
        evaluate_checkpoint(two_models[0], "synthetic", oracle="mesh", write=False)
    with pytest.raises(ValueError, match="only the synthetic data"):
        evaluate_checkpoint(two_models[0], "lsp", oracle="iuv", root=tmp_path, write=False)
    with pytest.raises(ValueError, match="no ground truth"):
        oracle_for_batch(None, Batch(image=torch.zeros(1, 3, 4, 4)), ("iuv",))
    with pytest.raises(ValueError, match=r"Oracle.iuv: expected \(B, 3, h, w\)"):
        Oracle(iuv=torch.zeros(2, 2, 4, 4)).apply_to_cnet(
            type("C", (), {"uv": torch.zeros(2, 2, 4, 4)})())
    assert main(["eval", "--checkpoint", str(two_models[0]), "--oracle-table", "--dataset", "lsp"]) == 2
    assert "synthetic data only" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(two_models[0]), "--oracle-table", "--synthetic-size", "2",
                 "--batch-size", "2", "--out", str(tmp_path / "t")]) == 0
    assert "| GT IUV |" in (tmp_path / "t" / "oracle.md").read_text()


# ------------------------------------------------------------------------------------------------
# stress sweeps
# ------------------------------------------------------------------------------------------------
def test_sweeps_change_one_factor_and_keep_the_people(two_models, anny_body, tmp_path):
    from decomr.data.synthetic import SyntheticBatchGenerator
    from decomr.eval.metrics import facing_direction
    from decomr.eval.stress import _override, stress_sweep, write_sweep
    loaded = load_model(two_models[0])
    gen = SyntheticBatchGenerator(loaded.config.synthetic, body=anny_body)
    base = gen.params("test", range(2))
    g = torch.Generator().manual_seed(0)
    # yaw: the rendered skeleton faces that many degrees away from the camera (-z in the camera frame)
    for yaw in (0.0, 90.0, 180.0):
        batch = gen.render(_override(base, "yaw", yaw, anny_body, g))
        d = facing_direction(batch.lsp_joints3d)  # (B, 3)
        angle = torch.rad2deg(torch.arccos((d * torch.tensor([0.0, 0.0, -1.0])).sum(-1).clamp(-1, 1)))
        assert torch.allclose(angle, torch.full_like(angle, yaw), atol=15.0), (yaw, angle)
    # pose 0: the rest pose; phenotype: only that column changes
    rest = _override(base, "pose", 0.0, anny_body, g)
    assert float(rest.pose.abs().max()) == 0.0 and torch.equal(rest.shape, base.shape)
    tall = _override(base, "height", 1.0, anny_body, g)
    col = anny_body.phenotype_labels.index("height")
    assert (tall.shape[:, col] == 1.0).all() and torch.equal(
        torch.cat([tall.shape[:, :col], tall.shape[:, col + 1:]], 1), torch.cat([base.shape[:, :col], base.shape[:, col + 1:]], 1))
    occ = _override(base, "occlusion", 0.3, anny_body, g)
    assert (occ.occluders.boxes[:, 0, 2:] == torch.tensor([0.3, 0.3, 1.0])).all() and (occ.occluders.boxes[:, 1:, 4] == 0).all()

    result = stress_sweep(two_models[0], "height", values=(0.0, 1.0), num_samples=2, batch_size=2)
    assert result.values == [0.0, 1.0] and len(result.model["pa_mpjpe"]) == 2 and len(result.template["mpjpe"]) == 2
    assert result.measured[1] > result.measured[0] + 0.2  # standing height, metres
    # the template's errors at value v equal template_errors on the same rendered images
    from decomr.eval.evaluate import template_errors

    batch = gen.render(_override(base, "height", 1.0, anny_body, g))
    assert result.template["mpjpe"][1] == pytest.approx(float(template_errors(anny_body, batch)["mpjpe"].mean()), rel=1e-4)
    path = write_sweep(result, tmp_path)
    assert path.name == "sweep_height.json" and '"measured"' in path.read_text()
    with pytest.raises(ValueError, match="factor: expected one of"):
        stress_sweep(two_models[0], "lighting", num_samples=1)


def test_sweep_cli_and_plot(two_models, tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    from decomr.cli import main
    from decomr.eval.stress import SweepResult
    from decomr.viz.stress_plots import plot_sweep, plot_sweeps

    assert main(["eval", "--checkpoint", str(two_models[0]), "--sweep", "nope"]) == 2
    assert "unknown factor" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(two_models[0]), "--sweep", "occlusion", "--sweep-samples", "2",
                 "--batch-size", "2", "--out", str(tmp_path)]) == 0
    import json

    data = json.loads((tmp_path / "sweep_occlusion.json").read_text())
    result = SweepResult(**data)
    assert len(result.values) == 6
    fig = plot_sweep(result)
    assert len(fig.axes) == 2
    fig = plot_sweeps([result, result, result], columns=2)
    assert sum(ax.has_data() for ax in fig.axes) == 3
