"""Checkpoints and releases: one payload format, atomic writing, one reader, one error type.

Two kinds of file share one payload, a dict that ``torch.load(weights_only=True)`` reads (tensors,
numbers, strings, lists and plain dicts; no code is run on load):

* a **training checkpoint** (``<run>/last.pt``, ``<run>/best.pt``, :func:`save_checkpoint`): all
  that ``decomr train --resume <run>`` needs (nanoGPT's habit);
* a **release** (``data/checkpoints/*.pt``, :func:`export_release` from a training checkpoint or
  :func:`save_model_release` from a model): the weights in fp16 and the config, all that inference
  and ``decomr eval`` need.

Keys (T: training checkpoint, R: release):

* ``format`` (T, R): :data:`CHECKPOINT_FORMAT` or :data:`RELEASE_FORMAT`; a file without it is
  read as a *plain* file ``{"config": ..., "model": ...}``.
* ``config`` (T, R): :meth:`~decomr.train.config.TrainConfig.to_dict`; a release written from a
  model holds ``{"body", "model"}`` only, a plain file may hold a bare
  :meth:`~decomr.models.ModelConfig.to_dict`.
* ``model`` (T, R): the state dict, float32 with the UV sampler's tables (T), or in the release's
  dtype without the ``sampler.`` buffers, which are rebuilt from the UV atlas on load (R).
* ``step``, ``stage`` (T, R): optimiser steps done; 1 while only CNet was trained, 2 end to end.
* ``best_metric``, ``best_step`` (T, R): the best evaluation so far (inf and -1 if none).
* ``optimizer``, ``rng``, ``extra`` (T): the optimiser's state, the RNG states
  (:func:`get_rng_state`, None in ``best.pt``) and what the loop keeps (e.g. metrics history).
* ``metrics``, ``card`` (R): evaluation numbers and model-card data (``baseline``: the template
  body's metrics on the same images, ``history``: validation rows, ``train_seconds``).
* ``body``, ``num_vertices``, ``mesh_hash`` (R; T when saved with its body): the body model's name,
  vertex count and ``mesh_hash()``: weights for another mesh are refused on load.
* ``trained_img_size`` (T, R): the crop size of the weights, kept apart from the config, so that
  an edited config warns.
* ``torch_version`` (T, R): ``str(torch.__version__)``.

The body model and UV atlas are not stored; they are rebuilt from the config. Files are written
atomically (:func:`decomr.paths.atomic_writer`): a crash while saving leaves the previous file
whole. Every reading problem raises a :class:`CheckpointError` that names the file and the fix.
"""
from __future__ import annotations

import logging
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from decomr.body import load
from decomr.models import DecoMR, ModelConfig
from decomr.paths import REPO_ROOT, atomic_writer, data_dir
from decomr.train.config import TrainConfig
from decomr.uv import load_atlas

logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_FORMAT", "RELEASE_FORMAT", "DERIVED_PREFIXES", "CHECKPOINT_HELP", "RELEASED_CHECKPOINT",
    "CheckpointError", "CheckpointNotFoundError",
    "checkpoint_dir", "released_checkpoint", "find_checkpoint",
    "atomic_torch_save", "unwrap_model", "get_rng_state", "set_rng_state",
    "Checkpoint", "save_checkpoint", "load_checkpoint",
    "CheckpointInfo", "read_checkpoint", "build_model", "LoadedModel", "load_model",
    "export_release", "save_model_release", "release_size_bytes",
]

CHECKPOINT_FORMAT = "decomr-train-checkpoint-v1"
RELEASE_FORMAT = "decomr-release-v1"
#: State-dict prefixes rebuilt from the UV atlas (the sampler's tables): left out of releases.
DERIVED_PREFIXES = ("sampler.",)
#: The model released with decomr: trained on a 2-core CPU by ``configs/cpu.yaml`` (its model
#: card is ``data/checkpoints/README.md``). Used when no checkpoint is given.
RELEASED_CHECKPOINT = "decomr_anny_cpu.pt"

