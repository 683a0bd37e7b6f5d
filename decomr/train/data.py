"""Batches for the training loop: deterministic per step, sharded over GPUs, resumable.

Two pipelines feed :func:`decomr.train.loop.train`:

* ``"loader"``: a ``Dataset`` (synthetic or official) behind a ``DataLoader`` with workers and
  pinned memory. :class:`StepBatchSampler` decides which samples make global batch ``step``
  (a fresh seeded permutation per epoch) and hands rank r its slice; every sample is produced
  under its own seed (:class:`SeededDataset`), so a batch depends only on (seed, step), not on
  the number of workers or GPUs, and resuming at step k replays exactly the batches of a run that
  never stopped.
* ``"gpu"``: DataLoader workers only draw the synthetic samples' parameters
  (:class:`decomr.data.synthetic.SyntheticParamDataset`, a few ms of CPU each) and
  :class:`decomr.data.synthetic.SyntheticBatchGenerator` renders the batch on the GPU (no image
  decoding, no host->device copy of images). Same samples as the loader pipeline, up to rounding.

Augmentation (Sec. 4.1) follows the samples: the synthetic data draws sample i's transform of
epoch e from its own stream (``SyntheticDataset.set_epoch``) and applies it exactly before
rendering; official crops are augmented on the device with :func:`decomr.data.augment.augment_batch`,
each sample's transform drawn from its sample seed.

Both return a :class:`decomr.data.batch.Batch` on the training device.
"""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler, Subset

from decomr.body.joints import J24_FLIP_PERM, joint_set  # J24_FLIP_PERM: re-exported
from decomr.data.augment import AugmentParams, UVMirror, augment_batch, sample_augment_params
from decomr.data.backgrounds import map_params
from decomr.data.batch import Batch, as_batch
from decomr.data.cache import CachedSyntheticDataset, ensure_cache
from decomr.data.official import OfficialDataset
from decomr.data.synthetic import (
    SyntheticBatchGenerator,
    SyntheticDataset,
    SyntheticParamDataset,
    collate_params,
    sample_seed as synthetic_seed,
)
from decomr.train.targets import batch_keypoint_format
from decomr.uv import load_atlas

logger = logging.getLogger(__name__)

__all__ = [
    "sample_seed",
    "StepBatchSampler",
    "SeededDataset",
    "LoaderSource",
    "GeneratorSource",
    "ConcatDatasets",
    "build_train_dataset",
    "build_test_dataset",
    "official_val_indices",
    "build_train_source",
    "resolve_pipeline",
    "SyntheticParamItems",
    "augment_official_batch",
    "augments_on_device",
    "J24_FLIP_PERM",
    "build_test_loader",
    "to_device",
]

_MIX = 0x9E3779B97F4A7C15  # golden-ratio constant for seed mixing
_MASK = (1 << 63) - 1


