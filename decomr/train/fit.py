"""A short training on batches held in memory: the notebooks' experiments in one call.

:func:`fit` runs :func:`~decomr.train.loop.train_step` (Sec. 3.4: stage 1 = CNet alone with
Eq. 4, stage 2 = everything with Eq. 1) for a few hundred steps on ``batches(k)`` and scores the
model on named batches every few steps (:func:`score_batches`); it returns the rows a notebook
plots. Full runs on datasets use :func:`decomr.train.loop.train` instead (checkpoints, resume,
several GPUs).

Example (notebook 04)::

    history = fit(model, lambda k: train_data.select([k % 8]), optimizer, steps=160,
                  stage=lambda step: 1 if step <= 40 else 2, weight_map=W,
                  eval_every=20, eval_from=41, eval_sets={"train": train_data, "unseen": val_data})
    # [{"step": 1, "iuv": ..., "total": ...}, ..., {"step": 41, "train mpjpe": ..., "unseen pve": ...}, ...]
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from decomr.data.batch import Batch
from decomr.losses import LossConfig
from decomr.train.errors import batch_errors
from decomr.train.loop import train_step

__all__ = ["fit", "score_batches", "mesh_errors"]

#: What :func:`fit` reports by default: the mean joint and vertex errors (mm) of :func:`batch_errors`.
MESH_METRICS = ("mpjpe", "pa_mpjpe", "pve")


def mesh_errors(output: Any, batch: Batch) -> dict[str, float]:
    """Mean MPJPE, PA-MPJPE and per-vertex error (mm) of one output: the default score of :func:`fit`."""
    return {k: float(v.mean()) for k, v in batch_errors(output, batch).items() if k in MESH_METRICS}


@torch.no_grad()
def score_batches(model: nn.Module, batches: Mapping[str, Batch],
                  score: Callable[[Any, Batch], Mapping[str, float]] = mesh_errors) -> dict[str, dict[str, float]]:
    """``score(model(batch.image), batch)`` for each named batch, in eval mode (the mode is restored).

    Returns:
        name -> metric -> value.
    """
    was_training = model.training
    model.eval()
    try:
        return {name: dict(score(model(batch.image), batch)) for name, batch in batches.items()}
    finally:
        model.train(was_training)


def fit(model: nn.Module, batches: Callable[[int], Batch], optimizer: torch.optim.Optimizer, *, steps: int,
        stage: int | Callable[[int], int] = 2, weight_map: torch.Tensor | None = None,
        loss_config: LossConfig = LossConfig(), batch_offset: int = 0, eval_every: int = 0, eval_from: int = 1,
        eval_sets: Mapping[str, Batch] | None = None,
        score: Callable[[Any, Batch], Mapping[str, float]] = mesh_errors,
        progress: bool = True, desc: str = "training") -> list[dict[str, float]]:
    """Train ``model`` for ``steps`` steps on in-memory batches; score it every ``eval_every`` steps.

    Step ``i`` (1 .. ``steps``) is one :func:`~decomr.train.loop.train_step` on
    ``batches(batch_offset + i - 1)`` at ``stage(i)`` (or the fixed ``stage``). The model is scored
    on each of ``eval_sets`` with ``score`` (:func:`score_batches`) at step ``eval_from`` and at
    every step ``i`` where ``i - eval_from + 1`` is a multiple of ``eval_every`` (with
    ``eval_from = stage-1 steps + 1``: the first stage-2 step and every ``eval_every``-th stage-2
    step). Nothing random happens here: the caller seeds the initialisation and owns the batches.

    Args:
        model: a :class:`~decomr.models.DecoMR` (left in train mode).
        batches: step index (0-based) -> :class:`~decomr.data.batch.Batch`.
        optimizer: the optimiser (its state carries over between calls).
        steps: number of steps.
        stage: 1 (CNet alone, Eq. 4) or 2 (end to end, Eq. 1), or a function of the step ``i``.
        weight_map: (R, R) Eq. 6 weights.
        loss_config: loss weights (e.g. ``LossConfig(consistency=0)`` to switch Eq. 10 off).
        batch_offset: index of the first batch (to continue a schedule in a second call).
        eval_every: steps between scorings (0: never).
        eval_from: the first step that is scored.
        eval_sets: name -> batch to score (e.g. ``{"train": ..., "unseen": ...}``).
        score: ``(output, batch) -> {metric: value}``; default :func:`mesh_errors`.
        progress: a tqdm bar.
        desc: the bar's label.

    Returns:
        The rows in order: ``{"step": i, <loss term>: value, ...}`` after every step (the weighted
        terms of :class:`~decomr.losses.LossTerms`), and after a scored step
        ``{"step": i, "<set> <metric>": value, ...}``.

    Raises:
        ValueError: ``steps`` < 0, ``eval_every`` < 0 or a stage other than 1 or 2.
    """
    if steps < 0 or eval_every < 0:
        raise ValueError(f"steps, eval_every: expected >= 0, got {steps}, {eval_every}")
    stage_of = stage if callable(stage) else (lambda i: stage)
    rows: list[dict[str, float]] = []
    model.train()
    for i in tqdm(range(1, steps + 1), desc=desc, disable=not progress):
        s = int(stage_of(i))
        if s not in (1, 2):
            raise ValueError(f"stage: expected 1 or 2 at step {i}, got {s}")
        result = train_step(model, batches(batch_offset + i - 1), optimizer, stage=s, weight_map=weight_map,
                            loss_config=loss_config)
        rows.append({"step": i, **result.losses})
        due = eval_every > 0 and i >= eval_from and (i == eval_from or (i - eval_from + 1) % eval_every == 0)
        if due and eval_sets:
            scores = score_batches(model, eval_sets, score)
            rows.append({"step": i, **{f"{name} {k}": v for name, row in scores.items() for k, v in row.items()}})
    return rows