CHECKPOINT_HELP = """\
How to get a trained DecoMR checkpoint:
  * the released one, data/checkpoints/decomr_anny_cpu.pt, ships with the repository (git checkout
    data/checkpoints/ if it is missing); it is used when no checkpoint is given;
  * train it again on a CPU (about 3 hours on 2 cores, resumable):
        decomr train --config cpu
  * on a GPU:
        decomr train --config configs/synthetic.yaml
  * a few minutes on a CPU (a rough model that only shows the pipeline):
        decomr train --config configs/quick.yaml
  then pass the run folder (e.g. --checkpoint runs/quick) or export a release that is found
  automatically:  decomr train --export-release runs/quick  (writes data/checkpoints/*.pt).
  Training on the official datasets (H36M, UP-3D, ...) needs their files in data/datasets/
  (see `decomr info`)."""


class CheckpointError(ValueError):
    """A checkpoint cannot be used: unreadable, not a DecoMR file, the wrong kind of file, or
    weights for another body mesh or architecture. The message names the file and the fix."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint where one was expected; the message says how to get one."""


# ------------------------------------------------------------------------------------------------
# Finding files
# ------------------------------------------------------------------------------------------------
def checkpoint_dir() -> Path:
    """``data/checkpoints`` (``$DECOMR_DATA/checkpoints``): where releases are looked for."""
    return data_dir() / "checkpoints"


def released_checkpoint() -> Path | None:
    """The released checkpoint (:data:`RELEASED_CHECKPOINT`) in ``data/checkpoints/`` or in the
    repository's own ``data/checkpoints/`` (when ``$DECOMR_DATA`` points elsewhere), or None."""
    for folder in (checkpoint_dir(), REPO_ROOT / "data" / "checkpoints"):
        if (folder / RELEASED_CHECKPOINT).is_file():
            return folder / RELEASED_CHECKPOINT
    return None


