"""Tests for decomr.train.loop: lr schedule, one step per stage, NaN guard, gradient accumulation,
evaluation, and a whole tiny run that resumes to the same result."""
from __future__ import annotations

import json
import math

import pytest
import torch

from decomr.losses import LossConfig, compute_losses
from decomr.models import DecoMR
from decomr.train.checkpoint import load_checkpoint
from decomr.train.config import OptimConfig
from decomr.train.data import build_test_dataset, build_test_loader, build_train_dataset
from decomr.train.loop import NonFiniteLossError, StepResult, evaluate, lr_at, train, train_step
from decomr.train.targets import joints_for_loss, make_targets
from decomr.uv import load_atlas, weight_map
from tests.helpers import assert_close
from tests.train_helpers import TINY_MODEL, tiny_config, one_thread  # noqa: F401 (autouse)


# ------------------------------------------------------------------------------------------------
# lr_at
# ------------------------------------------------------------------------------------------------
def test_lr_is_constant_by_default():
    cfg = OptimConfig()
    assert {lr_at(s, cfg, (10, 20)) for s in range(30)} == {2.5e-4}


def test_lr_warmup_restarts_each_stage_and_cosine_ends_at_min_lr():
    cfg = OptimConfig(lr=1.0, warmup_steps=4, lr_schedule="cosine", min_lr=0.1)
    assert [lr_at(s, cfg, (10, 20)) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert [lr_at(s, cfg, (10, 20)) for s in range(10, 14)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(4, cfg, (10, 20)) == pytest.approx(1.0)
    # stage 1: progress (s - 4) / 6 -> cosine from 1 to 0.1
    assert lr_at(7, cfg, (10, 20)) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 3 / 6)))
    assert lr_at(29, cfg, (10, 20)) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 15 / 16)))


# ------------------------------------------------------------------------------------------------
# train_step / evaluate on a tiny model
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def setup(anny_body, tmp_path_factory):
    config = tiny_config(tmp_path_factory.mktemp("run"))
    atlas = load_atlas(anny_body, "continuous")
    data = build_train_dataset(config, anny_body, atlas)
    batch = torch.utils.data.default_collate([data[i] for i in range(4)])
    wmap = weight_map(anny_body, atlas, TINY_MODEL.map_size)
    return config, anny_body, atlas, batch, wmap


def _model(setup, seed=0):
    config, body, atlas, *_ = setup
    torch.manual_seed(seed)
    return DecoMR(config.model, body, atlas).train()


def _params(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before, module):
    return {k for k, v in module.named_parameters() if not torch.equal(before[k], v)}


def test_stage1_trains_cnet_alone_and_stage2_everything(setup):
    config, body, atlas, batch, wmap = setup
    model = _model(setup)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = _params(model)
    r1 = train_step(model, batch, opt, stage=1, weight_map=wmap, lr=1e-3)
    assert isinstance(r1, StepResult) and r1.stage == 1 and r1.num_samples == 4 and r1.lr == 1e-3
    changed = _changed(before, model)
    assert changed and all(k.startswith("cnet.") for k in changed)
    assert not any(k.startswith(("cnet.camera_head", "cnet.global_head")) for k in changed)  # not in Eq. 4
    for name in ("location_map", "joints3d", "joints2d", "consistency", "tv"):
        assert r1.losses[name] == 0.0  # stage 1 = Eq. 4 only
    assert r1.losses["total"] == pytest.approx(r1.losses["mask"] + r1.losses["uv"], rel=1e-5)
    before = _params(model)
    r2 = train_step(model, batch, opt, stage=2, weight_map=wmap)
    changed = _changed(before, model)
    assert any(k.startswith("lnet.") for k in changed) and any(k.startswith("cnet.camera_head") for k in changed)
    assert all(r2.losses[k] > 0 for k in ("mask", "uv", "location_map", "joints3d", "joints2d", "consistency"))
    assert r2.losses["total"] == pytest.approx(r2.losses["iuv"] + r2.losses["loc"] + r2.losses["consistency"]
                                               + r2.losses["tv"], rel=1e-5)
    assert math.isfinite(r2.grad_norm) and r2.grad_norm > 0