def sample_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (splitmix64-style), e.g. ``(seed, epoch, index)``."""
    x = 0
    for p in parts:
        x = (x ^ (int(p) + _MIX + (x << 6) + (x >> 2))) & ((1 << 64) - 1)
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & ((1 << 64) - 1)
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & ((1 << 64) - 1)
        x ^= x >> 31
    return x & _MASK


class StepBatchSampler(Sampler[list[tuple[int, int, int]]]):
    """Yields, for steps ``start_step, start_step + 1, ...``, this rank's part of the global batch.

    Global batch ``step`` = positions ``[step * B, (step + 1) * B)`` of an endless stream that
    visits the dataset once per epoch in a permutation seeded by ``(seed, epoch)``. Rank r takes
    rows ``[r * b, (r + 1) * b)`` with ``b = B / world_size``. Each item is ``(index, epoch,
    sample_seed)``, the seed mixing (seed, epoch, position) for :class:`SeededDataset`.

    Args:
        size: dataset size N.
        batch_size: the GLOBAL batch B.
        seed: run seed.
        rank, world_size: this process among ``world_size`` (B must divide evenly).
        start_step: first step to yield (resume).
        num_steps: how many steps to yield (None = endless).
        shuffle: False keeps the dataset order (evaluation).

    >>> one = StepBatchSampler(10, 4, seed=0)                       # one process
    >>> two = StepBatchSampler(10, 4, seed=0, rank=1, world_size=2)  # rank 1 of 2
    >>> [i for i, _, _ in two.batch_for(3)] == [i for i, _, _ in one.batch_for(3)][2:]
    True
    >>> sorted(i for s in range(5) for i, _, _ in one.batch_for(s)) == sorted(2 * list(range(10)))  # 2 epochs
    True
    """

    def __init__(self, size: int, batch_size: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 start_step: int = 0, num_steps: int | None = None, shuffle: bool = True) -> None:
        if size < 1:
            raise ValueError(f"size: expected a dataset with >= 1 sample, got {size}")
        if batch_size % world_size != 0:
            raise ValueError(f"batch_size: expected a multiple of world_size={world_size}, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank: expected 0 <= rank < world_size={world_size}, got {rank}")
        self.size, self.batch_size, self.seed = int(size), int(batch_size), int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.start_step, self.num_steps, self.shuffle = int(start_step), num_steps, shuffle
        self._perm_epoch, self._perm = -1, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            if self.shuffle:
                g = torch.Generator().manual_seed(sample_seed(self.seed, epoch))
                self._perm = torch.randperm(self.size, generator=g)
            else:
                self._perm = torch.arange(self.size)
            self._perm_epoch = epoch
        return self._perm

    def batch_for(self, step: int) -> list[tuple[int, int, int]]:
        """This rank's ``(index, epoch, sample_seed)`` items of global batch ``step``."""
        local = self.batch_size // self.world_size
        first = step * self.batch_size + self.rank * local
        items = []
        for position in range(first, first + local):
            epoch, offset = divmod(position, self.size)
            index = int(self._permutation(epoch)[offset])
            items.append((index, epoch, sample_seed(self.seed, epoch, offset)))
        return items

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        step = self.start_step
        while self.num_steps is None or step < self.start_step + self.num_steps:
            yield self.batch_for(step)
            step += 1

    def __len__(self) -> int:
        if self.num_steps is None:
            raise TypeError("an endless StepBatchSampler has no length")
        return self.num_steps


