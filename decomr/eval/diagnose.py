"""Why a run does (not) learn: measurements of the first training steps and of the data's floor.

Two questions decide whether a DecoMR trained from scratch beats the template body:

1. **What does the loss reward before the network understands the image?**
   :func:`constant_prediction_errors` measures the best *constant* prediction under Eq. 6's L1
   loss (the per-pixel median of the training set's location maps) on test images. When people
   face every direction, that median is the body averaged over orientations: a squashed body
   whose PA-MPJPE is worse than the template's. A network that cannot tell which way a person
   faces can do no better than this, which is the plateau the early CPU runs sat on.
2. **How do the loss terms pull during the first steps?** :func:`probe_run` trains a config for
   a few hundred steps and records, every few steps, each weighted loss term with the norm of its
   own gradient (so its share of the update), the camera scale against the ground truth's, the
   size of LNet's residual, the learning rate, and the gap between BatchNorm's train-mode and
   eval-mode predictions.

Notebook 06 shows both; ``python -m decomr.eval.diagnose`` prints them for a config.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from decomr.body import load as load_body
from decomr.data.batch import Batch, as_batch
from decomr.data.synthetic import SyntheticDataset
from decomr.eval.metrics import facing_error, mpjpe, pa_mpjpe, per_vertex_error
from decomr.losses import LossConfig, compute_losses
from decomr.models import DecoMR
from decomr.train.config import load_config
from decomr.train.data import build_test_dataset, build_train_source
from decomr.train.errors import MeanTally, batch_errors, template_errors
from decomr.train.loop import STAGE_NAMES, _float_output, lr_at, train_step
from decomr.train.targets import joints_for_loss, make_targets
from decomr.uv import load_atlas, weight_map as make_weight_map
from decomr.uv.sampler import body_sampler

__all__ = ["TERMS", "term_gradient_norms", "ProbeRow", "probe_run", "constant_prediction_errors"]

#: The weighted loss terms of Eq. 1 whose gradients are measured.
TERMS = ("mask", "uv", "location_map", "joints3d", "joints2d", "consistency", "tv")


def term_gradient_norms(model: torch.nn.Module, batch: Batch | dict[str, Any], weight_map: torch.Tensor,
                        loss_config: LossConfig = LossConfig(), stage: int = 2) -> dict[str, tuple[float, float]]:
    """Each weighted loss term's value and the norm of its own gradient over all parameters.

    One backward pass per term (diagnostics only: several times a training step's cost).

    Args:
        model: a :class:`decomr.models.DecoMR` (its mode is used as is).
        batch: a :class:`~decomr.data.batch.Batch` on the model's device (or a dict of its fields).
        weight_map: (R, R) Eq. 6 weights. loss_config: the weights. stage: 1 (Eq. 4) or 2 (Eq. 1).

    Returns:
        term -> (value, gradient norm); terms that are 0 for this stage/config are left out.
    """
    batch = as_batch(batch)
    params = [p for p in model.parameters() if p.requires_grad]
    gt = make_targets(batch, model.sampler, iuv_size=model.config.iuv_size)
    out = joints_for_loss(_float_output(model(batch.image, stage=STAGE_NAMES[stage])), gt.joint_set)
    terms = compute_losses(out, gt.targets, weight_map, loss_config)
    res = {}
    for name in TERMS:
        value = getattr(terms, name)
        if not value.requires_grad:
            continue
        grads = torch.autograd.grad(value, params, retain_graph=True, allow_unused=True)
        norm = math.sqrt(sum(float(g.double().pow(2).sum()) for g in grads if g is not None))
        res[name] = (float(value.detach()), norm)
    return res


@dataclass(frozen=True)
class ProbeRow:
    """What :func:`probe_run` saw at one step.

    Attributes:
        step: optimiser steps done; stage: 1 or 2; lr: learning rate.
        terms: term -> (weighted value, own gradient norm).
        camera_scale: mean predicted weak-perspective scale; camera_scale_gt: the ground truth's.
        residual_mm: mean |location map - template map| over the UV mask, mm (LNet's residual).
        metrics: validation metrics in eval mode (mm, degrees for ``facing_error``).
        bn_gap_mm: PA-MPJPE in train mode (batch statistics) minus eval mode (running statistics).
        seconds: wall time since the start.
    """

    step: int
    stage: int
    lr: float
    terms: dict[str, tuple[float, float]] = field(default_factory=dict)
    camera_scale: float = math.nan
    camera_scale_gt: float = math.nan
    residual_mm: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)
    bn_gap_mm: float = math.nan
    seconds: float = 0.0

    def shares(self) -> dict[str, float]:
        """Each term's share of the summed gradient norms (0..1)."""
        total = sum(g for _, g in self.terms.values()) or 1.0
        return {k: g / total for k, (_, g) in self.terms.items()}


def _metrics(model: torch.nn.Module, batch: Batch, train_mode: bool) -> tuple[dict[str, float], Any]:
    was = model.training
    model.train(train_mode)
    with torch.no_grad():
        out = _float_output(model(batch.image))
    model.train(was)
    return {k: float(v[torch.isfinite(v)].mean()) for k, v in batch_errors(out, batch).items()}, out


def probe_run(config: Any, steps: int = 200, every: int = 20, val_size: int = 32, progress: bool = True) -> list[ProbeRow]:
    """Train ``config`` for ``steps`` steps on the fly and measure every ``every`` steps.

    The schedule is the config's own (stage 1 then stage 2, as long as ``steps`` reaches), so a
    probe of the first steps sees what the real run sees. Nothing is written to disk.

    Args:
        config: a :class:`decomr.train.TrainConfig` (synthetic data).
        steps: optimiser steps to run. every: measure every this many steps (and at step 0).
        val_size: validation images for the metrics (the config's val split).
        progress: show a tqdm bar.

    Returns:
        One :class:`ProbeRow` per measurement.
    """
    if config.data.source != "synthetic":
        raise ValueError("config.data.source: probe_run needs synthetic data")
    torch.manual_seed(config.train.seed)
    body = load_body(config.body)
    atlas = load_atlas(body, config.model.atlas)
    model = DecoMR(config.model, body, atlas)
    wmap = make_weight_map(body, atlas, config.model.map_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr, betas=config.train.betas)
    nocache = config.replace(data=dataclasses.replace(config.data, cache=""))
    source = build_train_source(nocache, body, atlas, torch.device("cpu"), 0, 1, 0)
    val = build_test_dataset(config, body, atlas)
    val_batch = Batch.collate([val[i] for i in range(min(val_size, len(val)))])
    s1, s2 = config.stage_steps(config.data.synthetic.train_size)
    rows: list[ProbeRow] = []
    start = time.perf_counter()
    model.train()
    bar = tqdm(total=steps, disable=not progress, desc="probe", unit="step")
    for step in range(steps + 1):
        stage = 1 if step < s1 else 2
        batch = source.next_batch()
        if step % every == 0 or step == steps:
            terms = term_gradient_norms(model, batch, wmap, config.loss, stage=stage)
            eval_metrics, out = _metrics(model, val_batch, train_mode=False)
            train_metrics, _ = _metrics(model, val_batch, train_mode=True)
            residual = float("nan")
            if out.location_map is not None:
                base = model.lnet.reference_map if not config.model.lnet_residual else model.residual_base
                base = torch.nn.functional.interpolate(base[None], size=out.location_map.shape[-2:], mode="bilinear",
                                                       align_corners=True)
                mask = model.sampler.mask
                residual = float((out.location_map - base).abs()[:, :, mask].mean()) * 1000
            rows.append(ProbeRow(
                step=step, stage=stage, lr=lr_at(step, config.train, (s1, s2)), terms=terms,
                camera_scale=float(out.camera[:, 0].mean()), camera_scale_gt=float(val_batch.camera[:, 0].mean()),
                residual_mm=residual, metrics=eval_metrics,
                bn_gap_mm=train_metrics.get("pa_mpjpe", math.nan) - eval_metrics.get("pa_mpjpe", math.nan),
                seconds=time.perf_counter() - start))
        if step == steps:
            break
        train_step(model, batch, optimizer, stage=stage, weight_map=wmap, loss_config=config.loss,
                   lr=lr_at(step, config.train, (s1, s2)), grad_clip=config.train.grad_clip)
        bar.update(1)
    bar.close()
    source.close()
    return rows


@torch.no_grad()
def constant_prediction_errors(config: Any, num_train: int = 512, num_test: int = 256) -> dict[str, dict[str, float]]:
    """Errors of two predictions that ignore the image, on the same test images.

    * ``template``: the template body facing the camera (a fresh DecoMR with a zero residual);
    * ``median``: the per-pixel median of ``num_train`` training location maps, read back with
      Eq. 3 — the best constant under Eq. 6's L1 loss, i.e. where a network that has not yet
      learned to tell orientations apart is pulled to.

    Args:
        config: a :class:`decomr.train.TrainConfig` (synthetic data; its atlas and map size).
        num_train: training samples for the median. num_test: test samples evaluated.

    Returns:
        {"template": metrics, "median": metrics}, metrics in mm (``facing_error`` in degrees).
    """
    body = load_body(config.body)
    atlas = load_atlas(body, config.model.atlas)
    sampler = body_sampler(body, atlas, config.model.map_size)  # the model's own Eq. 3 (seam-aware)
    train = SyntheticDataset("train", config=config.synthetic, body=body, atlases={atlas.name: atlas})
    maps = [sampler.mesh_to_map(batch.vertices)
            for batch in DataLoader(Subset(train, range(num_train)), batch_size=32, collate_fn=Batch.collate)]
    median = torch.cat(maps).median(dim=0).values  # (3, R, R)
    verts = sampler.map_to_mesh(median[None])  # (1, V, 3)
    lsp = body.regress_joints(verts)[1]
    test = build_test_dataset(config, body, atlas, split="test")
    ours, base = MeanTally(), MeanTally()
    for batch in DataLoader(Subset(test, range(min(num_test, len(test)))), batch_size=32, collate_fn=Batch.collate):
        gt14, b = batch.lsp_joints3d, len(batch)
        v, j = verts.expand(b, -1, -1), lsp.expand(b, -1, -1)
        ours.add("mpjpe", mpjpe(j, gt14) * 1000)
        ours.add("pa_mpjpe", pa_mpjpe(j, gt14).float() * 1000)
        ours.add("pve", per_vertex_error(v, batch.vertices, "hips", j, gt14) * 1000)
        ours.add("facing_error", facing_error(j, gt14))
        for name, values in template_errors(body, batch).items():
            base.add(name, values)
    return {"template": base.result(), "median": ours.result()}


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m decomr.eval.diagnose", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", "-c", default="quick")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--every", type=int, default=20)
    p.add_argument("--out", help="write the rows as JSON here")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    config = load_config(args.config, args.overrides)
    floors = constant_prediction_errors(config)
    print("constant predictions on test images:", json.dumps(floors, indent=1))
    rows = probe_run(config, steps=args.steps, every=args.every)
    for r in rows:
        shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r.shares().items())
        print(f"step {r.step:5d} stage {r.stage} lr {r.lr:.2e} | PA-MPJPE {r.metrics.get('pa_mpjpe', math.nan):6.1f} "
              f"facing {r.metrics.get('facing_error', math.nan):5.1f} | cam s {r.camera_scale:.2f} (gt "
              f"{r.camera_scale_gt:.2f}) | residual {r.residual_mm:6.1f} mm | BN gap {r.bn_gap_mm:+6.1f} | {shares}")
    if args.out:
        Path(args.out).write_text(json.dumps({"constant": floors, "rows": [dataclasses.asdict(r) for r in rows]},
                                             indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
