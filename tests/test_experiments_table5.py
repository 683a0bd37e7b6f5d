"""Tests for decomr.experiments.{budgets, table5, table5_report}: the Table 5 grid runs end to end
on the quick budget (a 2-cell sub-grid; the notebook covers all 8 cells), finished runs are skipped,
interrupted ones resume, the report holds every row with the paper's numbers, and the orderings and
statistics match independent computations."""
from __future__ import annotations

import logging
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from decomr.cli import main as cli_main
from decomr.eval.evaluate import PAPER_NUMBERS
from decomr.experiments.budgets import BUDGETS, Budget, get_budget
from decomr.cli.experiments import reproduce_main
from decomr.experiments.table5 import (PAPER_TABLE5, RESULT_FILE, TABLE5_ATLASES, TABLE5_INPUTS, CellResult, CellSpec,
                                       Table5Result, cell_config, grid_cells, grid_status, load_table5, run_cell,
                                       run_table5)
from decomr.experiments.table5_grid import summarize
from decomr.experiments.table5_report import check_orderings, compare_pair, table5_markdown
from tests.train_helpers import one_thread  # noqa: F401 (autouse)


# ------------------------------------------------------------------------------------------------
# Budgets, cells, configs
# ------------------------------------------------------------------------------------------------
def test_bad_budget_names_fail_clearly():
    with pytest.raises(ValueError, match=r"budget: expected one of \('quick', 'cpu', 'cpu128', 'gpu'\), got 'huge'"):
        get_budget("huge")
    with pytest.raises(ValueError, match="budget: expected one of"):
        grid_cells("fast")
    with pytest.raises(ValueError, match="budget: expected one of"):
        run_table5("tiny")
    with pytest.raises(SystemExit) as exc:  # argparse rejects it before anything runs
        cli_main(["reproduce", "table5", "--budget", "huge"])
    assert exc.value.code == 2
    with pytest.raises(ValueError, match="the grid sets atlas"):
        Budget("x", ("model.atlas=default",), (0,), (), 4, 4, "cpu", "")
    assert get_budget(BUDGETS["cpu"]) is BUDGETS["cpu"]


def test_grid_cells_and_configs(tmp_path):
    quick = grid_cells("quick")
    assert len(quick) == 8 and len(set(quick)) == 8
    assert {c.cell for c in quick} == {(a, i) for a in TABLE5_ATLASES for i in TABLE5_INPUTS}
    cpu = grid_cells("cpu")  # the decisive pair with seeds 0, 1, 2, then the other cells with seed 0
    assert len(cpu) == 8 + 2 * len(BUDGETS["cpu"].decisive_seeds)
    pair = 2 * (1 + len(BUDGETS["cpu"].decisive_seeds))
    assert {c.cell for c in cpu[:pair]} == {("continuous", "local+global"), ("default", "local+global")}
    assert [c.seed for c in cpu[:pair]] == [0, 0, 1, 1, 2, 2] and {c.seed for c in cpu[pair:]} == {0}
    assert ("local+global" not in {c.lnet_input for c in cpu[pair:]}) and len(set(cpu)) == len(cpu)
    assert len(grid_cells("cpu", seeds=[0, 1], decisive_seeds=[1, 2, 3])) == 16 + 2 * 2
    assert grid_cells("quick", atlases=["continuous"], inputs=["global"]) == [CellSpec("continuous", "global", 0)]
    with pytest.raises(ValueError, match="atlases: expected a non-empty subset"):
        grid_cells("quick", atlases=["smpl"])
    with pytest.raises(ValueError, match="lnet_input: expected one of"):
        CellSpec("default", "pixels", 0)
    spec = CellSpec("default", "pixels+global", 3)
    config = cell_config("cpu", spec, tmp_path)
    assert config.model.atlas == config.synthetic.atlas == "default"
    assert config.model.lnet_input == "pixels+global" and config.train.seed == 3
    assert config.run_dir == tmp_path / "default_pixels_global" / "seed3"
    # Every cell of a budget trains the same way: only atlas, input and seed differ.
    other = cell_config("cpu", CellSpec("continuous", "global", 3), tmp_path).to_dict()
    mine = config.to_dict()
    assert mine["train"] | {"out_dir": ""} == other["train"] | {"out_dir": ""}
    assert mine["data"]["synthetic"] | {"atlas": ""} == other["data"]["synthetic"] | {"atlas": ""}
    assert {k for k in mine["model"] if mine["model"][k] != other["model"][k]} == {"atlas", "lnet_input"}


