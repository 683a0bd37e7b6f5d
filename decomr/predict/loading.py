"""Finding and reading a trained DecoMR for inference, with errors that say what to do.

Files accepted (all read with ``torch.load(weights_only=True)``):

* a **release** written by ``decomr train --export-release`` or :func:`save_model_release`
  (``data/checkpoints/*.pt``: fp16 weights + config; found automatically);
* a **training checkpoint** (``runs/<name>/best.pt`` or ``last.pt``) or a run folder;
* a **plain file** ``{"config": dict, "model": state_dict}`` where ``config`` is a
  :meth:`ModelConfig.to_dict` (optionally with ``"body": "anny"`` beside it) or a training config
  (``{"body": ..., "model": {...}, ...}``).

The body model and UV atlas are not stored: they are rebuilt from the config (``body``,
``model.atlas``), and the UV sampler's tables with them. Optional keys ``num_vertices`` and
``mesh_hash`` (written by :func:`save_model_release`) let a mismatch with the local body model be
reported instead of producing a wrong mesh.
"""
from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from decomr.models import DecoMR, ModelConfig
from decomr.paths import atomic_write_bytes, data_dir

log = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_HELP",
    "CheckpointError",
    "CheckpointNotFoundError",
    "CheckpointInfo",
    "checkpoint_dir",
    "RELEASED_CHECKPOINT",
    "released_checkpoint",
    "find_checkpoint",
    "read_checkpoint",
    "build_model",
    "save_model_release",
]

# The format tags of decomr.train.checkpoint (kept literal so that inference does not import the
# training package; tests check they agree).
TRAIN_FORMAT = "decomr-train-checkpoint-v1"
RELEASE_FORMAT = "decomr-release-v1"
#: State-dict prefixes rebuilt from the UV atlas (the sampler's tables): never required in a file.
DERIVED_PREFIXES = ("sampler.",)

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
    """A checkpoint file exists but cannot be used (unreadable, another body or config)."""


class CheckpointNotFoundError(FileNotFoundError):
    """No checkpoint where one was expected; the message explains how to get one."""


#: The model released with decomr: trained on a 2-core CPU by ``configs/cpu.yaml`` (its model
#: card is ``data/checkpoints/README.md``). Used when no checkpoint is given.
RELEASED_CHECKPOINT = "decomr_anny_cpu.pt"


def checkpoint_dir() -> Path:
    """``data/checkpoints`` (``$DECOMR_DATA/checkpoints``): where releases are looked for."""
    return data_dir() / "checkpoints"


def released_checkpoint() -> Path | None:
    """The released checkpoint (:data:`RELEASED_CHECKPOINT`) in ``data/checkpoints/`` or in the
    repository's own ``data/checkpoints/`` (when ``$DECOMR_DATA`` points elsewhere), or None."""
    from decomr.paths import REPO_ROOT

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
            log.info("several checkpoints in %s, using the newest: %s", folder, found[0].name)
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
        raise CheckpointNotFoundError(f"{path}: {what} in this folder; pass one file with --checkpoint.\n{CHECKPOINT_HELP}")
    if not path.is_file():
        raise CheckpointNotFoundError(f"{path}: no such checkpoint file.\n{CHECKPOINT_HELP}")
    return path


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint file says about its model.

    Attributes:
        path: the file.
        format: ``"release"``, ``"train"`` or ``"plain"``.
        body: the body model's name (``"anny"``, ``"smpl"``).
        config: the architecture (``pretrained`` cleared: the weights come from the file).
        state: the model's state dict (float32; derived sampler tables removed).
        step: training steps the weights have seen (-1 if unknown).
        stage: 1 (only CNet trained: the mesh is not meaningful), 2 (end to end) or 0 (unknown).
        num_vertices: the body's vertex count at training time (None if not stored).
        mesh_hash: ``body.mesh_hash()`` at training time (None if not stored).
        metrics: evaluation numbers stored with a release.
        card: model-card data stored with a release (``baseline``: the template body's metrics on
            the same images; ``history``: the validation rows of training; ``train_seconds``).
        trained_img_size: the crop size the weights were trained at (stored apart from the config,
            None in older files); :func:`build_model` warns when the config says otherwise.
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


def _model_config(raw: Any, path: Path) -> tuple[dict[str, Any], str | None]:
    """(ModelConfig dict, body name or None) from a stored config (training or model config)."""
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: 'config' is a {type(raw).__name__}, expected a dict (ModelConfig.to_dict() "
                              "or a training config)")
    if isinstance(raw.get("model"), dict):  # a TrainConfig.to_dict()
        return raw["model"], raw.get("body")
    return raw, None


