"""Tests for decomr.experiments.figures: chart borders and the Laplacian shape error against naive
loops, and Figures 7-9 drawn end to end from tiny untrained checkpoints (pipeline, not accuracy)."""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from decomr.experiments.figures import (ContinuityResult, FailureAnalysis, border_errors, border_vertices,  # noqa: E402
                                        fig7_continuity, fig8_qualitative, fig9_failures, laplacian_error,
                                        make_figures)
from decomr.experiments.table5_grid import RESULT_FILE  # noqa: E402
from decomr.models import DecoMR  # noqa: E402
from decomr.train.checkpoint import save_checkpoint  # noqa: E402
from decomr.uv import load_atlas  # noqa: E402
from tests.helpers import assert_close  # noqa: E402
from tests.train_helpers import one_thread, tiny_config  # noqa: E402,F401 (autouse)

# An octahedron: 6 vertices, 8 faces.
OCTA_V = torch.tensor([[1.0, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
OCTA_F = torch.tensor([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])


def _naive_laplacian(v, faces):
    out = torch.zeros_like(v)
    for i in range(v.shape[0]):
        nbrs = []
        for f in faces.tolist():
            if i in f:
                k = f.index(i)
                nbrs += [f[(k + 1) % 3], f[(k + 2) % 3]]  # each face contributes both edges at i
        out[i] = v[i] - torch.stack([v[j] for j in nbrs]).mean(0)
    return out


def test_laplacian_error_matches_a_naive_loop_and_ignores_translations():
    g = torch.Generator().manual_seed(0)
    gt = OCTA_V[None] + 0.1 * torch.randn(2, 6, 3, generator=g)
    pred = gt + 0.05 * torch.randn(2, 6, 3, generator=g)
    ref = torch.stack([(_naive_laplacian(p, OCTA_F) - _naive_laplacian(q, OCTA_F)).norm(dim=-1)
                       for p, q in zip(pred, gt)])
    assert_close(laplacian_error(pred, gt, OCTA_F), ref, atol=1e-6)
    assert laplacian_error(gt + torch.tensor([0.3, -1.0, 2.0]), gt, OCTA_F).abs().max() < 1e-6
    with pytest.raises(ValueError, match="pred, gt: expected two"):
        laplacian_error(pred[0], gt[0], OCTA_F)
    border = torch.tensor([True, False, False, False, False, True])
    err = laplacian_error(pred, gt, OCTA_F) * 1000
    res = border_errors(pred, gt, OCTA_F, border)
    assert res["border_mm"] == pytest.approx(float(err[:, border].mean()), rel=1e-5)
    assert res["ratio"] == pytest.approx(res["border_mm"] / res["interior_mm"], rel=1e-6)


def test_border_vertices_match_a_naive_count(anny_body):
    # A toy atlas: octahedron vertex 0 has two UV copies (a seam through it).
    vt_to_v = torch.tensor([0, 1, 2, 3, 4, 5, 0])
    faces_uv = OCTA_F.clone()
    faces_uv[4, 1] = 6  # face [2, 0, 5] uses the second copy of vertex 0
    atlas = SimpleNamespace(vt_to_v=vt_to_v, faces_uv=faces_uv, num_vertices=6)
    assert border_vertices(atlas, rings=0).tolist() == [True] + [False] * 5
    ring = border_vertices(atlas, rings=1)
    assert ring.tolist() == [True, False, True, True, True, True]  # every neighbour of 0, not 1
    default = load_atlas(anny_body, "default")
    seams = border_vertices(default, rings=0)
    naive = torch.zeros(anny_body.num_vertices, dtype=torch.long)
    for v in default.vt_to_v.tolist():
        naive[v] += 1
    assert torch.equal(seams, naive > 1) and 0 < float(seams.float().mean()) < 0.5
    assert int(border_vertices(load_atlas(anny_body, "continuous"), rings=0).sum()) < int(seams.sum())


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, anny_body):
    """Untrained tiny models of both atlases (local+global), saved as finished table5 runs."""
    from decomr.experiments.table5 import CellSpec

    root = tmp_path_factory.mktemp("grid")
    paths = {}
    for atlas in ("continuous", "default"):
        folder = root / CellSpec(atlas, "local+global", 0).folder
        config = tiny_config(folder, f"model.atlas={atlas}")
        torch.manual_seed(0)
        model = DecoMR(config.model, anny_body, load_atlas(anny_body, atlas))
        paths[atlas] = save_checkpoint(folder / "last.pt", model=model, optimizer=None, config=config, step=4, stage=2)
    return root, paths


def test_border_vertices_of_the_continuous_map_follow_its_boundary_loop(anny_body):
    igl = pytest.importorskip("igl")
    atlas = load_atlas(anny_body, "continuous")
    loop = igl.boundary_loop(atlas.faces_uv.numpy().astype(np.int64))  # libigl: the UV chart's one boundary
    on_boundary = set(atlas.vt_to_v.numpy()[loop].tolist())
    seam0 = set(torch.nonzero(border_vertices(atlas, rings=0)).flatten().tolist())
    seam1 = set(torch.nonzero(border_vertices(atlas, rings=1)).flatten().tolist())
    # vertices with two UV copies are on the boundary; the cut tree's leaves have one copy and are on it too
    assert seam0 <= on_boundary <= seam1
    leaves = on_boundary - seam0
    assert 2 <= len(leaves) < 0.2 * len(on_boundary)
    assert len(loop) == 2 * (len(on_boundary) - 1)  # a tree cut open: each of its edges appears twice


def test_fig7_draws_both_models_and_measures_borders(checkpoints, tmp_path):
    _, paths = checkpoints
    fig, res = fig7_continuity(paths["continuous"], paths["default"], pool=3, name="fig7_test", folder=tmp_path)
    assert isinstance(res, ContinuityResult) and res.pool == 3 and 0 <= res.index < 3
    assert set(res.errors) == {"continuous", "default"} and all(v["border_mm"] > 0 for v in res.errors.values())
    assert 0 < res.border_fraction < 1 and (tmp_path / "fig7_test.png").stat().st_size > 10_000
    # the continuous map's own seam is measured too: one cut, far fewer vertices than nine charts' borders
    assert set(res.seam_errors) == {"continuous", "default"} and all(v["border_mm"] > 0 for v in res.seam_errors.values())
    assert 0 < res.seam_fraction < res.border_fraction
    assert len(fig.axes) == 3 * 7
    plt.close(fig)
    with pytest.raises(ValueError, match="expected a model trained with atlas 'continuous'"):
        fig7_continuity(paths["default"], paths["continuous"], pool=2, name=None)
    # the paper's plain read of Eq. 3: the same pool scored like evaluate_checkpoint scores it
    from decomr.eval.evaluate import evaluate_checkpoint

    fig, plain = fig7_continuity(paths["continuous"], paths["default"], pool=3, index=res.index, name=None,
                                 seam_aware_read=False)
    plt.close(fig)
    assert (res.read, plain.read) == ("seam-aware", "plain") and plain.index == res.index
    for atlas in ("continuous", "default"):
        report = evaluate_checkpoint(paths[atlas], write=False, synthetic_size=3, seam_aware_read=False)
        assert plain.joint_errors[atlas]["pve"] == pytest.approx(report.metrics["pve"], rel=1e-4)
        assert plain.errors[atlas]["border_mm"] != pytest.approx(res.errors[atlas]["border_mm"], rel=1e-6)


def test_fig8_and_fig9(checkpoints, tmp_path):
    _, paths = checkpoints
    fig = fig8_qualitative(paths["continuous"], indices=(0, 1), name="fig8_test", folder=tmp_path)
    assert len(fig.axes) == 8 and (tmp_path / "fig8_test.png").exists()
    plt.close(fig)
    fig, analysis = fig9_failures(paths["continuous"], pool=4, n=2, name=None)
    assert isinstance(analysis, FailureAnalysis) and len(analysis.shown) == 2 and analysis.worst == 2
    assert analysis.rows[0]["mpjpe"] >= analysis.rows[1]["mpjpe"]  # worst first
    assert analysis.worst_mean["mpjpe"] >= analysis.pool_mean["mpjpe"] - 1e-6
    for key in ("yaw_deg", "back_facing", "pose_from_rest_mm", "occluded", "truncated_joints", "cnet_mask_iou"):
        assert key in analysis.pool_mean, key
    assert 0 <= analysis.pool_mean["yaw_deg"] <= 180 and len(analysis.lines()) == len(analysis.worst_mean)
    plt.close(fig)


def test_make_figures_needs_finished_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="decomr reproduce table5 --budget cpu"):
        make_figures("cpu", out_dir=tmp_path)


def test_make_figures_writes_the_three_figures_and_figure_7_under_both_reads(checkpoints, tmp_path):
    import json

    root, paths = checkpoints
    for path in paths.values():
        (path.parent / RESULT_FILE).write_text("{}")  # marks the runs finished
    written = make_figures("cpu", out_dir=root, figures_dir=tmp_path, pool=3)
    assert [p.name for p in written] == ["fig7_continuity.png", "fig8_qualitative.png", "fig9_failures.png",
                                         "fig7_continuity.json", "fig9_failures.json"]
    assert all(p.stat().st_size > 10_000 for p in written[:3])
    stats = json.loads((root / "figures_stats.json").read_text())
    assert (stats["fig7"]["read"], stats["fig7_other_read"]["read"]) == ("seam-aware", "plain")
    assert stats["fig7_other_read"]["index"] == stats["fig7"]["index"] and stats["fig7"]["pool"] == 3
    fig7, fig9 = (json.loads(p.read_text()) for p in written[3:])  # the numbers beside the figures
    assert fig7["fig7"] == stats["fig7"] and fig7["checkpoints"]["default"] == str(paths["default"])
    assert fig9["pool"] == 3 and fig9["checkpoint"] == str(paths["continuous"]) and fig9["budget"] == "cpu"


def test_figures_8_and_9_of_one_checkpoint_from_the_command_line(checkpoints, tmp_path, capsys):
    from decomr.cli.experiments import reproduce_main

    _, paths = checkpoints
    assert reproduce_main(["figures", "--checkpoint", str(paths["continuous"]), "--figures-dir", str(tmp_path),
                           "--pool", "4"]) == 0
    out = capsys.readouterr().out
    for name in ("fig8_qualitative.png", "fig9_failures.png"):
        assert (tmp_path / name).stat().st_size > 10_000 and name in out
    assert not (tmp_path / "fig7_continuity.png").exists()  # Figure 7 needs two models
    assert reproduce_main(["figures", "--checkpoint", str(tmp_path / "missing.pt")]) == 2


def test_model_figures_write_the_failure_statistics(checkpoints, tmp_path):
    import json

    from decomr.experiments.figures import make_model_figures

    _, paths = checkpoints
    written = make_model_figures(paths["continuous"], figures_dir=tmp_path, pool=4)
    assert [p.name for p in written] == ["fig8_qualitative.png", "fig9_failures.png", "fig9_failures.json"]
    stats = json.loads((tmp_path / "fig9_failures.json").read_text())
    assert stats["pool"] == 4 and stats["worst_mean"]["mpjpe"] >= stats["pool_mean"]["mpjpe"] - 1e-3
