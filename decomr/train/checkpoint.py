"""Checkpoints: atomic, ``torch.load(weights_only=True)``-safe, complete enough to resume.

A **training checkpoint** (``<run>/last.pt``, ``<run>/best.pt``) holds the model, the optimiser,
the step, the stage, the best metric so far, every RNG state (python, numpy, torch CPU and CUDA)
and the whole :class:`~decomr.train.config.TrainConfig` as plain dicts, so
``decomr train --resume <run>`` needs nothing else (nanoGPT's habit).

A **release** (:func:`export_release`, e.g. ``data/checkpoints/decomr_anny_resnet18.pt``) holds the
model weights in fp16 and the config only: what inference and ``decomr eval`` need. The sampler
buffers (derived from the UV atlas) are left out and rebuilt on load.

Files are written atomically (temporary file in the same folder, fsync, ``os.replace``): a crash
while saving leaves the previous checkpoint intact.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_FORMAT",
    "RELEASE_FORMAT",
    "Checkpoint",
    "LoadedModel",
    "atomic_torch_save",
    "unwrap_model",
    "get_rng_state",
    "set_rng_state",
    "save_checkpoint",
    "load_checkpoint",
    "export_release",
    "load_model",
    "release_size_bytes",
]

CHECKPOINT_FORMAT = "decomr-train-checkpoint-v1"
RELEASE_FORMAT = "decomr-release-v1"
#: State-dict prefixes rebuilt from the UV atlas at load time (left out of releases).
DERIVED_PREFIXES = ("sampler.",)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model under ``torch.compile`` (``_orig_mod``) and DDP (``module``) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to ``path`` atomically (:func:`decomr.paths.atomic_writer`)."""
    from decomr.paths import atomic_writer

    with atomic_writer(path) as fh:
        torch.save(obj, fh)
    return Path(path)


# ------------------------------------------------------------------------------------------------
# RNG states (as tensors and primitives, so weights_only loading accepts them)
# ------------------------------------------------------------------------------------------------
def get_rng_state() -> dict[str, Any]:
    """The python, numpy, torch-CPU and torch-CUDA RNG states as tensors/primitives."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": [int(x) for x in internal], "gauss": gauss},
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
    }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned (CUDA states only where devices match)."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state((nps["kind"], nps["keys"].numpy().astype(np.uint32), nps["pos"], nps["has_gauss"],
                         nps["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            logger.warning("checkpoint has %d CUDA RNG states, this machine %d devices: CUDA RNG not restored",
                           len(cuda), torch.cuda.device_count())


# ------------------------------------------------------------------------------------------------
# Training checkpoints
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """A training checkpoint as loaded by :func:`load_checkpoint`.

    Attributes:
        config: the :class:`~decomr.train.config.TrainConfig` of the run.
        model: model state dict.
        optimizer: optimiser state dict (None in releases).
        step: optimiser steps done (the next step to run).
        stage: the stage the weights have reached: 1 (only CNet trained so far) or 2 (end to end).
        best_metric: best evaluation metric so far (lower is better; inf if none).
        best_step: step at which it was reached (-1 if none).
        rng: RNG states (:func:`get_rng_state`), or None.
        extra: anything else the loop stored (history, metrics, ...).
        path: the file read.
        num_vertices: the body's vertex count at training time (None if not stored).
        mesh_hash: ``body.mesh_hash()`` at training time (None if not stored), to detect a
            different body mesh at load time.
    """

    config: Any
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None
    step: int
    stage: int
    best_metric: float
    best_step: int
    rng: dict[str, Any] | None
    extra: dict[str, Any]
    path: Path
    num_vertices: int | None = None
    mesh_hash: str | None = None


def save_checkpoint(path: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer | None, config: Any,
                    step: int, stage: int, best_metric: float = float("inf"), best_step: int = -1,
                    extra: dict[str, Any] | None = None, rng: bool = True, body: Any = None) -> Path:
    """Write a training checkpoint atomically.

    Args:
        path: the file (e.g. ``runs/quick/last.pt``).
        model: the model (wrappers are removed with :func:`unwrap_model`).
        optimizer: its optimiser.
        config: the run's ``TrainConfig`` (stored as plain dicts).
        step: optimiser steps done.
        stage: 1 while only CNet has been trained (step <= stage-1 steps), else 2.
        best_metric, best_step: the best evaluation so far.
        extra: more primitives/tensors to keep (e.g. the metrics history).
        rng: whether to store the RNG states (True for ``last.pt``).
        body: the body model, to store its name, vertex count and mesh hash (checked at load).

    Returns:
        the path written.
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "model": unwrap_model(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": int(step),
        "stage": int(stage),
        "best_metric": float(best_metric),
        "best_step": int(best_step),
        "rng": get_rng_state() if rng else None,
        "extra": extra or {},
        "torch_version": str(torch.__version__),
        "trained_img_size": int(config.model.img_size),  # kept apart from the config: detects an edited config
    }
    if body is not None:
        payload.update(body=str(body.name), num_vertices=int(body.num_vertices), mesh_hash=str(body.mesh_hash()))
    return atomic_torch_save(payload, path)


