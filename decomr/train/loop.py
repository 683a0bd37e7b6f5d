"""The training loop of DecoMR (Sec. 3.4), meant to be read top to bottom.

1. :func:`lr_at` — the learning rate of a step (constant in the paper; optional warm-up/cosine).
2. :func:`train_step` — one optimiser step: ground truth on the fly (GT location maps from the
   GT vertices with the model's UV sampler), forward (bf16 autocast on CUDA), Eq. 1 (stage 2) or
   Eq. 4 only (stage 1: CNet alone), backward, NaN/inf guard, Adam step. Returns a
   :class:`StepResult` of loss terms.
3. :func:`evaluate` — mean metrics of a model on a loader (MPJPE, PA-MPJPE, per-vertex error,
   mask IoU, UV error, losses).
4. :func:`train` — the whole run: build everything from a :class:`TrainConfig`, resume from
   ``last.pt`` if asked, loop over steps (stage 1 then stage 2), log (tqdm, ``metrics.jsonl``,
   TensorBoard), evaluate, checkpoint atomically, stop cleanly at ``train.max_minutes``.

Multi-GPU: run the same code under ``torchrun`` (see :mod:`decomr.train.distributed`).
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import logging
import math
import os
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from decomr.body import load as load_body
from decomr.data.batch import Batch, as_batch
from decomr.losses import LossConfig, compute_losses
from decomr.models import DecoMR
from decomr.paths import remove_stale_temporaries
from decomr.train.checkpoint import get_rng_state, load_checkpoint, save_checkpoint, set_rng_state, unwrap_model
from decomr.train.config import OptimConfig, TrainConfig, save_config
from decomr.train.data import (build_test_dataset, build_test_loader, build_train_dataset, build_train_source,
                               resolve_pipeline, to_device)
from decomr.train.distributed import (DistInfo, all_reduce_mean, barrier, cleanup_distributed, init_distributed,
                                      main_process_first, no_sync, wrap_ddp)
from decomr.train.errors import MeanTally, batch_errors
from decomr.train.panels import prediction_panel
from decomr.train.targets import joints_for_loss, make_targets
from decomr.uv import load_atlas, weight_map as make_weight_map

logger = logging.getLogger(__name__)

__all__ = ["lr_at", "StepResult", "NonFiniteLossError", "train_step", "EvalResult", "evaluate", "TrainResult",
           "train", "amp_dtype_for", "STAGE_NAMES", "RunExistsError", "ResumeMismatchError", "prepare_run_dir"]

STAGE_NAMES = {1: "cnet", 2: "full"}  # stage -> DecoMR.forward(stage=...)
LOSS_TERMS = ("mask", "uv", "location_map", "joints3d", "joints2d", "consistency", "tv", "iuv", "loc", "total")


# ================================================================================================
# 1. Learning rate
# ================================================================================================
def lr_at(step: int, config: OptimConfig, stage_steps: tuple[int, int]) -> float:
    """Learning rate of optimiser step ``step`` (0-based, counted over both stages).

    Paper: constant ``config.lr``. Optionally a linear warm-up over the first ``warmup_steps`` of
    each stage (stage 2 starts a freshly initialised LNet) and a cosine decay to ``min_lr`` over
    each stage (``lr_schedule="cosine"``).

    >>> cfg = OptimConfig(lr=1e-3, warmup_steps=10)
    >>> lr_at(0, cfg, (100, 100)), lr_at(50, cfg, (100, 100)), lr_at(104, cfg, (100, 100))
    (0.0001, 0.001, 0.0005)
    """
    s1, s2 = stage_steps
    local, length = (step, s1) if step < s1 else (step - s1, s2)
    if config.warmup_steps and local < config.warmup_steps:
        return config.lr * (local + 1) / config.warmup_steps
    if config.lr_schedule == "cosine" and length > config.warmup_steps:
        progress = min(1.0, (local - config.warmup_steps) / max(1, length - config.warmup_steps))
        return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1.0 + math.cos(math.pi * progress))
    return config.lr


@functools.lru_cache(maxsize=None)
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (x86 AVX512-BF16 or AMX-BF16, read from
    ``/proc/cpuinfo``). There, bf16 autocast about doubles CPU training speed (2.1x for a stage-2
    step of ``configs/cpu.yaml`` on a 2-core AMD EPYC, ``benchmarks/train_throughput.py --cpu-precision``);
    elsewhere oneDNN emulates bf16 and is slower than fp32, so it is not used."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def amp_dtype_for(config: OptimConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``train.amp``: bf16 on CUDA GPUs and on CPUs with native bf16
    (:func:`cpu_has_native_bf16`); None (full fp32) elsewhere or with ``train.amp=false``.
    The weights and Adam's state stay fp32 either way."""
    if not config.amp:
        return None
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else nullcontext()