def test_the_cpu128_cells_share_one_cache_that_serves_both_atlases(tmp_path):
    """All cells of the cpu128 budget read one pre-rendered folder (the issue's shared data cache):
    the same images, each cell's IUV targets on its own atlas."""
    import dataclasses

    from decomr.data.cache import CachedSyntheticDataset, ensure_cache
    from decomr.data.synthetic import SyntheticDataset

    configs = [cell_config("cpu128", CellSpec(a, i, 0), tmp_path) for a in TABLE5_ATLASES for i in TABLE5_INPUTS]
    assert len({c.data.cache for c in configs}) == 1 and configs[0].data.cache
    assert len({dataclasses.replace(c.synthetic, atlas="both") for c in configs}) == 1
    assert all(c.train.amp and c.train.channels_last for c in configs)
    # the same rule on a small copy of the budget's data: one folder, rendered once, both atlases
    small = [dataclasses.replace(c.synthetic, image_size=32, iuv_size=8, train_size=3) for c in configs[::4]]
    folder = ensure_cache(small[0], "train", tmp_path / "cache", workers=1, progress=False)
    assert ensure_cache(small[1], "train", tmp_path / "cache", workers=1, progress=False) == folder
    for syn in small:
        cached, rendered = CachedSyntheticDataset(folder, config=syn)[2], SyntheticDataset("train", config=syn)[2]
        assert (cached["iuv"] - rendered["iuv"]).abs().max() < 5e-4, syn.atlas


def test_paper_table5_agrees_with_the_evaluation_reports():
    assert len(PAPER_TABLE5) == 8
    ours = PAPER_TABLE5[("continuous", "local+global")]
    assert ours.p1_mpjpe == PAPER_NUMBERS["h36m-p1"]["decomr/mpjpe"]
    assert ours.p1_pa_mpjpe == PAPER_NUMBERS["h36m-p1"]["decomr/pa_mpjpe"]
    assert (ours.p2_mpjpe, ours.p2_pa_mpjpe) == (PAPER_NUMBERS["h36m-p2"]["decomr/mpjpe"],
                                                 PAPER_NUMBERS["h36m-p2"]["decomr/pa_mpjpe"])


# ------------------------------------------------------------------------------------------------
# Orderings and statistics (no training)
# ------------------------------------------------------------------------------------------------
def _naive_orderings(v):
    """The four conclusions written out by hand (errors: lower is better)."""
    a = TABLE5_ATLASES
    return [
        all(v[(x, "local")] < v[(x, "global")] for x in a),
        all(v[(x, "local+global")] < v[(x, o)] for x in a for o in ("global", "local", "pixels+global")),
        all(v[(x, "local+global")] < v[(x, "pixels+global")] for x in a),
        all(v[("continuous", i)] < v[("default", i)] for i in TABLE5_INPUTS),
    ]


def test_orderings_match_a_naive_check_on_the_paper_and_random_tables():
    for column in ("p1_mpjpe", "p2_mpjpe", "p1_pa_mpjpe", "p2_pa_mpjpe"):
        values = {cell: getattr(row, column) for cell, row in PAPER_TABLE5.items()}
        assert [o.holds for o in check_orderings(values)] == _naive_orderings(values), column
    assert [o.holds for o in check_orderings({c: r.p2_pa_mpjpe for c, r in PAPER_TABLE5.items()})] == [True] * 4
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        values = {cell: float(x) for cell, x in zip(PAPER_TABLE5, torch.rand(8, generator=g) * 10 + 40)}
        assert [o.holds for o in check_orderings(values)] == _naive_orderings(values)
    partial = {("continuous", "local+global"): 40.0, ("default", "local+global"): 45.0}
    marks = [o.holds for o in check_orderings(partial)]
    assert marks == [None, None, None, None]
    failing = {**partial, ("continuous", "global"): 50.0, ("default", "global"): 44.0}
    assert check_orderings(failing)[3].holds is False  # a failure wins over missing cells