def _read(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named
        # torch's own message advises weights_only=False, i.e. running the file's code: not passed on.
        raise ValueError(f"{path}: not a readable decomr checkpoint ({type(err).__name__}): the file is damaged or "
                         "was not written by decomr; re-export or re-download it") from None
    if not isinstance(data, dict) or data.get("format") not in (CHECKPOINT_FORMAT, RELEASE_FORMAT):
        raise ValueError(f"{path}: not a decomr checkpoint (format {data.get('format') if isinstance(data, dict) else None!r})")
    data["_path"] = path
    return data


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a training checkpoint (or a run folder: its ``last.pt``) with ``weights_only=True``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a decomr training checkpoint.
    """
    from decomr.train.config import TrainConfig

    data = _read(path, map_location)
    if data["format"] != CHECKPOINT_FORMAT:
        raise ValueError(f"{data['_path']}: a release (weights only) cannot be resumed; use it with `decomr eval`")
    return Checkpoint(
        config=TrainConfig.from_dict(data["config"]), model=data["model"], optimizer=data["optimizer"],
        step=int(data["step"]), stage=int(data["stage"]), best_metric=float(data["best_metric"]),
        best_step=int(data["best_step"]), rng=data["rng"], extra=data.get("extra") or {}, path=data["_path"],
        num_vertices=data.get("num_vertices"), mesh_hash=data.get("mesh_hash"),
    )


# ------------------------------------------------------------------------------------------------
# Releases (fp16 weights + config) and loading a model for inference/evaluation
# ------------------------------------------------------------------------------------------------
def _release_state(model_state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in model_state.items():
        if key.startswith(DERIVED_PREFIXES):
            continue
        out[key] = value.detach().to("cpu", dtype) if value.is_floating_point() else value.detach().cpu()
    return out


def export_release(source: str | Path | Checkpoint, path: str | Path, dtype: torch.dtype = torch.float16,
                   metrics: dict[str, float] | None = None, card: dict[str, Any] | None = None) -> Path:
    """Write an inference-only release: model weights in ``dtype`` (fp16) + the config.

    Args:
        source: a training checkpoint (file, run folder or :class:`Checkpoint`).
        path: the release file (e.g. ``data/checkpoints/decomr_anny_resnet18.pt``).
        dtype: storage dtype of floating tensors (loaded back as float32).
        metrics: optional evaluation numbers to keep with it.
        card: optional model-card data kept with it (plain dicts/lists/numbers): e.g. the
            template body's metrics on the same images (``baseline``), the validation curve
            (``history``), the training time (``train_seconds``).

    Returns:
        the path written. Size: about 2 bytes per parameter (ResNet-18 quick model ~27 MB,
        ResNet-50 paper model ~128 MB).
    """
    ckpt = source if isinstance(source, Checkpoint) else load_checkpoint(source)
    payload = {
        "format": RELEASE_FORMAT,
        "config": ckpt.config.to_dict(),
        "model": _release_state(ckpt.model, dtype),
        "step": ckpt.step,
        "stage": ckpt.stage,
        "best_metric": ckpt.best_metric,
        "best_step": ckpt.best_step,
        "metrics": dict(metrics or {}),
        "card": dict(card or {}),
        "torch_version": str(torch.__version__),
        "body": ckpt.config.body,
        "trained_img_size": int(ckpt.config.model.img_size),  # kept apart from the config: detects an edited config
    }
    vt_to_v = ckpt.model.get("sampler.vt_to_v")
    num_vertices = ckpt.num_vertices if ckpt.num_vertices is not None else (
        int(vt_to_v.max()) + 1 if torch.is_tensor(vt_to_v) and vt_to_v.numel() else None)
    if num_vertices is not None:
        payload["num_vertices"] = int(num_vertices)
    if ckpt.mesh_hash is not None:
        payload["mesh_hash"] = ckpt.mesh_hash
    return atomic_torch_save(payload, path)


def release_size_bytes(model: nn.Module, dtype: torch.dtype = torch.float16) -> int:
    """Bytes of the tensors a release of ``model`` would hold (without pickle overhead)."""
    state = _release_state(unwrap_model(model).state_dict(), dtype)
    return sum(v.numel() * v.element_size() for v in state.values())


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint or release, ready for inference.

    Attributes:
        model: the :class:`~decomr.models.DecoMR` in eval mode.
        config: the run's ``TrainConfig``.
        body: the body model.
        atlas: the UV atlas.
        step: training steps the weights have seen.
        stage: the training stage of the weights (1: only CNet trained).
        path: the file read.
    """

    model: nn.Module
    config: Any
    body: Any
    atlas: Any
    step: int
    stage: int
    path: Path


def load_model(path: str | Path, device: str | torch.device = "cpu", body: Any = None) -> LoadedModel:
    """Rebuild the model of a training checkpoint or a release (float32, eval mode).

    Args:
        path: ``.pt`` file or run folder (its ``best.pt`` if present, else ``last.pt``).
        device: where to put the model.
        body: the body model, if already loaded (else ``decomr.body.load(config.body)``).

    Raises:
        FileNotFoundError, ValueError: missing/unreadable file or weights that do not fit.
    """
    from decomr.body import load as load_body
    from decomr.models import DecoMR
    from decomr.train.config import TrainConfig
    from decomr.uv import load_atlas

    path = Path(path)
    if path.is_dir():
        path = path / "best.pt" if (path / "best.pt").is_file() else path / "last.pt"
    data = _read(path)
    config = TrainConfig.from_dict(data["config"])
    config = config.replace(model=config.model.replace(pretrained=None))  # weights come from the file
    body = body if body is not None else load_body(config.body)
    if data.get("mesh_hash") not in (None, body.mesh_hash()) or data.get("num_vertices") not in (None, body.num_vertices):
        raise ValueError(f"{path}: trained with another {config.body!r} mesh ({data.get('num_vertices')} vertices, "
                         f"hash {data.get('mesh_hash')}) than the local one ({body.num_vertices}, {body.mesh_hash()}); "
                         "use the decomr/anny version it was trained with, or retrain")
    atlas = load_atlas(body, config.model.atlas)
    model = DecoMR(config.model, body, atlas)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in data["model"].items()}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(DERIVED_PREFIXES)]
    if missing or result.unexpected_keys:
        raise ValueError(f"{path}: weights do not fit the model of its config (missing {missing[:5]}, "
                         f"unexpected {list(result.unexpected_keys)[:5]})")
    model = model.to(device).eval()
    return LoadedModel(model=model, config=config, body=body, atlas=atlas, step=int(data["step"]),
                       stage=int(data["stage"]), path=path)