def test_step_losses_match_a_direct_computation(setup):
    config, body, atlas, batch, wmap = setup
    model = _model(setup)
    opt = torch.optim.Adam(model.parameters(), lr=0.0)
    model.eval()  # fixed BN statistics, so the two forwards agree
    result = train_step(model, batch, opt, stage=2, weight_map=wmap)
    gt = make_targets(batch, model.sampler)
    assert_close(gt.targets.location_map, model.sampler.mesh_to_map(batch["vertices"]))  # GT map on the fly
    with torch.no_grad():
        terms = compute_losses(joints_for_loss(model(batch["image"]), gt.joint_set), gt.targets, wmap, LossConfig())
    for name, value in terms.as_dict().items():
        assert result.losses[name] == pytest.approx(value, rel=1e-5, abs=1e-8), name


def test_amp_means_bf16_where_the_device_computes_it_natively(monkeypatch):
    import decomr.train.loop as loop

    cpu = torch.device("cpu")
    for native in (True, False):
        monkeypatch.setattr(loop, "cpu_has_native_bf16", lambda native=native: native)
        assert loop.amp_dtype_for(OptimConfig(amp=True), cpu) == (torch.bfloat16 if native else None)
        assert loop.amp_dtype_for(OptimConfig(amp=False), cpu) is None
    monkeypatch.undo()
    flags = set()
    try:  # an independent reading of the CPU's flags
        with open("/proc/cpuinfo") as f:
            flags = {w for line in f if line.startswith("flags") for w in line.split(":", 1)[1].split()}
    except OSError:
        pass
    assert loop.cpu_has_native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})


@pytest.mark.skipif(not __import__("decomr.train.loop", fromlist=["x"]).cpu_has_native_bf16(),
                    reason="this CPU has no native bf16")
def test_bf16_and_channels_last_steps_on_the_cpu_match_fp32(setup):
    """The CPU speed settings of the cpu128 budget change the arithmetic, not the objective:
    channels-last gives the fp32 losses, bf16 autocast the same losses to bf16 precision."""
    config, body, atlas, batch, wmap = setup
    results = {}
    for name, amp, channels_last in (("fp32", None, False), ("nhwc", None, True), ("bf16", torch.bfloat16, True)):
        model = _model(setup).eval()  # fixed BN statistics: the three forwards see the same network
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), lr=0.0)
        results[name] = train_step(model, batch, opt, stage=2, weight_map=wmap, amp_dtype=amp)
    for term in ("mask", "uv", "location_map", "joints3d", "total"):
        ref = results["fp32"].losses[term]
        assert results["nhwc"].losses[term] == pytest.approx(ref, rel=1e-4, abs=1e-7), term
        assert results["bf16"].losses[term] == pytest.approx(ref, rel=5e-2, abs=1e-4), term
    assert results["bf16"].losses["total"] != results["fp32"].losses["total"]  # bf16 really ran
    assert math.isfinite(results["bf16"].grad_norm)


def test_gradient_accumulation_equals_the_mean_of_micro_batch_gradients(setup):
    config, body, atlas, batch, wmap = setup
    model = _model(setup)
    opt = torch.optim.Adam(model.parameters(), lr=0.0)
    train_step(model, batch, opt, stage=2, weight_map=wmap, grad_accum=2)
    accumulated = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    reference = {}
    for half in (slice(0, 2), slice(2, 4)):
        model.zero_grad()
        micro = {k: v[half] for k, v in batch.items() if torch.is_tensor(v)}
        gt = make_targets(micro, model.sampler)
        out = joints_for_loss(model(micro["image"]), gt.joint_set)
        compute_losses(out, gt.targets, wmap).total.backward()
        for k, p in model.named_parameters():
            if p.grad is not None:
                reference[k] = reference.get(k, 0) + p.grad / 2
    assert accumulated.keys() == reference.keys()
    for k in reference:
        assert_close(accumulated[k], reference[k], atol=1e-6, rtol=1e-4, msg=k)