def _float_output(out: Any) -> Any:
    """Cast every tensor of a DecoMROutput to float32 (losses/metrics run outside autocast)."""
    changes = {f.name: getattr(out, f.name).float() for f in dataclasses.fields(out)
               if torch.is_tensor(getattr(out, f.name)) and getattr(out, f.name).is_floating_point()}
    return dataclasses.replace(out, **changes)


# ================================================================================================
# 2. One optimiser step
# ================================================================================================
@dataclass(frozen=True)
class StepResult:
    """What one :func:`train_step` did.

    Attributes:
        stage: 1 (CNet alone, Eq. 4) or 2 (end to end, Eq. 1).
        losses: weighted loss terms (``mask``, ``uv``, ``location_map``, ``joints3d``,
            ``joints2d``, ``consistency``, ``tv``) and their sums (``iuv``, ``loc``, ``total``),
            averaged over micro-batches.
        grad_norm: global gradient norm before clipping.
        lr: learning rate used.
        num_samples: samples in this process' batch.
    """

    stage: int
    losses: dict[str, float]
    grad_norm: float
    lr: float
    num_samples: int


class NonFiniteLossError(FloatingPointError):
    """A loss or gradient became NaN/inf; raised before the optimiser step (weights untouched)."""

    def __init__(self, step: int, stage: int, losses: dict[str, float], grad_norm: float) -> None:
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        terms = ", ".join(f"{k}={v:.4g}" for k, v in losses.items())
        super().__init__(
            f"non-finite training loss at step {step} (stage {stage}): "
            f"{'terms ' + ', '.join(bad) if bad else 'gradient norm'} not finite "
            f"[{terms}, grad_norm={grad_norm:.4g}]. The optimiser step was skipped; the last good "
            "checkpoint (last.pt) is kept. Try a lower train.lr, train.grad_clip, or train.amp=false.")
        self.step, self.stage, self.losses, self.grad_norm = step, stage, losses, grad_norm


def _micro_batches(batch: Batch, parts: int) -> list[Batch]:
    """Split a batch into ``parts`` equal micro-batches along dim 0."""
    if parts == 1:
        return [batch]
    n = len(batch)
    if n % parts:
        raise ValueError(f"grad_accum: {parts} does not divide the batch of {n} samples")
    size = n // parts
    return [batch.select(slice(k * size, (k + 1) * size)) for k in range(parts)]


def _zero_term(out: Any) -> torch.Tensor:
    """0 x the sum of every output. DDP waits for a gradient of each parameter that reaches the
    outputs, but a loss may not use them all (Eq. 4 in stage 1 leaves out the camera and the
    global feature). The term gives those parameters zero gradients, in one process as with DDP,
    so that both run the same Adam steps."""
    tensors = [getattr(out, f.name) for f in dataclasses.fields(out)]
    return sum(0.0 * t.sum() for t in tensors if torch.is_tensor(t) and t.requires_grad)