def _fake_grid(seeds=(0, 1, 2)) -> Table5Result:
    g = torch.Generator().manual_seed(1)
    cells = []
    for atlas in TABLE5_ATLASES:
        for k, lnet_input in enumerate(TABLE5_INPUTS):
            for s in seeds:
                base = 100.0 - 5 * k - (3 if atlas == "continuous" else 0)
                noise = torch.randn(3, generator=g).tolist()
                metrics = {"mpjpe": base + noise[0], "pa_mpjpe": base / 2 + noise[1], "pve": base * 1.2 + noise[2]}
                cells.append(CellResult(CellSpec(atlas, lnet_input, s), "cached", metrics, Path("runs/x"), 10, 10,
                                        1.0, 1.0, 16))
    return Table5Result(BUDGETS["cpu"], Path("runs/x"), cells)


def test_summary_and_pair_statistics_match_statistics_module():
    result = _fake_grid()
    summary = summarize(result)
    assert len(summary) == 8
    s = summary[("default", "local")]
    vals = [c.metrics["pa_mpjpe"] for c in result.cells if c.spec.cell == ("default", "local")]
    assert s.mean("pa_mpjpe") == pytest.approx(statistics.fmean(vals))
    assert s.std("pa_mpjpe") == pytest.approx(statistics.stdev(vals))
    assert s.fmt("pa_mpjpe").endswith("(3)") and "±" in s.fmt("pa_mpjpe")
    pair = compare_pair(result, "mpjpe")
    cont = {c.spec.seed: c.metrics["mpjpe"] for c in result.cells if c.spec.cell == ("continuous", "local+global")}
    dflt = {c.spec.seed: c.metrics["mpjpe"] for c in result.cells if c.spec.cell == ("default", "local+global")}
    diffs = [dflt[k] - cont[k] for k in (0, 1, 2)]
    assert pair.paired == (0, 1, 2) and pair.diff_mean == pytest.approx(statistics.fmean(diffs))
    assert pair.diff_std == pytest.approx(statistics.stdev(diffs)) and pair.wins == sum(d > 0 for d in diffs)
    assert "continuous better in" in pair.sentence()


def _grid_of(values: dict) -> Table5Result:
    """A grid from {(atlas, input): {seed: pa_mpjpe}}."""
    cells = [CellResult(CellSpec(a, i, s), "cached", {"pa_mpjpe": v}, Path("runs/x"), 10, 10, 1.0, 1.0, 16)
             for (a, i), by_seed in values.items() for s, v in by_seed.items()]
    return Table5Result(BUDGETS["cpu128"], Path("runs/x"), cells)


def test_difference_intervals_are_scipys_paired_t_and_a_prediction_interval():
    from scipy import stats

    from decomr.experiments.table5_report import difference_intervals

    cont, dflt = {0: 100.0, 1: 104.0, 2: 101.0}, {0: 106.0, 1: 107.5, 2: 110.0}
    grid = _grid_of({("continuous", "local+global"): cont, ("default", "local+global"): dflt,
                     ("continuous", "global"): {0: 103.0}, ("continuous", "local"): {0: 140.0}})
    interval = difference_intervals(grid, "pa_mpjpe")
    lo, hi, basis = interval(("continuous", "local+global"), ("default", "local+global"))
    ref = stats.ttest_rel([cont[s] for s in cont], [dflt[s] for s in cont]).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ref.low, ref.high)) and basis == "paired over 3 seeds"
    # one seed: the decisive pair's paired differences set the width of a prediction interval
    noise = np.array([dflt[s] - cont[s] for s in cont])
    half = stats.t.ppf(0.975, 2) * noise.std(ddof=1) * np.sqrt(1 + 1 / 3)
    lo, hi, basis = interval(("continuous", "local"), ("continuous", "global"))
    assert (lo, hi) == pytest.approx((37.0 - half, 37.0 + half)) and basis.startswith("1 seed")
    assert interval(("default", "local"), ("continuous", "global")) is None  # a cell without runs
    point = check_orderings({("continuous", "global"): 103.0, ("default", "global"): 101.0},
                            intervals=difference_intervals(_grid_of({}), "pa_mpjpe"))[3].checks[0]
    assert point.interval is None and point.interval_text() == "+2.0 mm (no interval): fails"
    orders = check_orderings({c: statistics.fmean(v.values()) for c, v in
                              {("continuous", "local+global"): cont, ("default", "local+global"): dflt,
                               ("continuous", "global"): {0: 103.0}, ("continuous", "local"): {0: 140.0}}.items()},
                             intervals=interval)
    local_beats_global, best, _, continuous_wins = orders
    assert local_beats_global.holds is False and local_beats_global.mark == "fails"  # 140 vs 103, far apart
    pair_check = continuous_wins.checks[TABLE5_INPUTS.index("local+global")]
    assert pair_check.interval == pytest.approx((ref.low, ref.high))
    assert pair_check.verdict in ("holds", "not separable")
    assert (pair_check.verdict == "holds") == (ref.high < 0)
    assert "mm [" in pair_check.interval_text() and "paired over 3 seeds" in pair_check.interval_text()