def test_nan_guard_names_the_step_and_terms_and_keeps_the_weights(setup):
    config, body, atlas, batch, wmap = setup
    model = _model(setup)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = _params(model)
    bad = dict(batch)
    bad["joints3d"] = batch["joints3d"].clone()
    bad["joints3d"][0, 5, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"step 17 \(stage 2\): terms joints3d, loc, total not finite") as err:
        train_step(model, bad, opt, stage=2, weight_map=wmap, step=17)
    assert err.value.step == 17 and not math.isfinite(err.value.losses["joints3d"])
    assert not _changed(before, model)
    with pytest.raises(ValueError, match="stage"):
        train_step(model, batch, opt, stage=3, weight_map=wmap)


def test_evaluate_reports_metrics_and_restores_the_mode(setup):
    config, body, atlas, batch, wmap = setup
    model = _model(setup)
    loader = build_test_loader(build_test_dataset(config, body, atlas), batch_size=4)
    result = evaluate(model, loader, weight_map=wmap, max_batches=1)
    assert model.training and result.num_samples == 2
    for key in ("mpjpe", "pa_mpjpe", "pve", "mask_iou", "mask_acc", "uv_error", "loss_total"):
        assert key in result.metrics and math.isfinite(result.metrics[key]), key
    assert result.metrics["pa_mpjpe"] <= result.metrics["mpjpe"] + 1e-3
    assert result.main_metric == ("pve", result.metrics["pve"])
    r1 = evaluate(model, loader, stage=1, max_batches=1)
    assert "pve" not in r1.metrics and "mask_iou" in r1.metrics and r1.main_metric[0] == "none"


# ------------------------------------------------------------------------------------------------
# The whole run
# ------------------------------------------------------------------------------------------------
def _train_rows(history):
    return [r for r in history if r["kind"] == "train"]


def test_train_writes_the_run_folder_and_resumes_exactly(tmp_path):
    full = train(tiny_config(tmp_path / "full", "train.eval_every=2"), progress=False)
    assert full.finished and full.step == 4 and full.total_steps == 4
    files = {p.name for p in (tmp_path / "full").iterdir()}
    assert {"config.yaml", "last.pt", "best.pt", "metrics.jsonl"} <= files
    rows = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2, 3, 4]
    assert [r["stage"] for r in rows if r["kind"] == "train"] == [1, 2, 2, 2]
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [1, 2, 4]  # end of stage 1, every 2, the end
    assert full.best_step in (2, 4) and load_checkpoint(tmp_path / "full" / "best.pt").step == full.best_step

    # The same run in two pieces: 2 steps, then resume to 4.
    part = train(tiny_config(tmp_path / "split", "train.eval_every=2", "train.stage2_steps=1"), progress=False)
    assert part.step == 2
    resumed = train(tiny_config(tmp_path / "split", "train.eval_every=2"), resume=True, progress=False)
    assert resumed.step == 4
    a, b = _train_rows(full.history), _train_rows(resumed.history)
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for ra, rb in zip(a, b):
        for key in ("total", "mask", "uv", "location_map", "joints3d", "joints2d", "consistency", "grad_norm"):
            assert ra[key] == pytest.approx(rb[key], rel=1e-5, abs=1e-7), (ra["step"], key)
    ca, cb = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "split")
    for k in ca.model:
        assert_close(cb.model[k], ca.model[k], atol=1e-6, msg=k)
    assert torch.equal(ca.rng["torch"], cb.rng["torch"])  # the same random streams after resuming
    assert torch.equal(ca.rng["numpy"]["keys"], cb.rng["numpy"]["keys"]) and ca.rng["python"] == cb.rng["python"]


def test_resume_refuses_a_different_model(tmp_path):
    train(tiny_config(tmp_path, "train.stage2_steps=0"), progress=False)
    with pytest.raises(ValueError, match="section 'model' differs"):
        train(tiny_config(tmp_path, "model.lnet_input=local"), resume=True, progress=False)