def read_checkpoint(path: str | Path | None = None) -> CheckpointInfo:
    """Read a checkpoint (see the module docstring for the accepted layouts).

    Args:
        path: file, run folder or None (see :func:`find_checkpoint`).

    Raises:
        CheckpointNotFoundError: no file.
        CheckpointError: unreadable, or not a DecoMR checkpoint; the message names the file.
    """
    path = find_checkpoint(path)
    try:
        # TorchVersion (a str subclass) is allowed for files that stored ``torch.__version__`` as is.
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the file named
        # torch's own message advises weights_only=False, i.e. running the file's code: not passed on.
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}): the file is damaged "
                              "or was not written by decomr. Re-download or re-export it.") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict) or "config" not in data:
        keys = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: not a DecoMR checkpoint (expected a dict with 'config' and 'model', "
                              f"found {keys}).\n{CHECKPOINT_HELP}")
    fmt = {TRAIN_FORMAT: "train", RELEASE_FORMAT: "release"}.get(data.get("format"), "plain")
    cfg_dict, body = _model_config(data["config"], path)
    body = data.get("body") or body or "anny"
    try:
        config = ModelConfig.from_dict(dict(cfg_dict)).replace(pretrained=None)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its model config does not fit this version of decomr ({err}). "
                              "Retrain with this version, or use the decomr version that wrote it.") from err
    state = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v)
             for k, v in data["model"].items() if not k.startswith(DERIVED_PREFIXES)}
    num_vertices = data.get("num_vertices")
    vt_to_v = data["model"].get("sampler.vt_to_v")  # training checkpoints keep the sampler tables
    if num_vertices is None and torch.is_tensor(vt_to_v) and vt_to_v.numel():
        num_vertices = int(vt_to_v.max()) + 1  # every mesh vertex has at least one UV copy
    return CheckpointInfo(
        path=path, format=fmt, body=str(body), config=config, state=state,
        step=int(data.get("step", -1)), stage=int(data.get("stage", 0)),
        num_vertices=None if num_vertices is None else int(num_vertices),
        mesh_hash=data.get("mesh_hash"), metrics=dict(data.get("metrics") or {}), card=dict(data.get("card") or {}),
        trained_img_size=None if data.get("trained_img_size") is None else int(data["trained_img_size"]),
    )


def _load_body(name: str, path: Path) -> Any:
    from decomr.body import load

    try:
        return load(name)
    except FileNotFoundError as err:
        raise CheckpointError(f"{path}: this model was trained for the body model {name!r}, whose files are missing "
                              f"here ({err}).") from err
    except ValueError as err:
        raise CheckpointError(f"{path}: unknown body model {name!r} in its config ({err}).") from err


def build_model(info: CheckpointInfo, body: Any = None) -> tuple[DecoMR, Any, Any]:
    """Rebuild the network of a checkpoint and load its weights (float32, eval mode, CPU).

    Args:
        info: from :func:`read_checkpoint`.
        body: the body model to use; None loads ``info.body``.

    Returns:
        (model, body, atlas).

    Raises:
        CheckpointError: the weights were trained for another body mesh or another architecture;
            the message names the file and the fix.
    """
    from decomr.uv import load_atlas

    path = info.path
    body = body if body is not None else _load_body(info.body, path)
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
        first = str(err).strip().splitlines()
        raise CheckpointError(
            f"{path}: its weights do not fit the model described by its own config ({first[1].strip() if len(first) > 1 else err}). "
            "The file was probably written by another decomr version or edited; retrain or re-export it.") from err
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
    if info.stage == 1:
        warnings.warn(f"{path}: only stage 1 (CNet) was trained; LNet is untrained, so the predicted meshes are "
                      "meaningless. Train stage 2 (continue the run) for meshes.", stacklevel=3)
    return model.eval(), body, atlas


def save_model_release(path: str | Path, model: DecoMR, body: Any, *, step: int = -1, stage: int = 2,
                       metrics: dict[str, float] | None = None, dtype: torch.dtype = torch.float16) -> Path:
    """Write a model as an inference release (the layout of ``decomr train --export-release``).

    Useful for a model trained in a notebook. Adds ``num_vertices`` and ``mesh_hash`` so that a
    mismatch with another body mesh is detected on load.

    Args:
        path: the ``.pt`` file (e.g. ``data/checkpoints/my_model.pt``).
        model: the :class:`DecoMR`.
        body: its body model.
        step, stage: training progress to record (stage 1 = only CNet trained).
        metrics: evaluation numbers to keep.
        dtype: storage dtype of floating tensors (fp16 halves the file; loaded back as float32).

    Returns:
        the path written (atomically).
    """
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith(DERIVED_PREFIXES):
            continue
        value = value.detach().cpu()
        state[key] = value.to(dtype) if value.is_floating_point() else value
    payload = {
        "format": RELEASE_FORMAT,
        "config": {"body": getattr(body, "name", "anny"), "model": model.config.to_dict()},
        "model": state,
        "step": int(step), "stage": int(stage), "best_metric": float("inf"), "best_step": -1,
        "metrics": dict(metrics or {}),
        "num_vertices": int(body.num_vertices),
        "mesh_hash": body.mesh_hash() if hasattr(body, "mesh_hash") else None,
        "torch_version": str(torch.__version__),  # a plain str: TorchVersion is not weights_only-safe
        "trained_img_size": int(model.config.img_size),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path