def test_an_interval_holding_zero_is_not_separable():
    grid = _grid_of({("continuous", "local+global"): {0: 100.0, 1: 110.0, 2: 95.0},
                     ("default", "local+global"): {0: 101.0, 1: 104.0, 2: 99.0}})
    from decomr.experiments.table5_report import difference_intervals

    orders = check_orderings({("continuous", "local+global"): 101.7, ("default", "local+global"): 101.3},
                             intervals=difference_intervals(grid, "pa_mpjpe"))
    chk = orders[3].checks[TABLE5_INPUTS.index("local+global")]
    assert chk.holds is None and chk.verdict == "not separable" and orders[3].mark == "not separable"
    assert orders[0].mark == "n/a"  # no cell of that conclusion ran
    md = table5_markdown(grid, template={"mpjpe": 300.0, "pa_mpjpe": 170.0, "pve": 400.0})
    assert "## The conclusions on our numbers, with 95 % intervals" in md and "not separable" in md
    # 6 runs, PA-MPJPE 95-110 against 0.6 x 170 = 102: the four runs at or below 102 count
    assert "(PA-MPJPE at most 0.6x its 170.0 mm): 4 of 6" in md and "| 0.59 |" in md and "| 0.65 |" in md
    assert "95 % interval [" in md  # the decisive pair's sentence


def test_markdown_has_every_row_and_the_paper_numbers():
    md = table5_markdown(_fake_grid())
    for atlas in TABLE5_ATLASES:
        for lnet_input, label in zip(TABLE5_INPUTS, ("F_G |", "F_L |", "F_G + F_L |", "F_G + raw pixels |")):
            row = PAPER_TABLE5[(atlas, lnet_input)]
            line = next(ln for ln in md.splitlines() if ln.startswith(f"| {'SMPL default' if atlas == 'default' else 'continuous'} / {atlas} | {label}"))
            for value in (row.p1_mpjpe, row.p2_mpjpe, row.p1_pa_mpjpe, row.p2_pa_mpjpe):
                assert f"| {value:.1f} |" in line
            assert "±" in line and "(3)" in line
    for claim in ("local features beat", "local + global is the best", "raw pixels", "continuous UV map beats"):
        assert claim in md
    assert "## The decisive pair" in md and "over 3 paired seeds" in md
    assert "## Every run" in md and md.count("| cached |") == 0  # statuses are not printed, runs are
    # runs evaluated before both reads of Eq. 3 were: the atlas comparison says so
    assert "## The atlas comparison under both reads of Eq. 3" in md and "plain (paper) 0 of 24, seam-aware (decomr) 0 of 24" in md