def test_diverging_run_stops_with_a_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    config = tiny_config(tmp_path, "train.lr=1e30", "train.ckpt_every=1", "train.stage1_steps=0", "train.stage2_steps=4")
    with pytest.raises(NonFiniteLossError, match=r"non-finite training loss at step \d"):
        train(config, progress=False)
    last = load_checkpoint(tmp_path / "last.pt")
    assert 1 <= last.step < 4
    assert all(torch.isfinite(v).all() for v in last.model.values() if v.is_floating_point())


def test_time_limit_stops_cleanly_with_a_checkpoint(tmp_path):
    result = train(tiny_config(tmp_path, "train.max_minutes=1e-9", "train.stage2_steps=1"), progress=False)
    assert not result.finished and result.step == 1 and result.total_steps == 2
    assert load_checkpoint(tmp_path).step == 1
    assert train(tiny_config(tmp_path, "train.stage2_steps=1"), resume=True, progress=False).step == 2


def test_train_on_official_format_fixtures(tmp_path):
    """H36M/UP-3D-format data (here without SMPL: joints only) trains and evaluates through the same loop."""
    from tests.official_fixture import write_official_fixture

    write_official_fixture(tmp_path / "datasets", "up3d", "trainval", num_records=4)
    write_official_fixture(tmp_path / "datasets", "h36m", "train", num_records=4)
    write_official_fixture(tmp_path / "datasets", "h36m", "valid_p2", num_records=2)
    # evaluated during training: the held-out tails of both training sets (H36M's has 3D joints)
    config = tiny_config(tmp_path / "run", "data.source=official", "data.official_train=[h36m:train,up3d:trainval]",
                         "data.official_test=h36m:valid_p2", f"data.official_root={tmp_path / 'datasets'}",
                         "train.stage1_steps=0", "train.stage2_steps=2", "train.tensorboard=true", "train.image_every=1")
    result = train(config, progress=False)
    rows = _train_rows(result.history)
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r["joints2d"] > 0 and r["location_map"] == 0 and r["mask"] == 0 for r in rows)  # no mesh/IUV without SMPL
    assert {"mpjpe", "pa_mpjpe"} <= set(result.last_eval.metrics) and result.last_eval.main_metric[0] == "pa_mpjpe"
    assert any((tmp_path / "run" / "tb").iterdir())  # TensorBoard scalars and sample images


def test_official_runs_select_on_held_out_training_records_never_on_test(tmp_path):
    """best.pt is chosen on the validation tail carved from the training sets: disjoint from the
    records trained on, and not the test split."""
    from tests.official_fixture import write_official_fixture
    from decomr.train.data import build_test_dataset, build_train_dataset

    write_official_fixture(tmp_path / "datasets", "up3d", "trainval", num_records=50, seed=1)
    write_official_fixture(tmp_path / "datasets", "h36m", "valid_p2", num_records=3, seed=2)
    config = tiny_config(tmp_path / "run", "data.source=official", "data.official_train=[up3d:trainval]",
                         "data.official_test=h36m:valid_p2", f"data.official_root={tmp_path / 'datasets'}",
                         "data.official_val_fraction=0.1")
    train_set, val_set = build_train_dataset(config, None, None), build_test_dataset(config, None, None)
    test_set = build_test_dataset(config, None, None, split="test")
    assert len(train_set) == 45 and len(val_set) == 5 and len(test_set) == 3
    from decomr.data.official import OfficialDataset

    full = OfficialDataset("up3d", "trainval", root=tmp_path / "datasets" / "up3d", res=config.model.img_size)
    names = lambda ds, idx: [str(ds[i]["imgname"]) for i in idx]  # noqa: E731
    assert names(val_set, range(5)) == names(full, range(45, 50))  # the tail: whole sequences at the end
    assert not set(names(train_set, range(45))) & set(names(val_set, range(5)))
    assert names(train_set, range(45)) == names(full, range(45))
    with pytest.raises(ValueError, match="official_val_fraction"):
        tiny_config(tmp_path / "run", "data.official_val_fraction=0.7")
