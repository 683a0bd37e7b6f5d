"""Multi-GPU training with ``torchrun`` + ``DistributedDataParallel`` (no home-made engine).

Launch (one process per GPU; ``torchrun`` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT)::

    torchrun --nproc_per_node=8 -m decomr train --config configs/synthetic.yaml

Each rank builds the same model (same seed), DDP averages the gradients, and the GLOBAL batch
``train.batch_size`` is split evenly: rank r gets rows ``[r * b, (r + 1) * b)`` of every global
batch (b = batch_size / world_size), so the data a step sees does not depend on the number of
GPUs. BatchNorm statistics are per GPU unless ``train.sync_bn`` (CUDA only). Only rank 0 writes
logs, checkpoints and reports.

Without the torchrun variables everything here is a no-op (world size 1).
"""
from __future__ import annotations

import datetime
import logging
import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

logger = logging.getLogger(__name__)

__all__ = ["DistInfo", "init_distributed", "cleanup_distributed", "wrap_ddp", "all_reduce_mean",
           "barrier", "resolve_device", "no_sync"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: global rank (0 = the main process).
        local_rank: rank on this machine (its GPU index).
        world_size: number of processes.
        device: this process' device.
        backend: ``"nccl"``, ``"gloo"`` or ``""`` when not distributed.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:<local_rank>`` if CUDA is available, else ``cpu``; otherwise ``torch.device(name)``."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"train.device: {name!r} requested but CUDA is not available (use 'cpu' or 'auto')")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    return device


def init_distributed(device: str = "auto", backend: str | None = None, timeout_minutes: float = 30.0) -> DistInfo:
    """Join the process group started by ``torchrun`` (or do nothing when run alone).

    Args:
        device: the ``train.device`` setting (see :func:`resolve_device`).
        backend: ``"nccl"`` (CUDA) / ``"gloo"`` (CPU); default chosen from the device.
        timeout_minutes: collective timeout.

    Returns:
        :class:`DistInfo`.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world_size <= 1:
        return DistInfo(0, 0, 1, dev, "")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=timeout_minutes))
    logger.info("rank %d/%d on %s (%s)", rank, world_size, dev, backend)
    return DistInfo(rank, local_rank, world_size, dev, backend)


def cleanup_distributed() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(model: nn.Module, info: DistInfo, find_unused_parameters: bool = False,
             sync_bn: bool = False) -> nn.Module:
    """``DistributedDataParallel(model)`` when distributed, else ``model`` unchanged.

    Args:
        model: the model, already on ``info.device``.
        info: from :func:`init_distributed`.
        find_unused_parameters: True in stage 1, where LNet receives no gradient.
        sync_bn: convert BatchNorm layers to SyncBatchNorm first (CUDA only; ignored on CPU).
    """
    if not info.distributed:
        return model
    if sync_bn and info.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids,
                                               find_unused_parameters=find_unused_parameters)


def no_sync(model: nn.Module, skip: bool):
    """``model.no_sync()`` (skip the gradient all-reduce of a non-final micro-batch) when ``skip`` and DDP."""
    if skip and isinstance(model, nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return nullcontext()


def all_reduce_mean(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over the ranks (identity when not distributed)."""
    if not info.distributed:
        return values
    out = values.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


@contextmanager
def main_process_first(info: DistInfo):
    """Let rank 0 do something first (e.g. build a cached atlas), the others wait, then follow."""
    if info.distributed and not info.is_main:
        dist.barrier()
    yield
    if info.distributed and info.is_main:
        dist.barrier()