def test_the_atlas_comparison_under_both_reads_of_eq3():
    from decomr.experiments.table5_report import difference_intervals

    grid = _fake_grid()
    for c in grid.cells:  # the plain read: 2 mm worse with the default atlas, 1 mm with the continuous one
        shift = 2.0 if c.spec.atlas == "default" else 1.0
        c.read_metrics = {"seam-aware": dict(c.metrics), "plain": {k: v + shift for k, v in c.metrics.items()}}
    with pytest.raises(ValueError, match="read: expected one of"):
        grid.with_read("bilinear")
    plain = grid.with_read("plain")
    assert plain.values("default", "local", "pve") == {s: v + 2.0 for s, v in grid.values("default", "local", "pve").items()}
    assert grid.with_read("seam-aware").values("continuous", "global", "mpjpe") == grid.values("continuous", "global", "mpjpe")
    md = table5_markdown(grid, floors={"plain": {"default": 8.4, "continuous": 8.5},
                                       "seam-aware": {"default": 4.6, "continuous": 8.9}}, map_size=64)
    section = md.split("## The atlas comparison under both reads of Eq. 3")[1].split("\n## ")[0]
    assert "plain (paper) 24 of 24, seam-aware (decomr) 24 of 24" in section
    assert "plain (paper) default 8.4 mm, continuous 8.5 mm; seam-aware (decomr) default 4.6 mm" in section
    assert "Resolution floor: the ground-truth mesh sent through a 64 px location map and back (Eq. 3, no network) " \
           "is off by default 4.6 mm, continuous 8.9 mm" in md  # the context uses the trained (seam-aware) read
    for read, label in (("plain", "plain (paper)"), ("seam-aware", "seam-aware (decomr)")):
        lo, hi, _ = difference_intervals(grid.with_read(read), "pa_mpjpe")(("continuous", "global"), ("default", "global"))
        row = next(ln for ln in section.splitlines() if ln.startswith(f"| F_G | {label} |"))
        assert f"[{lo:+.1f}, {hi:+.1f}]" in row.split(" | ")[3]  # the PA-MPJPE column
        assert f"Decisive pair, {label} read: PA-MPJPE: continuous" in section
    # the decisive pair's paired difference is 1 mm smaller with the plain read (2 - 1 mm)
    aware_pair, plain_pair = compare_pair(grid, "pa_mpjpe"), compare_pair(plain, "pa_mpjpe")
    assert plain_pair.diff_mean == pytest.approx(aware_pair.diff_mean + 1.0)
    assert f"default − continuous = {plain_pair.diff_mean:+.1f}" in section


# ------------------------------------------------------------------------------------------------
# The quick grid, end to end (2 cells x 1 seed)
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quick_grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("table5")
    result = run_table5("quick", out_dir=root / "runs", inputs=["local+global"], report_dir=root / "report",
                        progress=False)
    return root, result


def test_quick_grid_trains_evaluates_and_reports(quick_grid):
    root, result = quick_grid
    assert [c.status for c in result.cells] == ["done", "done"] and result.complete
    for c in result.cells:
        assert c.step == c.total_steps == 6 and c.num_test == BUDGETS["quick"].test_size
        for key in ("mpjpe", "pa_mpjpe", "pve", "mask_iou", "fb_acc", "parts_f1"):
            assert key in c.metrics, key
        assert (c.run_dir / RESULT_FILE).is_file() and (c.run_dir / "last.pt").is_file()
        # evaluated with both reads of Eq. 3: the trained (seam-aware) one is the table's
        assert set(c.read_metrics) == {"plain", "seam-aware"} and c.read_metrics["seam-aware"] == c.metrics
        assert c.read_metrics["plain"]["mask_iou"] == pytest.approx(c.metrics["mask_iou"])  # CNet: one model
        assert (c.run_dir / "eval" / "synthetic-plain-read.json").is_file()
    md = (root / "report" / "table5.md").read_text()
    assert (root / "report" / "table5.png").stat().st_size > 10_000
    assert md.count("| SMPL default / default |") == 4 and md.count("| continuous / continuous |") == 4
    assert "39.3" in md and "72.1" in md and "Budget `quick`" in md
    assert "Yardstick: the template body" in md and "Resolution floor" in md
    assert "plain (paper) 2 of 2, seam-aware (decomr) 2 of 2" in md and "| F_G + F_L | plain (paper) |" in md
    loaded = load_table5("quick", root / "runs")
    assert {c.spec for c in loaded.cells} == {c.spec for c in result.cells}
    assert loaded.values("continuous", "local+global", "mpjpe") == result.values("continuous", "local+global", "mpjpe")


def test_finished_runs_are_skipped(quick_grid, caplog):
    root, result = quick_grid
    stamps = {c.spec: (c.run_dir / "last.pt").stat().st_mtime_ns for c in result.cells}
    with caplog.at_level(logging.INFO, logger="decomr.experiments.table5"):
        again = run_table5("quick", out_dir=root / "runs", inputs=["local+global"], write_report=False, progress=False)
    assert [c.status for c in again.cells] == ["cached", "cached"]
    assert {c.spec: (c.run_dir / "last.pt").stat().st_mtime_ns for c in again.cells} == stamps
    assert "finished earlier, skipped" in caplog.text
    assert again.values("default", "local+global", "pve") == result.values("default", "local+global", "pve")