def train_step(model: nn.Module, batch: Batch | dict[str, Any], optimizer: torch.optim.Optimizer, *, stage: int,
               weight_map: torch.Tensor, loss_config: LossConfig = LossConfig(), lr: float | None = None,
               grad_accum: int = 1, grad_clip: float = 0.0, amp_dtype: torch.dtype | None = None,
               step: int = 0, body: Any = None, atlas: Any = None) -> StepResult:
    """One optimiser step on ``batch`` (this process' share of the global batch).

    Args:
        model: :class:`~decomr.models.DecoMR` (possibly compiled / wrapped in DDP), in train mode.
        batch: :class:`~decomr.data.batch.Batch` on the model's device (or a dict of its fields; see
            :func:`decomr.train.targets.make_targets`).
        optimizer: Adam over all parameters (in stage 1 LNet gets no gradient and is not updated).
        stage: 1 (CNet alone: Eq. 4) or 2 (end to end: Eq. 1).
        weight_map: (R, R) location-map weights W of Eq. 6.
        loss_config: loss weights.
        lr: learning rate to set before stepping (None = keep the optimiser's).
        grad_accum: micro-batches to split ``batch`` into (gradients accumulate; the losses are
            averaged, so the step equals DDP over as many processes).
        grad_clip: clip the global gradient norm (0 = off).
        amp_dtype: autocast dtype (bf16 on CUDA) or None.
        step: the step index, for error messages.
        body, atlas: only for official data (posing SMPL, rendering GT IUV images).

    Returns:
        :class:`StepResult`.

    Raises:
        NonFiniteLossError: a loss term or the gradient norm is NaN/inf (before the update).
    """
    if stage not in STAGE_NAMES:
        raise ValueError(f"stage: expected 1 or 2, got {stage!r}")
    plain = unwrap_model(model)
    batch = as_batch(batch)
    device = batch.device
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    sums = torch.zeros(len(LOSS_TERMS), device=device)
    parts = _micro_batches(batch, grad_accum)
    for k, micro in enumerate(parts):
        gt = make_targets(micro, plain.sampler, body=body, atlas=atlas, iuv_size=plain.config.iuv_size)
        with no_sync(model, skip=k < len(parts) - 1):
            with _autocast(device, amp_dtype):
                out = model(micro.image, stage=STAGE_NAMES[stage])
            out = joints_for_loss(_float_output(out), gt.joint_set)
            terms = compute_losses(out, gt.targets, weight_map, loss_config)  # Eq. 1 (stage 2) / Eq. 4 (stage 1)
            total = terms.total + _zero_term(out)  # every output in the graph (see _zero_term)
            (total / len(parts)).backward()
        sums += torch.stack([getattr(terms, name).detach().float() for name in LOSS_TERMS]) / len(parts)
    params = [p for p in model.parameters() if p.grad is not None]
    max_norm = grad_clip if grad_clip > 0 else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm) if params else torch.zeros((), device=device)
    values = torch.cat([sums, grad_norm.detach().float().reshape(1)]).tolist()  # the step's one host sync
    losses = dict(zip(LOSS_TERMS, values[:-1]))
    if not all(math.isfinite(v) for v in values):
        optimizer.zero_grad(set_to_none=True)
        raise NonFiniteLossError(step, stage, losses, values[-1])
    optimizer.step()
    return StepResult(stage=stage, losses=losses, grad_norm=values[-1], lr=optimizer.param_groups[0]["lr"],
                      num_samples=len(batch))


# ================================================================================================
# 3. Evaluation
# ================================================================================================
@dataclass(frozen=True)
class EvalResult:
    """Mean metrics over an evaluation set.

    Attributes:
        metrics: name -> mean value. Joint/vertex errors in millimetres (``mpjpe``, ``pa_mpjpe``:
            14 LSP joints, hip-midpoint root — the "decomr" convention; ``pve``: per-vertex error
            after hip alignment, Table 3), ``mask_iou``, ``mask_acc``, ``uv_error`` (mean |uv|
            error on GT foreground, UV units), and the weighted loss terms as ``loss_<term>``.
        num_samples: samples evaluated.
        seconds: wall time.
    """

    metrics: dict[str, float]
    num_samples: int
    seconds: float

    @property
    def main_metric(self) -> tuple[str, float]:
        """The model-selection metric (lower is better): ``pve``, else ``pa_mpjpe``, else ``loss_total``."""
        for name in ("pve", "pa_mpjpe", "loss_total"):
            if name in self.metrics and math.isfinite(self.metrics[name]):
                return name, self.metrics[name]
        return "none", float("inf")


