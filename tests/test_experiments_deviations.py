"""Tests for decomr.experiments.deviations: the paired interval against scipy's paired t-test, the
changed budget, and a paired comparison on the quick budget (a no-op setting gives zero difference,
the changed runs really train with the setting, the template is evaluated on the same images)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from decomr.experiments.budgets import get_budget
from decomr.experiments.deviations import compare_setting, paired_interval, setting_budget
from decomr.experiments.table5_grid import RESULT_FILE, CellSpec


def test_paired_interval_matches_scipy_paired_t_test():
    rng = np.random.default_rng(0)
    base = rng.normal(100, 10, 5)
    changed = base + rng.normal(-3, 2, 5)
    mean, std, (low, high) = paired_interval(list(changed - base))
    ci = stats.ttest_rel(changed, base).confidence_interval(0.95)
    assert mean == pytest.approx(np.mean(changed - base))
    assert std == pytest.approx(np.std(changed - base, ddof=1))
    assert (low, high) == pytest.approx((ci.low, ci.high))
    wider = paired_interval(list(changed - base), level=0.99)[2]
    assert wider[0] < low and wider[1] > high


def test_paired_interval_one_value_and_bad_input():
    mean, std, (low, high) = paired_interval([2.5])
    assert mean == 2.5 and math.isnan(std) and math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError, match="at least one"):
        paired_interval([])
    with pytest.raises(ValueError, match="level"):
        paired_interval([1.0, 2.0], level=1.5)


def test_setting_budget_adds_the_override_and_a_folder_name():
    b = setting_budget("quick", "model.lnet_residual=false")
    assert b.name == "quick-lnet_residual-false"
    assert b.overrides == (*get_budget("quick").overrides, "model.lnet_residual=false")
    with pytest.raises(ValueError, match="key=value"):
        setting_budget("quick", "model.lnet_residual")
    with pytest.raises(ValueError, match="grid sets"):
        setting_budget("quick", "model.atlas=default")


def test_compare_setting_pairs_seeds_on_the_same_images(tmp_path):
    # A setting equal to the default trains the very same runs: every paired difference is 0.
    same = compare_setting("model.lnet_residual=true", budget="quick", seeds=(0, 1), root=tmp_path,
                           metrics=("pa_mpjpe", "pve"))
    for row in same:
        assert row.paired == (0, 1)
        assert row.diffs == pytest.approx([0.0, 0.0], abs=1e-6)
        assert row.template is not None and row.template > 0
    # The changed side trains with the setting, in its own folder; the unchanged side is reused.
    rows = compare_setting("model.lnet_residual=false", budget="quick", seeds=(0,), root=tmp_path)
    record = json.loads((tmp_path / "quick-lnet_residual-false" / CellSpec("continuous", "local+global", 0).folder /
                         RESULT_FILE).read_text())
    assert record["config"]["model"]["lnet_residual"] is False
    pa = next(r for r in rows if r.metric == "pa_mpjpe")
    assert pa.base[0] == pytest.approx(same[0].base[0])
    assert pa.changed[0] == pytest.approx(record["metrics"]["pa_mpjpe"])
    assert pa.template == pytest.approx(same[0].template)
    assert "paired seeds" in pa.sentence() and "template" in pa.sentence()
