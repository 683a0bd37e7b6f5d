"""Export a dataset to ``.pt`` shards on disk, and read them back.

On-the-fly generation (:mod:`decomr.data.synthetic`) is the default; shards are for a fixed
snapshot (sharing a dataset, a machine without the body model such as the GPU machine, or
benchmarks independent of rendering). A folder holds ``shard_00000.pt``, ``shard_00001.pt``, ...
(each a dict of stacked tensors) and ``index.json`` (sample count, shard sizes, keys, the
dataset's config).

Images are stored as uint8 by default (4x smaller; ``ShardDataset`` returns them as float in
[0, 1], within 1/510 of the original); every other tensor is stored as is. Example::

    export_shards(SyntheticDataset("val", 100), "data/shards/val", shard_size=50)
    ShardDataset("data/shards/val")[0]["image"].shape   # torch.Size([3, 224, 224])
"""
from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from decomr.data.batch import LEGACY_KEYS

__all__ = ["export_shards", "ShardDataset", "INDEX_NAME"]

INDEX_NAME = "index.json"
_FORMAT_VERSION = 1
_UINT8_KEYS = ("image",)


def _collate(samples: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    keys = samples[0].keys()
    for s in samples[1:]:
        if s.keys() != keys:
            raise ValueError(f"samples: keys differ between samples ({sorted(keys)} vs {sorted(s.keys())})")
    return {k: torch.stack([s[k] for s in samples]) for k in keys}


def export_shards(dataset: Dataset, folder: str | Path, shard_size: int = 1000, uint8_images: bool = True,
                  num_workers: int = 0, progress: bool = False) -> Path:
    """Write every sample of ``dataset`` into shards of ``shard_size`` samples.

    Args:
        dataset: a map-style dataset of dicts of tensors (e.g. ``SyntheticDataset``).
        folder: output folder (created; existing shards in it are overwritten).
        shard_size: samples per shard.
        uint8_images: store ``image`` as uint8 (``round(255 x)``).
        num_workers: DataLoader workers used to produce the samples.
        progress: show a tqdm bar.

    Returns:
        The path of ``index.json``.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size: expected >= 1, got {shard_size}")
    n = len(dataset)
    if n == 0:
        raise ValueError("dataset: is empty, nothing to export")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=shard_size, shuffle=False, num_workers=num_workers,
                                         collate_fn=_collate)
    if progress:
        from tqdm.auto import tqdm

        loader = tqdm(loader, desc=f"export {folder.name}", unit="shard")
    shards, keys = [], None
    for i, batch in enumerate(loader):
        if uint8_images:
            for k in _UINT8_KEYS:
                if k in batch:
                    batch[k] = (batch[k].clamp(0, 1) * 255).round().to(torch.uint8)
        name = f"shard_{i:05d}.pt"
        tmp = folder / f".{name}.tmp"
        torch.save(batch, tmp)
        tmp.replace(folder / name)
        count = int(next(iter(batch.values())).shape[0])
        shards.append({"file": name, "count": count})
        keys = sorted(batch)
    config = getattr(dataset, "config", None)
    index = {
        "format_version": _FORMAT_VERSION,
        "num_samples": n,
        "shard_size": int(shard_size),
        "shards": shards,
        "keys": keys,
        "uint8_keys": [k for k in _UINT8_KEYS if uint8_images and k in (keys or [])],
        "split": getattr(dataset, "split", None),
        "config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else None,
    }
    path = folder / INDEX_NAME
    path.write_text(json.dumps(index, indent=1, default=str))
    return path


class ShardDataset(Dataset):
    """Read a folder written by :func:`export_shards` (keeps the last ``cache`` shards in memory).

    Args:
        folder: the folder holding ``index.json``.
        cache: number of decoded shards kept in memory (sequential or shard-local access reads
            each shard once).

    Raises:
        FileNotFoundError: no ``index.json`` or a shard file missing.
    """

    def __init__(self, folder: str | Path, cache: int = 2):
        self.folder = Path(folder)
        path = self.folder / INDEX_NAME
        if not path.exists():
            raise FileNotFoundError(f"{path}: no shard index (write one with decomr.data.export_shards)")
        self.index: dict[str, Any] = json.loads(path.read_text())
        if self.index.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"{path}: format version {self.index.get('format_version')}, expected {_FORMAT_VERSION}")
        missing = [s["file"] for s in self.index["shards"] if not (self.folder / s["file"]).exists()]
        if missing:
            raise FileNotFoundError(f"{self.folder}: missing shard files {missing[:3]}")
        counts = torch.tensor([s["count"] for s in self.index["shards"]])
        self._starts = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
        self._cache: OrderedDict[int, dict[str, Tensor]] = OrderedDict()
        self._cache_size = max(1, int(cache))
        self.split = self.index.get("split")
        self.config = self.index.get("config")

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _shard(self, s: int) -> dict[str, Tensor]:
        if s in self._cache:
            self._cache.move_to_end(s)
            return self._cache[s]
        data = torch.load(self.folder / self.index["shards"][s]["file"], map_location="cpu", weights_only=True)
        self._cache[s] = data
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return data

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n}")
        index = int(index) % n
        s = int(torch.searchsorted(self._starts, torch.tensor(index), right=True)) - 1
        data = self._shard(s)
        j = index - int(self._starts[s])
        out = {LEGACY_KEYS.get(k, k): v[j] for k, v in data.items()}  # old shards: mask224 -> mask
        for k in self.index.get("uint8_keys", []):
            out[k] = out[k].float() / 255.0
        return out