class SeededDataset(Dataset):
    """Wraps a dataset: item ``(index, epoch, seed)`` is ``dataset[index]`` made in epoch ``epoch``
    (``set_epoch``, which selects the synthetic data's augmentation) with every global RNG seeded
    by ``seed``; the seed is returned as ``sample_seed``.

    A sample then depends only on (run seed, step), not on the worker nor on what ran before:
    batches are reproducible and resumable.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int, int]) -> Any:
        index, epoch, seed = item
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        torch.manual_seed(seed)
        np.random.seed(seed % (2 ** 32))
        random.seed(seed)
        sample = self.dataset[index]
        if isinstance(sample, dict):
            sample = dict(sample, sample_seed=torch.tensor(seed, dtype=torch.int64))
        return sample


class SyntheticParamItems(Dataset):
    """Parameters + augmentation of synthetic samples, for rendering on the GPU (the "gpu" pipeline).

    ``items[i]`` = (``SampleParams`` of train sample i, its ``AugmentParams`` of the current epoch or
    None) — the same draws as ``SyntheticDataset(...)[i]`` makes internally.
    """

    def __init__(self, config: Any, augment: Any, body: Any = None) -> None:
        self.params = SyntheticParamDataset("train", config=config, body=body)
        self.config, self.augment, self.epoch = config, augment, 0

    def __len__(self) -> int:
        return len(self.params)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        aug = None
        if self.augment is not None:  # as SyntheticDataset.augment_params
            g = torch.Generator().manual_seed(synthetic_seed(self.config, "train", index, stream=1 + self.epoch))
            aug = sample_augment_params(self.augment, 1, g)
        return self.params[index], aug


def _cat_augment(draws: list[AugmentParams]) -> AugmentParams:
    """One :class:`AugmentParams` of B samples from B one-sample draws."""
    return map_params(lambda *ts: torch.cat(ts), *draws)


def _collate_param_items(items: list[tuple[Any, Any]]) -> tuple[Any, Any]:
    augs = [a for _, a in items]
    return collate_params([p for p, _ in items]), None if augs[0] is None else _cat_augment(augs)


class ConcatDatasets(ConcatDataset):
    """Several datasets end to end (the paper's H36M + UP-3D mixture), sampled in proportion to size."""

    def __init__(self, datasets: list[Dataset]) -> None:
        if not datasets:
            raise ValueError("datasets: expected at least one dataset")
        super().__init__(datasets)


def to_device(batch: Batch | dict[str, Any], device: torch.device, channels_last: bool = False) -> Batch:
    """Move every tensor of a batch to ``device`` (non-blocking from pinned memory).

    Args:
        batch: a :class:`~decomr.data.batch.Batch` (or a dict of its batched values).
        device: the target device.
        channels_last: store ``image`` (B, 3, S, S) channels-last.
    """
    return as_batch(batch).to(device, non_blocking=True, channels_last=channels_last)


# ------------------------------------------------------------------------------------------------
# Datasets from the config
# ------------------------------------------------------------------------------------------------
def _official(item: str, config: Any, train: bool) -> Dataset:
    name, split = item.split(":")
    root = Path(config.data.official_root).expanduser() / name if config.data.official_root else None
    return OfficialDataset(name, split, root=root, res=config.model.img_size, skip_bad=train)


def _synthetic(config: Any, split: str, body: Any, atlas: Any, augment: bool) -> Dataset:
    aug = config.augmentation if augment else None
    atlases = {atlas.name: atlas} if atlas is not None else None
    return SyntheticDataset(split, config=config.synthetic, augment=aug, body=body, atlases=atlases)


def build_train_dataset(config: Any, body: Any, atlas: Any, progress: bool = True) -> Dataset:
    """The training set of ``config.data``: the synthetic train split (augmented as
    ``data.augment`` says), or the official mixture (augmented on the device, see :class:`LoaderSource`).

    With ``data.cache`` set, the synthetic train split is read from that pre-rendered folder
    (:mod:`decomr.data.cache`), which is rendered first with every core when it is missing or
    unfinished (resumable); its samples are augmented on the device like official crops."""
    if config.data.source == "official":
        return _official_training_part(config, train=True, held_out=False)
    if config.data.cache:
        syn = config.synthetic
        folder = ensure_cache(syn, "train", f"{config.data.cache}/train", progress=progress)  # both atlases
        return CachedSyntheticDataset(folder, config=syn, split="train", size=syn.train_size)
    return _synthetic(config, "train", body, atlas, config.data.augment)


def augments_on_device(config: Any) -> bool:
    """Whether training batches are augmented on the device (official crops, cached synthetic
    renders) rather than while rendering (on-the-fly synthetic data)."""
    return config.data.augment and (config.data.source == "official" or bool(config.data.cache))


def official_val_indices(sizes: list[int], fraction: float) -> list[tuple[int, int]]:
    """(start, stop) of the held-out tail of each training set: the last ``ceil(fraction * n)`` records.

    >>> official_val_indices([100, 7], 0.02)
    [(98, 100), (6, 7)]
    """
    spans = []
    for n in sizes:
        k = min(n - 1, max(1, math.ceil(fraction * n))) if n > 1 else 0
        spans.append((n - k, n))
    return spans


def _official_training_part(config: Any, train: bool, held_out: bool) -> Dataset:
    """The official training mixture without (``held_out=False``) or only (True) its validation tail."""
    parts = []
    for item in config.data.official_train:
        data = _official(item, config, train=train)
        (start, stop), = official_val_indices([len(data)], config.data.official_val_fraction)
        parts.append(Subset(data, range(start, stop) if held_out else range(0, start)))
    return ConcatDatasets(parts)


def build_test_dataset(config: Any, body: Any, atlas: Any, split: str | None = None) -> Dataset:
    """The set evaluated during training (checkpoint selection), or a named split.

    Synthetic data: the ``split`` (default ``data.eval_split``, i.e. ``val``, never ``test``).
    Official data: with ``split=None``, the validation tail held out of each training set
    (:func:`official_val_indices`): ``best.pt`` is never selected on test data; ``split="test"``
    gives ``data.official_test`` (what ``decomr eval`` reports).
    """
    if config.data.source == "official":
        if split == "test":
            return _official(config.data.official_test, config, train=False)
        return _official_training_part(config, train=False, held_out=True)
    return _synthetic(config, split or config.data.eval_split, body, atlas, augment=False)


def build_test_loader(dataset: Dataset, batch_size: int, num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """A plain in-order loader over the evaluation set."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      pin_memory=pin_memory, persistent_workers=False, collate_fn=Batch.collate)


# ------------------------------------------------------------------------------------------------
# Sources: `next_batch()` returns this rank's part of the next global batch, on the device
# ------------------------------------------------------------------------------------------------
def augment_official_batch(batch: Batch, config: Any, body: Any, atlas: Any = None) -> Batch:
    """The paper's augmentation of cropped samples (official or cached synthetic) on their device (Sec. 4.1).

    Each sample's transform is drawn from its ``sample_seed`` (so it is reproducible); the pose
    is mirrored only with the SMPL body (Anny's mirrored pose is approximate, and the targets use
    the exactly mirrored vertices anyway). IUV images in the batch are mirrored with the atlas's
    UV mirror (``u -> 1 - u`` on the continuous map).
    """
    if batch.sample_seed is None:
        raise ValueError("batch.sample_seed: needed to draw each sample's transform (SeededDataset adds it)")
    seeds = batch.sample_seed.tolist()
    draws = [sample_augment_params(config.augmentation, 1, torch.Generator().manual_seed(int(s))) for s in seeds]
    params = _cat_augment(draws).to(batch.device)
    fmt = batch_keypoint_format(batch)
    kept = batch.pose if getattr(body, "name", "") != "smpl" else None  # only SMPL's pose is mirrored
    source = batch.replace(pose=None) if kept is not None else batch
    mirrors = None
    if atlas is not None and (batch.iuv is not None or batch.iuv_default is not None):
        mirrors = {"iuv": _uv_mirror(atlas, body)}
        if batch.iuv_default is not None:
            mirrors["iuv_default"] = _uv_mirror(load_atlas(body, "default"), body)
    needs_body = getattr(body, "name", "") == "smpl" or batch.vertices is not None
    out = augment_batch(source, params, body=body if needs_body else None, uv_mirrors=mirrors,
                        keypoint_flip_perm=joint_set(fmt, "batch.keypoint_format").flip_perm)
    return out.replace(pose=kept) if kept is not None else out


_UV_MIRRORS: dict[tuple[str, str], Any] = {}


def _uv_mirror(atlas: Any, body: Any) -> Any:
    """The atlas's :class:`~decomr.data.augment.UVMirror` (built once per body and atlas)."""
    key = (getattr(body, "name", ""), atlas.name)
    if key not in _UV_MIRRORS:
        _UV_MIRRORS[key] = UVMirror.symmetric_map() if atlas.name == "continuous" else UVMirror.from_atlas(atlas, body)
    return _UV_MIRRORS[key]


class _StepLoader:
    """What both sources share: a ``DataLoader`` over ``SeededDataset(dataset)`` in the order of
    ``self.sampler`` (a :class:`StepBatchSampler`), with ``self.num_workers`` workers."""

    def _start(self, dataset: Dataset, collate: Any, pin_memory: bool = False) -> None:
        workers = self.num_workers
        self.loader = DataLoader(SeededDataset(dataset), batch_sampler=self.sampler, num_workers=workers,
                                 pin_memory=pin_memory, collate_fn=collate, persistent_workers=workers > 0,
                                 prefetch_factor=4 if workers > 0 else None)
        self._iter = iter(self.loader)

    def close(self) -> None:
        self._iter = None


@dataclass
class LoaderSource(_StepLoader):
    """Batches from a ``Dataset`` through a ``DataLoader`` (workers, pinned memory).

    Official data is augmented here, on the device (``augment`` = the body model, or None).
    """

    dataset: Dataset
    sampler: StepBatchSampler
    device: torch.device
    num_workers: int = 0
    channels_last: bool = False
    augment_with: Any = None  # (config, body, atlas) to augment official / cached batches on the device

    def __post_init__(self) -> None:
        self._start(self.dataset, Batch.collate, pin_memory=self.device.type == "cuda")

    def next_batch(self) -> Batch:
        batch = to_device(next(self._iter), self.device, self.channels_last)
        if self.augment_with is not None:
            batch = augment_official_batch(batch, *self.augment_with)
        return batch


@dataclass
class GeneratorSource(_StepLoader):
    """Synthetic batches: parameters from DataLoader workers, rendered on the device."""

    generator: Any  # decomr.data.synthetic.SyntheticBatchGenerator on the device
    items: SyntheticParamItems
    sampler: StepBatchSampler
    device: torch.device
    num_workers: int = 0
    channels_last: bool = False

    def __post_init__(self) -> None:
        self._start(self.items, _collate_param_items)

    def next_batch(self) -> Batch:
        params, augment = next(self._iter)
        batch = self.generator.render(params, augment)
        return to_device(batch, self.device, self.channels_last)


def resolve_pipeline(config: Any, device: torch.device) -> str:
    """``train.pipeline`` with ``"auto"`` resolved: ``"gpu"`` for synthetic data on CUDA, else ``"loader"``."""
    pipeline = config.train.pipeline
    if pipeline == "auto":
        rendered = config.data.source == "synthetic" and not config.data.cache
        pipeline = "gpu" if (device.type == "cuda" and rendered) else "loader"
    if pipeline == "gpu" and config.data.cache:
        raise ValueError("train.pipeline: 'gpu' renders the synthetic data on the device; with data.cache set use "
                         "'loader' (or 'auto')")
    if pipeline == "gpu" and config.data.source != "synthetic":
        raise ValueError("train.pipeline: 'gpu' only generates synthetic data; use 'loader' for official data")
    return pipeline


def build_train_source(config: Any, body: Any, atlas: Any, device: torch.device, rank: int, world_size: int,
                       start_step: int, dataset: Dataset | None = None):
    """The batch source of a run (see the module docstring), positioned at ``start_step``."""
    t = config.train
    channels_last = t.channels_last
    if resolve_pipeline(config, device) == "gpu":
        body_cpu = body if body.template.device.type == "cpu" else None
        items = SyntheticParamItems(config.synthetic, config.augmentation if config.data.augment else None,
                                    body=body_cpu)
        gen = SyntheticBatchGenerator(config.synthetic, device, body=body_cpu, atlases={atlas.name: atlas})
        sampler = StepBatchSampler(len(items), t.batch_size, t.seed, rank, world_size, start_step)
        return GeneratorSource(gen, items, sampler, device, t.num_workers, channels_last)
    dataset = dataset if dataset is not None else build_train_dataset(config, body, atlas)
    sampler = StepBatchSampler(len(dataset), t.batch_size, t.seed, rank, world_size, start_step)
    augment = (config, body, atlas) if augments_on_device(config) else None
    return LoaderSource(dataset, sampler, device, t.num_workers, channels_last, augment)
