"""Tests of decomr.eval.diagnose: per-term gradient norms and the constant-prediction floor."""
from __future__ import annotations

import math

import pytest
import torch

from decomr.losses import LossConfig
from decomr.models import DecoMR
from decomr.train.data import build_test_dataset
from decomr.eval.diagnose import TERMS, constant_prediction_errors, probe_run, term_gradient_norms
from decomr.uv import load_atlas, weight_map
from tests.train_helpers import one_thread, tiny_config  # noqa: F401 (autouse)


@pytest.fixture(scope="module")
def setup(anny_body, tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("run"))
    atlas = load_atlas(anny_body, "continuous")
    torch.manual_seed(0)
    model = DecoMR(config.model, anny_body, atlas).train()
    data = build_test_dataset(config, anny_body, atlas)
    batch = torch.utils.data.default_collate([data[i] for i in range(2)])
    return config, model, batch, weight_map(anny_body, atlas, config.model.map_size)


def test_each_terms_gradient_norm_is_that_of_a_backward_of_the_term_alone(setup):
    config, model, batch, wmap = setup
    norms = term_gradient_norms(model, batch, wmap, config.loss, stage=2)
    assert set(norms) <= set(TERMS) and {"mask", "uv", "location_map", "joints3d"} <= set(norms)
    from decomr.train.loop import _float_output
    from decomr.train.targets import make_targets
    from decomr.losses import compute_losses

    for name in ("uv", "location_map", "joints2d"):  # reference: a config where only this term is on
        only = LossConfig(**{f: (getattr(config.loss, f) if f == name else 0.0)
                             for f in ("mask", "uv", "location_map", "joints3d", "joints2d", "consistency", "tv")})
        model.zero_grad()
        gt = make_targets(batch, model.sampler, iuv_size=model.config.iuv_size)
        total = compute_losses(_float_output(model(batch["image"])), gt.targets, wmap, only).total
        total.backward()
        ref = math.sqrt(sum(float(p.grad.double().pow(2).sum()) for p in model.parameters() if p.grad is not None))
        assert norms[name][0] == pytest.approx(float(total.detach()), rel=1e-4)
        assert norms[name][1] == pytest.approx(ref, rel=1e-3), name
    stage1 = term_gradient_norms(model, batch, wmap, config.loss, stage=1)
    assert set(stage1) == {"mask", "uv"}  # Eq. 4 only


def test_probe_and_constant_floor_on_a_tiny_run(setup):
    config = setup[0]
    rows = probe_run(config, steps=4, every=2, val_size=2, progress=False)
    assert [r.step for r in rows] == [0, 2, 4] and [r.stage for r in rows] == [1, 2, 2]
    assert sum(rows[-1].shares().values()) == pytest.approx(1.0)
    assert rows[0].residual_mm == 0.0  # a fresh LNet predicts exactly the template map (zero residual)
    assert rows[-1].residual_mm >= 0 and rows[-1].camera_scale > 0 and "pa_mpjpe" in rows[-1].metrics
    floors = constant_prediction_errors(config, num_train=8, num_test=2)
    assert set(floors) == {"template", "median"}
    assert floors["template"]["pa_mpjpe"] > 10 and floors["median"]["pa_mpjpe"] > 10
