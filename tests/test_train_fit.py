"""Tests for decomr.train.fit: a short in-memory training equals the hand-written loop of
train_step calls it replaces, scores on schedule, and always trains in train mode."""
from __future__ import annotations

import pytest
import torch

from decomr.data.batch import Batch
from decomr.losses import LossConfig
from decomr.models import DecoMR
from decomr.train.data import build_train_dataset
from decomr.train.errors import batch_errors
from decomr.train.fit import fit, mesh_errors, score_batches
from decomr.train.loop import train_step
from decomr.uv import load_atlas, weight_map
from tests.helpers import assert_close
from tests.train_helpers import TINY_MODEL, one_thread, tiny_config  # noqa: F401 (autouse)


@pytest.fixture(scope="module")
def setup(anny_body, tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("run"))
    atlas = load_atlas(anny_body, "continuous")
    data = build_train_dataset(config, anny_body, atlas)
    batch = Batch.collate([data[i] for i in range(4)])
    return config, anny_body, atlas, batch, weight_map(anny_body, atlas, TINY_MODEL.map_size)


def _fresh(setup, seed=0):
    config, body, atlas, *_ = setup
    torch.manual_seed(seed)
    model = DecoMR(config.model, body, atlas).train()
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def test_fit_equals_the_loop_of_train_steps_it_replaces(setup):
    *_, batch, wmap = setup
    batches = lambda k: batch.select([k % 4, (k + 1) % 4])  # noqa: E731
    stage = lambda i: 1 if i <= 2 else 2  # noqa: E731
    model, opt = _fresh(setup)
    rows = fit(model, batches, opt, steps=4, stage=stage, weight_map=wmap, loss_config=LossConfig(consistency=0.5),
               eval_every=2, eval_from=3, eval_sets={"a": batch[:2], "b": batch[2:]}, progress=False)
    ref, ref_opt = _fresh(setup)
    losses = [train_step(ref, batches(i - 1), ref_opt, stage=stage(i), weight_map=wmap,
                         loss_config=LossConfig(consistency=0.5)).losses for i in range(1, 5)]
    for a, b in zip(model.state_dict().values(), ref.state_dict().values()):
        assert_close(a.float(), b.float(), atol=0)  # the same steps, bit for bit
    loss_rows = [r for r in rows if "total" in r]
    assert [r["step"] for r in loss_rows] == [1, 2, 3, 4]
    assert [r["total"] for r in loss_rows] == [l["total"] for l in losses]
    scored = [r for r in rows if "a mpjpe" in r]
    assert [r["step"] for r in scored] == [3, 4]  # at eval_from, then where i - eval_from + 1 is a multiple of 2
    ref.eval()
    with torch.no_grad():
        errors = batch_errors(ref(batch.image[2:]), batch[2:])
    assert scored[-1]["b pve"] == pytest.approx(float(errors["pve"].mean()), rel=1e-5)
    assert set(scored[-1]) == {"step"} | {f"{s} {m}" for s in "ab" for m in ("mpjpe", "pa_mpjpe", "pve")}
    assert model.training  # left in train mode


def test_fit_trains_in_train_mode_even_after_an_evaluation_left_the_model_in_eval(setup):
    *_, batch, wmap = setup
    model, opt = _fresh(setup)
    model.eval()  # e.g. after drawing its predictions
    fit(model, lambda k: batch, opt, steps=2, stage=1, weight_map=wmap, progress=False)
    ref, ref_opt = _fresh(setup)
    for _ in range(2):
        train_step(ref, batch, ref_opt, stage=1, weight_map=wmap)  # ref is in train mode
    bn = [k for k in ref.state_dict() if k.endswith("running_mean")][0]
    assert_close(model.state_dict()[bn], ref.state_dict()[bn], atol=0)  # BatchNorm statistics were updated


def test_score_batches_restores_the_mode_and_bad_arguments(setup):
    *_, batch, wmap = setup
    model, opt = _fresh(setup)
    scores = score_batches(model, {"x": batch}, mesh_errors)
    assert model.training and set(scores["x"]) == {"mpjpe", "pa_mpjpe", "pve"}
    with pytest.raises(ValueError, match="stage: expected 1 or 2"):
        fit(model, lambda k: batch, opt, steps=1, stage=3, progress=False)
    with pytest.raises(ValueError, match="expected >= 0"):
        fit(model, lambda k: batch, opt, steps=-1, progress=False)