def find_checkpoint(path: str | Path | None = None) -> Path:
    """Resolve a checkpoint argument to one file.

    Args:
        path: a ``.pt`` file, a run folder (its ``best.pt``, else ``last.pt``, else its only
            ``.pt``), or None: the released model (:func:`released_checkpoint`), else the newest
            ``.pt`` in :func:`checkpoint_dir`.

    Returns:
        the file.

    Raises:
        CheckpointNotFoundError: nothing usable; the message names what was searched and how to
            train a model.
    """
    if path is None:
        released = released_checkpoint()
        if released is not None:
            return released
        folder = checkpoint_dir()
        found = sorted(folder.glob("*.pt"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
        if not found:
            raise CheckpointNotFoundError(f"no trained checkpoint in {folder} (and none given).\n{CHECKPOINT_HELP}")
        if len(found) > 1:
            logger.info("several checkpoints in %s, using the newest: %s", folder, found[0].name)
        return found[0]
    path = Path(path).expanduser()
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return path / name
        pts = sorted(path.glob("*.pt"))
        if len(pts) == 1:
            return pts[0]
        what = "no .pt file" if not pts else f"{len(pts)} .pt files and no best.pt/last.pt"
        raise CheckpointNotFoundError(f"{path}: {what} in this folder; pass one file with --checkpoint.\n"
                                      f"{CHECKPOINT_HELP}")
    if not path.is_file():
        raise CheckpointNotFoundError(f"{path}: no such checkpoint file.\n{CHECKPOINT_HELP}")
    return path


def _read(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The payload of an existing file, checked to hold ``config`` and ``model``."""
    try:
        # TorchVersion (a str subclass) is allowed for files that stored ``torch.__version__`` as is.
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named
        # torch's own message advises weights_only=False, i.e. running the file's code: not passed on.
        raise CheckpointError(f"{path}: not a readable decomr checkpoint ({type(err).__name__}): the file is damaged "
                              "or was not written by decomr. Re-download or re-export it.") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict) or "config" not in data:
        found = sorted(map(str, data))[:8] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: not a DecoMR checkpoint (expected a dict with 'config' and 'model', "
                              f"found {found}).\n{CHECKPOINT_HELP}")
    return data


def _parse_config(path: Path, what: str, build: Callable[[], Any], fix: str) -> Any:
    """``build()``; a stored config that does not fit raises a CheckpointError naming the file and ``fix``."""
    try:
        return build()
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its {what} config does not fit this version of decomr ({err}). {fix}") from err


# ------------------------------------------------------------------------------------------------
# Writing; RNG states (as tensors and primitives, so weights_only loading accepts them)
# ------------------------------------------------------------------------------------------------
def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to ``path`` atomically (:func:`decomr.paths.atomic_writer`)."""
    with atomic_writer(path) as fh:
        torch.save(obj, fh)
    return Path(path)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model under ``torch.compile`` (``_orig_mod``) and DDP (``module``) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def get_rng_state() -> dict[str, Any]:
    """The python, numpy, torch-CPU and torch-CUDA RNG states as tensors/primitives."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": int(version), "state": [int(x) for x in internal], "gauss": gauss},
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
    }


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
    """A training checkpoint as read by :func:`load_checkpoint` (the payload keys, typed).

    Attributes:
        config: the run's :class:`~decomr.train.config.TrainConfig`.
        model: the model's state dict (as saved, sampler tables included).
        optimizer: the optimiser's state dict (None if not saved).
        step, stage, best_metric, best_step: see the module docstring.
        rng: RNG states (:func:`get_rng_state`), or None.
        extra: anything else the loop stored (history, metrics, ...).
        path: the file read.
        num_vertices, mesh_hash: the body mesh at training time (None if not stored).
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
        stage: 1 while only CNet has been trained, else 2.
        best_metric, best_step: the best evaluation so far.
        extra: more primitives/tensors to keep (e.g. the metrics history).
        rng: whether to store the RNG states (True for ``last.pt``).
        body: the body model, to store its name, vertex count and mesh hash (checked on load).

    Returns:
        the path written.
    """
    payload = {
        "format": CHECKPOINT_FORMAT, "config": config.to_dict(), "model": unwrap_model(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": int(step), "stage": int(stage), "best_metric": float(best_metric), "best_step": int(best_step),
        "rng": get_rng_state() if rng else None, "extra": extra or {},
        "torch_version": str(torch.__version__), "trained_img_size": int(config.model.img_size),
    }
    if body is not None:
        payload.update(body=str(body.name), num_vertices=int(body.num_vertices), mesh_hash=str(body.mesh_hash()))
    return atomic_torch_save(payload, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a training checkpoint to resume it (a run folder means its ``last.pt``).

    Raises:
        CheckpointNotFoundError: no such file.
        CheckpointError: unreadable, or not a training checkpoint (a release holds no optimiser).
    """
    path = Path(path).expanduser()
    path = find_checkpoint(path / "last.pt" if path.is_dir() else path)
    data = _read(path, map_location)
    if data.get("format") != CHECKPOINT_FORMAT:
        what = "a release (weights only)" if data.get("format") == RELEASE_FORMAT else "a weights-only file"
        raise CheckpointError(f"{path}: {what} cannot be resumed; use it with `decomr eval` or "
                              "Predictor.from_checkpoint, or resume from a run folder's last.pt")
    config = _parse_config(path, "training", lambda: TrainConfig.from_dict(data["config"]),
                           "Resume with the decomr version that wrote it.")
    return Checkpoint(
        config=config, model=data["model"], optimizer=data.get("optimizer"),
        step=int(data["step"]), stage=int(data["stage"]), best_metric=float(data["best_metric"]),
        best_step=int(data["best_step"]), rng=data.get("rng"), extra=data.get("extra") or {}, path=path,
        num_vertices=data.get("num_vertices"), mesh_hash=data.get("mesh_hash"),
    )


# ------------------------------------------------------------------------------------------------
# Reading a model (release, training checkpoint or plain file) for inference and evaluation
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint file says about its model.

    Attributes:
        path: the file.
        format: ``"release"``, ``"train"`` or ``"plain"``.
        body: the body model's name (``"anny"``, ``"smpl"``).
        config: the architecture (``pretrained`` cleared: the weights come from the file).
        state: the model's state dict (float32; derived sampler tables removed).
        step, stage: training progress (-1 and 0 if unknown); stage 1 means only CNet was trained
            (the mesh is not meaningful).
        num_vertices: the body's vertex count at training time (None if not stored).
        mesh_hash: ``body.mesh_hash()`` at training time (None if not stored).
        metrics: evaluation numbers stored with a release.
        card: model-card data stored with a release.
        trained_img_size: the crop size the weights were trained at (None in older files);
            :func:`build_model` warns when the config says otherwise.
        stored_config: the ``config`` entry as stored (a training config, ``{"body", "model"}``
            or a model config).
    """

    path: Path
    format: str
    body: str
    config: ModelConfig
    state: dict[str, torch.Tensor]
    step: int = -1
    stage: int = 0
    num_vertices: int | None = None
    mesh_hash: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    trained_img_size: int | None = None
    stored_config: dict[str, Any] = field(default_factory=dict, repr=False)

    def train_config(self) -> Any:
        """The run's :class:`~decomr.train.config.TrainConfig` (defaults around :attr:`config`
        and :attr:`body` when only those are stored).

        Raises:
            CheckpointError: the stored training config does not fit this version of decomr.
        """
        raw = self.stored_config
        whole = isinstance(raw.get("model"), dict) and bool(set(raw) - {"body", "model"})
        stored = raw if whole else {"body": self.body, "model": self.config.to_dict()}
        return _parse_config(self.path, "training", lambda: TrainConfig.from_dict(stored).replace(model=self.config),
                             "Use the decomr version that wrote it, or retrain.")


def read_checkpoint(path: str | Path | None = None) -> CheckpointInfo:
    """Read a release, training checkpoint or plain file (see the module docstring).

    Args:
        path: file, run folder or None (see :func:`find_checkpoint`).

    Raises:
        CheckpointNotFoundError: no file.
        CheckpointError: unreadable, or not a DecoMR checkpoint; the message names the file.
    """
    path = find_checkpoint(path)
    data = _read(path)
    raw = data["config"]
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: 'config' is a {type(raw).__name__}, expected a dict (ModelConfig.to_dict() "
                              "or a training config)")
    cfg_dict, body = (raw["model"], raw.get("body")) if isinstance(raw.get("model"), dict) else (raw, None)
    config = _parse_config(path, "model", lambda: ModelConfig.from_dict(dict(cfg_dict)).replace(pretrained=None),
                           "Retrain with this version, or use the decomr version that wrote it.")
    state = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v)
             for k, v in data["model"].items() if not k.startswith(DERIVED_PREFIXES)}
    num_vertices = data.get("num_vertices")
    vt_to_v = data["model"].get("sampler.vt_to_v")  # training checkpoints keep the sampler tables
    if num_vertices is None and torch.is_tensor(vt_to_v) and vt_to_v.numel():
        num_vertices = int(vt_to_v.max()) + 1  # every mesh vertex has at least one UV copy
    return CheckpointInfo(
        path=path, format={CHECKPOINT_FORMAT: "train", RELEASE_FORMAT: "release"}.get(data.get("format"), "plain"),
        body=str(data.get("body") or body or "anny"), config=config, state=state,
        step=int(data.get("step", -1)), stage=int(data.get("stage", 0)),
        num_vertices=None if num_vertices is None else int(num_vertices),
        mesh_hash=data.get("mesh_hash"), metrics=dict(data.get("metrics") or {}), card=dict(data.get("card") or {}),
        trained_img_size=None if data.get("trained_img_size") is None else int(data["trained_img_size"]),
        stored_config=raw,
    )


def build_model(info: CheckpointInfo, body: Any = None, *, warn_stage1: bool = True) -> tuple[DecoMR, Any, Any]:
    """Rebuild the network of a checkpoint and load its weights (float32, eval mode, CPU).

    Warns when the config's input size differs from the size the weights were trained at.

    Args:
        info: from :func:`read_checkpoint`.
        body: the body model to use; None loads ``info.body``.
        warn_stage1: warn when only CNet was trained (``info.stage == 1``).

    Returns:
        (model, body, atlas).

    Raises:
        CheckpointError: the weights were trained for another body mesh or another architecture;
            the message names the file and the fix.
    """
    path = info.path
    try:
        body = body if body is not None else load(info.body)
    except FileNotFoundError as err:
        raise CheckpointError(f"{path}: this model was trained for the body model {info.body!r}, whose files are "
                              f"missing here ({err}).") from err
    except ValueError as err:
        raise CheckpointError(f"{path}: unknown body model {info.body!r} in its config ({err}).") from err
    if info.num_vertices is not None and info.num_vertices != body.num_vertices:
        raise CheckpointError(
            f"{path}: trained for a body mesh with {info.num_vertices} vertices ({info.body!r}), but the body model "
            f"used here has {body.num_vertices} ({getattr(body, 'name', '?')!r}). Use the body model it was trained "
            "with (the config's `body`), or retrain for this one: decomr train --config configs/quick.yaml body=...")
    if info.mesh_hash is not None and hasattr(body, "mesh_hash") and body.mesh_hash() != info.mesh_hash:
        raise CheckpointError(
            f"{path}: trained on another version of the {info.body!r} mesh (hash {info.mesh_hash}, here "
            f"{body.mesh_hash()}): the UV atlas and vertex order differ. Retrain, or install the body-model version "
            "it was trained with.")
    atlas = load_atlas(body, info.config.atlas)
    model = DecoMR(info.config, body, atlas)
    try:
        result = model.load_state_dict(info.state, strict=False)
    except RuntimeError as err:  # size mismatches
        lines = str(err).strip().splitlines()
        raise CheckpointError(
            f"{path}: its weights do not fit the model described by its own config "
            f"({lines[1].strip() if len(lines) > 1 else err}). The file was probably written by another decomr "
            "version or edited; retrain or re-export it.") from err
    missing = [k for k in result.missing_keys if not k.startswith(DERIVED_PREFIXES)]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"{path}: its weights do not fit the model of its config (missing {missing[:4]}"
            f"{' ...' if len(missing) > 4 else ''}, unexpected {list(result.unexpected_keys)[:4]}). "
            "Was it trained with another config or decomr version? Retrain or re-export it with this version.")
    if info.trained_img_size is not None and info.trained_img_size != info.config.img_size:
        warnings.warn(f"{path}: its config says {info.config.img_size} px crops, but the weights were trained on "
                      f"{info.trained_img_size} px crops (was the config edited?); predictions at another input size "
                      f"are unreliable. Set model.img_size back to {info.trained_img_size}.", stacklevel=3)
    if warn_stage1 and info.stage == 1:
        warnings.warn(f"{path}: only stage 1 (CNet) was trained; LNet is untrained, so the predicted meshes are "
                      "meaningless. Train stage 2 (continue the run) for meshes.", stacklevel=3)
    return model.eval(), body, atlas


@dataclass
class LoadedModel:
    """A model rebuilt by :func:`load_model`, ready for inference and evaluation.

    Attributes:
        model: the :class:`~decomr.models.DecoMR` in eval mode.
        config: the run's ``TrainConfig`` (:meth:`CheckpointInfo.train_config`).
        body: the body model.
        atlas: the UV atlas.
        step: training steps the weights have seen.
        stage: the training stage of the weights (1: only CNet trained; no warning is given).
        path: the file read.
    """

    model: nn.Module
    config: Any
    body: Any
    atlas: Any
    step: int
    stage: int
    path: Path


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu", body: Any = None) -> LoadedModel:
    """Rebuild the model of a release, a training checkpoint or a run folder (float32, eval mode).

    Args:
        path: ``.pt`` file, run folder or None (see :func:`find_checkpoint`).
        device: where to put the model.
        body: the body model, if already loaded (else ``decomr.body.load`` of the stored body).

    Raises:
        CheckpointNotFoundError: no file.
        CheckpointError: unreadable file, or weights that do not fit (another mesh or architecture).
    """
    info = read_checkpoint(path)
    config = info.train_config()
    model, body, atlas = build_model(info, body=body, warn_stage1=False)
    return LoadedModel(model=model.to(device), config=config, body=body, atlas=atlas, step=info.step,
                       stage=info.stage, path=info.path)


# ------------------------------------------------------------------------------------------------
# Releases (weights in fp16 + config)
# ------------------------------------------------------------------------------------------------
def _release_state(model_state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {key: value.detach().to("cpu", dtype) if value.is_floating_point() else value.detach().cpu()
            for key, value in model_state.items() if not key.startswith(DERIVED_PREFIXES)}


def _write_release(path: str | Path, *, config: dict[str, Any], state: dict[str, torch.Tensor], dtype: torch.dtype,
                   body: str, img_size: int, num_vertices: int | None, mesh_hash: str | None, step: int, stage: int,
                   best_metric: float = float("inf"), best_step: int = -1, metrics: dict[str, float] | None = None,
                   card: dict[str, Any] | None = None) -> Path:
    payload = {
        "format": RELEASE_FORMAT, "config": config, "model": _release_state(state, dtype),
        "step": int(step), "stage": int(stage), "best_metric": float(best_metric), "best_step": int(best_step),
        "metrics": dict(metrics or {}), "card": dict(card or {}), "body": str(body),
        "trained_img_size": int(img_size), "torch_version": str(torch.__version__),
    }
    if num_vertices is not None:
        payload["num_vertices"] = int(num_vertices)
    if mesh_hash is not None:
        payload["mesh_hash"] = str(mesh_hash)
    return atomic_torch_save(payload, path)


def export_release(source: str | Path | Checkpoint, path: str | Path, dtype: torch.dtype = torch.float16,
                   metrics: dict[str, float] | None = None, card: dict[str, Any] | None = None) -> Path:
    """Write an inference-only release of a training checkpoint: weights in ``dtype`` + the config.

    Args:
        source: a training checkpoint (file, run folder or :class:`Checkpoint`).
        path: the release file (e.g. ``data/checkpoints/decomr_anny_resnet18.pt``).
        dtype: storage dtype of floating tensors (loaded back as float32).
        metrics: optional evaluation numbers to keep with it.
        card: optional model-card data (plain dicts/lists/numbers, see the module docstring).

    Returns:
        the path written. Size: about 2 bytes per parameter (ResNet-18 quick model ~27 MB,
        ResNet-50 paper model ~128 MB).
    """
    ckpt = source if isinstance(source, Checkpoint) else load_checkpoint(source)
    vt_to_v = ckpt.model.get("sampler.vt_to_v")
    num_vertices = ckpt.num_vertices if ckpt.num_vertices is not None else (
        int(vt_to_v.max()) + 1 if torch.is_tensor(vt_to_v) and vt_to_v.numel() else None)
    return _write_release(path, config=ckpt.config.to_dict(), state=ckpt.model, dtype=dtype, body=ckpt.config.body,
                          img_size=ckpt.config.model.img_size, num_vertices=num_vertices, mesh_hash=ckpt.mesh_hash,
                          step=ckpt.step, stage=ckpt.stage, best_metric=ckpt.best_metric, best_step=ckpt.best_step,
                          metrics=metrics, card=card)


def save_model_release(path: str | Path, model: DecoMR, body: Any, *, step: int = -1, stage: int = 2,
                       metrics: dict[str, float] | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Write a model as a release (e.g. one trained in a notebook), with its body's vertex count
    and mesh hash so that another body mesh is detected on load.

    Args:
        path: the ``.pt`` file (e.g. ``data/checkpoints/my_model.pt``).
        model: the :class:`DecoMR` (wrappers are removed with :func:`unwrap_model`).
        body: its body model.
        step, stage: training progress to record (stage 1 = only CNet trained).
        metrics: evaluation numbers to keep.
        dtype: storage dtype of floating tensors (fp16 halves the file; loaded back as float32).

    Returns:
        the path written (atomically).
    """
    model = unwrap_model(model)
    name = getattr(body, "name", "anny")
    return _write_release(path, config={"body": name, "model": model.config.to_dict()}, state=model.state_dict(),
                          dtype=dtype, body=name, img_size=model.config.img_size, num_vertices=body.num_vertices,
                          mesh_hash=body.mesh_hash() if hasattr(body, "mesh_hash") else None, step=step, stage=stage,
                          metrics=metrics)


def release_size_bytes(model: nn.Module, dtype: torch.dtype = torch.float16) -> int:
    """Bytes of the tensors a release of ``model`` would hold (without pickle overhead)."""
    state = _release_state(unwrap_model(model).state_dict(), dtype)
    return sum(v.numel() * v.element_size() for v in state.values())