def test_runs_finished_before_both_reads_get_the_missing_one(quick_grid, tmp_path, caplog):
    import json
    import shutil

    root, result = quick_grid
    shutil.copytree(root / "runs", tmp_path / "runs")
    spec = CellSpec("default", "local+global", 0)
    path = tmp_path / "runs" / spec.folder / RESULT_FILE
    record = json.loads(path.read_text())
    plain = record.pop("metrics_by_read")["plain"]
    path.write_text(json.dumps(record))
    assert load_table5("quick", tmp_path / "runs").with_read("plain").values(*spec.cell, "pve") == {}
    with caplog.at_level(logging.INFO, logger="decomr.experiments.table5"):
        again = run_cell("quick", spec, tmp_path / "runs")
    assert again.status == "cached" and "evaluating the plain read" in caplog.text
    assert again.read_metrics["plain"] == pytest.approx(plain)  # the same test images and weights as before
    assert json.loads(path.read_text())["metrics_by_read"]["plain"] == pytest.approx(plain)
    assert json.loads(path.read_text())["eval_seconds"] > record["eval_seconds"]
    # without last.pt the missing read cannot be evaluated: said, and the run stays in the table
    record.pop("metrics_by_read", None)
    path.write_text(json.dumps(record))
    (path.parent / "last.pt").unlink()
    with pytest.warns(UserWarning, match="no last.pt beside it"):
        kept = run_cell("quick", spec, tmp_path / "runs")
    assert kept.status == "cached" and kept.read_metrics == {"seam-aware": again.metrics} == {"seam-aware": kept.metrics}


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path, caplog, capsys):
    spec = CellSpec("continuous", "global", 0)
    first = run_cell("quick", spec, tmp_path, max_minutes=1e-6)  # stops after the first step
    assert first.status == "interrupted" and 0 < first.step < first.total_steps
    assert not (first.run_dir / RESULT_FILE).exists() and (first.run_dir / "last.pt").exists()
    status = grid_status("quick", out_dir=tmp_path)
    assert len(status.cells) == len(grid_cells("quick")) and not status.finished
    started = [c for c in status.cells if c.status == "started"]
    assert [c.spec for c in started] == [spec] and started[0].step == first.step
    assert started[0].total_steps == first.total_steps
    assert {c.status for c in status.cells if c.spec != spec} == {"pending"}
    assert reproduce_main(["table5", "--budget", "quick", "--out", str(tmp_path), "--status"]) == 0
    out = capsys.readouterr().out
    assert f"started      step {first.step}/{first.total_steps}" in out and "0 of 8 runs finished" in out
    with caplog.at_level(logging.INFO, logger="decomr.experiments.table5"):
        second = run_cell("quick", spec, tmp_path)
    assert second.status == "done" and second.step == second.total_steps
    assert "resuming" in caplog.text
    # A run whose budget definition changed is retrained, not reused.
    path = second.run_dir / RESULT_FILE
    path.write_text(path.read_text().replace('"test_size": 8', '"test_size": 9'))
    with pytest.warns(UserWarning, match="another budget definition"):
        third = run_cell("quick", spec, tmp_path)
    assert third.status == "done"


def test_cli_report_only(quick_grid, tmp_path, capsys):
    root, _ = quick_grid
    assert reproduce_main(["table5", "--budget", "quick", "--out", str(root / "runs"), "--report-only",
                           "--report-dir", str(tmp_path)]) == 0
    assert (tmp_path / "table5.md").is_file() and "wrote" in capsys.readouterr().out
    # the fixture ran 2 of the plan's runs: the report says so, rather than "2 of 2"
    plan = len(grid_cells("quick"))
    assert f"Runs finished: 2 of {plan} (partial" in (tmp_path / "table5.md").read_text()
    # finished runs outside the plan (here: the plan has seed 1 only) are counted and kept, not dropped
    assert reproduce_main(["table5", "--budget", "quick", "--out", str(root / "runs"), "--report-only", "--seeds", "1",
                           "--report-dir", str(tmp_path / "seed1")]) == 0
    md = (tmp_path / "seed1" / "table5.md").read_text()
    other = grid_status("quick", seeds=[1], out_dir=root / "runs")
    assert len(other.cells) == len(grid_cells("quick", seeds=[1])) + 2 and len(other.finished) == 2
    assert f"Runs finished: 2 of {len(other.cells)} (partial" in md and "seeds [0]" in md
    assert reproduce_main(["table5", "--budget", "quick", "--out", str(tmp_path / "none"), "--report-only"]) == 2
    assert "no finished run" in capsys.readouterr().err