@torch.no_grad()
def evaluate(model: nn.Module, loader: Any, *, stage: int = 2, weight_map: torch.Tensor | None = None,
             loss_config: LossConfig = LossConfig(), max_batches: int | None = None,
             amp_dtype: torch.dtype | None = None, device: torch.device | None = None) -> EvalResult:
    """Evaluate ``model`` on ``loader`` (eval mode; the previous mode is restored).

    Args:
        model: the model (wrappers are removed).
        loader: yields :class:`~decomr.data.batch.Batch` es (synthetic test split or an official dataset).
        stage: 2 (full model; mesh metrics) or 1 (CNet only: IUV metrics).
        weight_map: (R, R) Eq. 6 weights, to report the loss terms (None: no losses).
        loss_config: loss weights.
        max_batches: stop after this many batches.
        amp_dtype: autocast dtype.
        device: where to run (default: the model's device).

    Returns:
        :class:`EvalResult` (sample-weighted means).
    """
    plain = unwrap_model(model)
    device = device or next(plain.parameters()).device
    was_training = plain.training
    plain.eval()
    tally = MeanTally()
    start, n = time.perf_counter(), 0
    for i, batch in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        batch = to_device(batch, device)
        b = len(batch)
        with _autocast(device, amp_dtype):
            out = plain(batch.image, stage=STAGE_NAMES[stage])
        out = _float_output(out)
        for name, values in batch_errors(out, batch).items():  # (B,) per-sample metrics
            tally.add(name, values)
        if weight_map is not None:
            gt = make_targets(batch, plain.sampler, iuv_size=plain.config.iuv_size)
            terms = compute_losses(joints_for_loss(out, gt.joint_set), gt.targets, weight_map, loss_config)
            for name in LOSS_TERMS:  # one value per batch, weighted by its size; a NaN loss shows
                tally.add(f"loss_{name}", getattr(terms, name).expand(b), keep_nan=True)
        n += b
    plain.train(was_training)
    return EvalResult(metrics=tally.result(), num_samples=n, seconds=time.perf_counter() - start)


# ================================================================================================
# 4. The run
# ================================================================================================
@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        run_dir: the run folder (config.yaml, last.pt, best.pt, metrics.jsonl, tb/).
        step: optimiser steps done.
        total_steps: steps of the whole schedule (stage 1 + stage 2).
        finished: False when stopped early by ``train.max_minutes`` (resume to continue).
        best_metric, best_step: the best evaluation (lower is better) and when.
        history: the logged rows (also in ``metrics.jsonl``).
        last_eval: the last :class:`EvalResult` (None if none ran).
    """

    run_dir: Path
    step: int
    total_steps: int
    finished: bool
    best_metric: float
    best_step: int
    history: list[dict[str, Any]] = field(default_factory=list)
    last_eval: EvalResult | None = None


class _Logger:
    """``metrics.jsonl`` rows + TensorBoard scalars/images (rank 0 only)."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool, resume_step: int | None) -> None:
        self.enabled, self.path, self.writer = enabled, run_dir / "metrics.jsonl", None
        self.history: list[dict[str, Any]] = []
        if not enabled:
            return
        if resume_step is not None and self.path.exists():  # drop rows logged after the checkpoint
            rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            self.history = [r for r in rows if r["step"] <= resume_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in self.history))
        elif self.path.exists():
            self.path.unlink()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / "tb"), purge_step=resume_step)
            except ImportError:
                logger.info("tensorboard is not installed: logging to metrics.jsonl only")

    def log(self, row: dict[str, Any], prefix: str) -> None:
        if not self.enabled:
            return
        self.history.append(row)
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("step", "kind", "wall") and isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(f"{prefix}/{key}", value, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _log_sample_images(log: _Logger, model: nn.Module, batch: Batch, stage: int, step: int,
                       faces: torch.Tensor) -> None:
    """TensorBoard (``log.writer``): input | GT IUV | predicted IUV | predicted mesh, for the first sample."""
    plain = unwrap_model(model)
    was_training = plain.training
    plain.eval()
    with torch.no_grad():
        out = _float_output(plain(batch.image[:1].float().contiguous(), stage=STAGE_NAMES[stage]))
    plain.train(was_training)
    log.writer.add_image("samples/prediction", prediction_panel(batch, out, index=0, faces=faces), step,
                         dataformats="HWC")


class RunExistsError(FileExistsError):
    """A fresh run was asked for in a folder that already holds a run (nothing was changed)."""


class ResumeMismatchError(ValueError):
    """``resume`` was asked with a config whose model, loss, data or body differ from the checkpoint's."""


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Make ``run_dir`` ready for a run without losing an earlier one.

    Temporaries left by a killed checkpoint writer are removed. A fresh run (``resume`` False)
    in a folder that holds ``last.pt``, ``best.pt`` or ``metrics.jsonl`` is refused unless
    ``overwrite``, which moves the old run aside to ``<run>.old-<date-time>`` (never deletes it).

    Raises:
        RunExistsError: the folder holds a run and neither ``resume`` nor ``overwrite`` was given.
    """
    for path in remove_stale_temporaries(run_dir):
        logger.info("removed %s (left by a writer that was killed)", path)
    existing = [n for n in ("last.pt", "best.pt", "metrics.jsonl") if (run_dir / n).exists()]
    if resume or not existing:
        return
    if not overwrite:
        raise RunExistsError(
            f"{run_dir} already holds a run ({', '.join(existing)}); nothing was changed. Continue it with "
            f"`decomr train --resume {run_dir}`, start another run with a new name (name=...), or replace it "
            "with --overwrite (the old run is moved aside to <run>.old-<date>, not deleted).")
    aside = run_dir.with_name(f"{run_dir.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
    run_dir.rename(aside)
    logger.warning("moved the previous run %s aside to %s", run_dir, aside)


def train(config: TrainConfig, resume: bool | str | Path = False, progress: bool = True,
          overwrite: bool = False) -> TrainResult:
    """Train DecoMR as configured (stage 1: CNet alone, then stage 2: end to end).

    Args:
        config: the run's :class:`TrainConfig`. To resume, pass the run's config; its ``body``,
            ``model``, ``loss`` and ``data`` must equal the checkpoint's, ``train.*`` may change
            (e.g. a longer ``train.stage2_steps``, another ``train.max_minutes``).
        resume: False (fresh run), True (continue from ``<run>/last.pt`` if it exists) or a
            checkpoint path.
        progress: show a tqdm bar (rank 0).
        overwrite: for a fresh run in a folder that already holds one: move the old run aside
            (``<run>.old-<date-time>``) instead of refusing.

    Returns:
        :class:`TrainResult`.

    Raises:
        RunExistsError: a fresh run into a folder holding a run, without ``overwrite``.
        NonFiniteLossError: training diverged (the message names the step and the loss terms;
            ``last.pt`` holds the last good state).
    """
    if int(os.environ.get("RANK", "0")) == 0:  # torchrun's rank (the process group does not exist yet)
        prepare_run_dir(config.run_dir, bool(resume), overwrite)
    info = init_distributed(config.train.device)
    threads = torch.get_num_threads()
    if config.train.cpu_threads:
        torch.set_num_threads(config.train.cpu_threads)
    try:
        return _train(config, resume, progress, info)
    finally:
        torch.set_num_threads(threads)
        cleanup_distributed()


def _train(config: TrainConfig, resume: bool | str | Path, progress: bool, info: DistInfo) -> TrainResult:
    """The body of :func:`train` (after the process group and the CPU threads are set up)."""
    ckpt = None
    if resume:
        path = Path(resume) if not isinstance(resume, bool) else config.run_dir / "last.pt"
        if path.is_dir():
            path = path / "last.pt"
        if path.exists():
            ckpt = load_checkpoint(path, map_location="cpu")
            config = _resume_config(ckpt.config, config)
        elif not isinstance(resume, bool):
            raise FileNotFoundError(f"resume: no checkpoint at {path}")
    t = config.train
    run_dir = config.run_dir
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")

    # ---- model, data, optimiser -------------------------------------------------------------
    torch.manual_seed(t.seed)  # same initial weights on every rank
    with main_process_first(info):  # rank 0 builds/caches the atlas first
        body = load_body(config.body)
        atlas = load_atlas(body, config.model.atlas)
    model = DecoMR(config.model, body, atlas).to(info.device)
    if t.channels_last:  # NHWC: faster convolutions on CUDA and with oneDNN on the CPU
        model = model.to(memory_format=torch.channels_last)
    weight_map = make_weight_map(body, atlas, config.model.map_size).to(info.device)  # Eq. 6's W
    # Official data: SMPL meshes are posed on the device (a copy: the loaded body is shared and cached).
    target_body = body if info.device.type == "cpu" or config.data.source != "official" \
        else copy.deepcopy(body).to(info.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr, betas=t.betas, weight_decay=t.weight_decay)
    step, best_metric, best_step = 0, float("inf"), -1
    if ckpt is not None:
        model.load_state_dict(ckpt.model)
        optimizer.load_state_dict(ckpt.optimizer)
        step, best_metric, best_step = ckpt.step, ckpt.best_metric, ckpt.best_step
    pipeline = resolve_pipeline(config, info.device)
    train_set = build_train_dataset(config, body, atlas) if pipeline == "loader" else None
    dataset_size = len(train_set) if train_set is not None else getattr(config.data.synthetic, "train_size", None)
    s1, s2 = config.stage_steps(dataset_size)
    total = s1 + s2
    source = build_train_source(config, body, atlas, info.device, info.rank, info.world_size, step, train_set)
    test_loader = None
    if info.is_main:
        test_set = build_test_dataset(config, body, atlas)
        test_loader = build_test_loader(test_set, batch_size=max(1, t.batch_size // info.world_size),
                                        num_workers=min(t.num_workers, 4), pin_memory=info.device.type == "cuda")
    if ckpt is not None and ckpt.rng is not None:
        set_rng_state(ckpt.rng)  # last: everything above may have drawn random numbers
    amp_dtype = amp_dtype_for(t, info.device)
    compiled = torch.compile(model) if t.compile else model
    log = _Logger(run_dir, info.is_main, t.tensorboard, ckpt.step if ckpt is not None else None)
    if info.is_main:
        logger.info("%s %s at step %d/%d (stage 1: %d steps CNet alone, stage 2: %d steps end to end) on %s x%d",
                    "resuming" if ckpt is not None else "starting", run_dir, step, total, s1, s2, info.device,
                    info.world_size)

    def checkpoint(name: str, rng: bool = True) -> None:
        if info.is_main:
            save_checkpoint(run_dir / name, model=model, optimizer=optimizer, config=config, step=step,
                            stage=2 if step > s1 else 1, best_metric=best_metric, best_step=best_step, rng=rng,
                            body=body)

    def run_eval() -> EvalResult | None:
        nonlocal best_metric, best_step
        result = None
        if info.is_main:
            stage = 2 if step > s1 else 1  # only CNet is trained until step s1
            rng = get_rng_state()  # evaluating must not change the training's random streams
            result = evaluate(model, test_loader, stage=stage, weight_map=weight_map, loss_config=config.loss,
                              max_batches=t.eval_batches, amp_dtype=amp_dtype, device=info.device)
            set_rng_state(rng)
            log.log({"step": step, "kind": "eval", "stage": stage, **result.metrics, "wall": time.time()}, "eval")
            name, value = result.main_metric
            if stage == 2 and value < best_metric:
                best_metric, best_step = value, step
                checkpoint("best.pt", rng=False)
            logger.info("eval at step %d: %s", step, ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items()))
        barrier(info)
        return result

    # ---- the loop ----------------------------------------------------------------------------
    model.train()
    ddp, ddp_stage = None, None
    last_eval: EvalResult | None = None
    window: dict[str, float] = defaultdict(float)
    window_steps, window_start = 0, time.perf_counter()
    start_time = time.perf_counter()
    stopped_early = False
    bar = tqdm(total=total, initial=step, disable=not (progress and info.is_main), desc=config.name, unit="step",
               dynamic_ncols=True)
    try:
        while step < total:
            stage = 1 if step < s1 else 2
            if ddp_stage != stage:  # LNet is unused in stage 1: DDP must know (find_unused_parameters)
                ddp, ddp_stage = wrap_ddp(compiled, info, find_unused_parameters=stage == 1, sync_bn=t.sync_bn), stage
            batch = source.next_batch()
            result = train_step(ddp, batch, optimizer, stage=stage, weight_map=weight_map, loss_config=config.loss,
                                lr=lr_at(step, t, (s1, s2)), grad_accum=t.grad_accum, grad_clip=t.grad_clip,
                                amp_dtype=amp_dtype, step=step, body=target_body, atlas=atlas)
            step += 1
            bar.update(1)
            for k, v in {**result.losses, "grad_norm": result.grad_norm}.items():
                window[k] += v
            window_steps += 1
            if step % t.log_every == 0 or step == total:
                elapsed = time.perf_counter() - window_start
                means = torch.tensor([window[k] / window_steps for k in window], device=info.device)
                means = all_reduce_mean(means, info).tolist()
                row = {"step": step, "kind": "train", "stage": stage, "lr": result.lr,
                       **dict(zip(window, means)),
                       "images_per_s": window_steps * t.batch_size / max(elapsed, 1e-9),
                       "wall": time.time()}  # Unix time: the run's wall time across resumed chunks
                log.log(row, "train")
                bar.set_postfix(stage=stage, loss=f"{row['total']:.4f}", ips=f"{row['images_per_s']:.1f}")
                window, window_steps, window_start = defaultdict(float), 0, time.perf_counter()
            if t.image_every and step % t.image_every == 0 and info.is_main and log.writer is not None:
                _log_sample_images(log, model, batch, stage, step, body.faces)
            if step == s1 and s1 > 0 and s2 > 0 or (t.eval_every and step % t.eval_every == 0 and step < total):
                last_eval = run_eval() or last_eval
            if step % t.ckpt_every == 0 and step < total:
                checkpoint("last.pt")
            if t.max_minutes and step < total:
                out_of_time = torch.tensor(float(time.perf_counter() - start_time > 60 * t.max_minutes),
                                           device=info.device)
                if all_reduce_mean(out_of_time, info).item() > 0:
                    stopped_early = True
                    break
    except NonFiniteLossError:
        logger.error("training stopped: non-finite loss; %s keeps the last good state", run_dir / "last.pt")
        log.close()
        source.close()
        raise
    finally:
        bar.close()
    if not stopped_early:
        last_eval = run_eval() or last_eval
    checkpoint("last.pt")
    if stopped_early and info.is_main:
        logger.info("stopped after %.1f minutes at step %d/%d; continue with `decomr train --resume %s`",
                    t.max_minutes, step, total, run_dir)
    log.close()
    source.close()
    return TrainResult(run_dir=run_dir, step=step, total_steps=total, finished=not stopped_early,
                       best_metric=best_metric, best_step=best_step, history=log.history, last_eval=last_eval)


def _resume_config(saved: TrainConfig, given: TrainConfig) -> TrainConfig:
    """The config to resume with: ``given``, whose model/loss/data/body must equal the checkpoint's.

    ``train.*`` keys may change (e.g. a longer ``stage2_steps``, another ``max_minutes``); the
    changes are logged.

    Raises:
        ResumeMismatchError: a section that defines the model or its objective differs from the checkpoint.
    """
    a, b = saved.to_dict(), given.to_dict()
    if a == b:
        return given
    for key in ("body", "model", "loss", "data"):
        if a[key] != b[key]:
            diff = {k: (a[key][k], b[key][k]) for k in a[key] if a[key][k] != b[key][k]} if isinstance(a[key], dict) else (a[key], b[key])
            raise ResumeMismatchError(
                f"resume: config section {key!r} differs from the checkpoint's ({diff}); resume with the "
                "checkpoint's own config (`decomr train --resume <run>` without --config), or start a new run "
                "(another name=...)")
    changes = {k: (a["train"][k], b["train"][k]) for k in a["train"] if a["train"][k] != b["train"][k]}
    if changes:
        logger.info("resume: train settings changed (checkpoint -> now): %s", changes)
    return given
