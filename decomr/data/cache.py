"""A pre-rendered synthetic split on disk: render once with every core, train from it many times.

On a CPU, rendering a synthetic sample costs about half as much as a training step on it. On the
fly, one core renders while the other trains; from a cache both cores train and every later run
(another seed, another Table 5 cell) reads the same images. ``decomr render-synthetic`` (or a
training run whose ``data.cache`` is set) writes one folder per split::

    data/synthetic/<name>/train/
        meta.json          the SyntheticConfig, split, size, per-key dtype/shape, chunks done
        image.npy          (N, 3, S, S) uint8     RGB (round(255 x))
        iuv.npy            (N, 3, R, R) float16   (mask, u, v) on the config's atlas
        vertices.npy       (N, V, 3) float16      camera frame, pelvis-centred, metres (<= 0.5 mm rounding)
        ...                every other sample key (float32, or uint8 for ``parts``)

Each key is a ``.npy`` file that is memory-mapped when read, so random access costs one page
read per sample, whatever the size. Rendering is resumable: chunks are written in place and
recorded in ``meta.json`` atomically; a killed run continues where it stopped.

A cache made by :func:`ensure_cache` (what training and ``decomr render-synthetic`` use) holds the
IUV images on both UV atlases (``atlas="both"``: ``iuv`` continuous, ``iuv_default`` default), so
runs on either atlas (the cells of Table 5) read the same folder; :class:`CachedSyntheticDataset`
serves a config of one atlas from it, that atlas's IUV images as ``iuv``.

Cached samples are the *un-augmented* renders; the training loop augments batches on the device
with :func:`decomr.data.augment.augment_batch` (flip, colour, rotation, zoom as 2D warps, as for
official crops), so every epoch still differs.

Example::

    cfg = SyntheticConfig(image_size=128, iuv_size=32, train_size=2000)
    folder = render_cache(cfg, "train", "data/synthetic/demo/train", workers=2)
    ds = CachedSyntheticDataset(folder)        # ds[i] == SyntheticDataset("train", config=cfg)[i]
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from decomr.data.batch import LEGACY_KEYS
from decomr.data.synthetic import SyntheticBatchGenerator, SyntheticConfig
from decomr.paths import atomic_write_bytes, data_dir

__all__ = ["CACHE_VERSION", "render_cache", "ensure_cache", "cache_status", "CachedSyntheticDataset",
           "CacheMismatchError", "resolve_cache_folder", "default_workers"]

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
META = "meta.json"
#: Storage dtype per key (others: by their dtype, :data:`_STORAGE_OF_DTYPE`, else float32).
_STORAGE = {"image": "uint8", "iuv": "float16", "iuv_default": "float16", "vertices": "float16", "parts": "uint8",
            "mask": "uint8"}
_STORAGE_OF_DTYPE = {torch.int64: "int64", torch.int32: "int64", torch.bool: "uint8"}
#: Keys not stored: constant (rebuilt on read) or not needed for training/evaluation.
_SKIP = ("has_3d", "has_mesh")


class CacheMismatchError(ValueError):
    """A cache folder holds another dataset (its config or size differs from the requested one)."""


def resolve_cache_folder(folder: str | Path) -> Path:
    """A cache folder: absolute paths as given, relative ones under ``decomr.paths.data_dir()``."""
    path = Path(folder).expanduser()
    return path if path.is_absolute() else data_dir() / path


def _config_dict(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def _read_meta(folder: Path) -> dict[str, Any] | None:
    path = folder / META
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CacheMismatchError(f"{path}: unreadable ({err}); delete the folder {folder} and render it again") from err


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    atomic_write_bytes(folder / META, json.dumps(meta, indent=1).encode())


def _sample_layout(config: Any, split: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """{key: (storage dtype, per-sample shape)} from one rendered sample."""
    sample = SyntheticBatchGenerator(config).batch(split, [0])
    return {key: (_STORAGE.get(key) or _STORAGE_OF_DTYPE.get(value.dtype, "float32"), tuple(value.shape[1:]))
            for key, value in sample.to_dict().items() if key not in _SKIP}


def _to_storage(key: str, value: torch.Tensor, dtype: str) -> np.ndarray:
    if key == "image":
        return (value.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return value.numpy().astype(dtype)


def cache_status(folder: str | Path) -> tuple[int, int]:
    """(samples rendered, samples in the split) of a cache folder ((0, 0) when there is none)."""
    meta = _read_meta(Path(folder))
    if meta is None:
        return 0, 0
    done = sum(min(meta["chunk"], meta["size"] - c * meta["chunk"]) for c in meta["done"])
    return done, int(meta["size"])


def _render_chunks(args: tuple) -> list[int]:
    """Worker: render chunks ``ids`` straight into the memory-mapped files (one process)."""
    config, split, folder, layout, chunk, size, ids, threads = args
    torch.set_num_threads(threads)

    gen = SyntheticBatchGenerator(config)
    arrays = {k: np.load(Path(folder) / f"{k}.npy", mmap_mode="r+") for k in layout}
    for c in ids:
        lo, hi = c * chunk, min(size, (c + 1) * chunk)
        batch = gen.batch(split, range(lo, hi)).to_dict()
        for key, (dtype, _) in layout.items():
            arrays[key][lo:hi] = _to_storage(key, batch[LEGACY_KEYS.get(key, key)], dtype)
        for a in arrays.values():
            a.flush()
    return list(ids)


def render_cache(config: Any, split: str, folder: str | Path, size: int | None = None, chunk: int = 64,
                 workers: int = 2, progress: bool = True) -> Path:
    """Render samples ``0 .. size-1`` of a synthetic split into ``folder`` (resumable).

    Args:
        config: the :class:`~decomr.data.synthetic.SyntheticConfig` (its sizes bound ``size``).
        split: ``"train"``, ``"val"`` or ``"test"``.
        folder: the cache folder (created; relative paths are under ``data/``).
        size: samples to render (default: the split's size in ``config``).
        chunk: samples rendered per batch (and per resumable unit).
        workers: processes rendering in parallel (one thread each).
        progress: show a tqdm bar.

    Returns:
        The folder.

    Raises:
        CacheMismatchError: the folder holds another dataset (other config, split or size).
    """
    if not isinstance(config, SyntheticConfig):
        raise ValueError(f"config: expected a SyntheticConfig, got {type(config).__name__}")
    size = config.split_size(split) if size is None else int(size)
    if not 1 <= size <= config.split_size(split):
        raise ValueError(f"size: expected 1 <= size <= {config.split_size(split)} (the {split} split), got {size}")
    if chunk < 1 or workers < 1:
        raise ValueError(f"chunk, workers: expected >= 1, got {chunk}, {workers}")
    folder = resolve_cache_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {"version": CACHE_VERSION, "config": _config_dict(config), "split": split, "size": size}
    meta = _read_meta(folder)
    if meta is not None:
        differs = [k for k in wanted if meta.get(k) != wanted[k]]
        if differs:
            raise CacheMismatchError(
                f"{folder}: holds another dataset ({', '.join(differs)} differ). Use another folder "
                f"(data.cache) or delete {folder} to render it again.")
        chunk = int(meta["chunk"])
    else:
        layout = _sample_layout(config, split)
        for key, (dtype, shape) in layout.items():
            np.lib.format.open_memmap(folder / f"{key}.npy", mode="w+", dtype=dtype, shape=(size, *shape)).flush()
        meta = {**wanted, "chunk": chunk, "layout": {k: [d, list(s)] for k, (d, s) in layout.items()}, "done": []}
        _write_meta(folder, meta)
    layout = {k: (d, tuple(s)) for k, (d, s) in meta["layout"].items()}
    todo = [c for c in range(math.ceil(size / chunk)) if c not in set(meta["done"])]
    if not todo:
        return folder
    from tqdm.auto import tqdm

    bar = tqdm(total=size, initial=cache_status(folder)[0], unit="img", disable=not progress,
               desc=f"render {split} -> {folder.name}", dynamic_ncols=True)
    done = set(meta["done"])
    # Each task is a few chunks; results come back in any order and are recorded as they arrive.
    tasks = [(config, split, str(folder), layout, chunk, size, todo[i:i + 4], 1) for i in range(0, len(todo), 4)]
    try:
        if workers == 1:
            results = map(_render_chunks, tasks)
            pool = None
        else:
            import multiprocessing as mp

            # fork where there is one (Linux): spawn would re-run the caller's script in every worker,
            # which breaks scripts and notebooks without an `if __name__ == "__main__"` guard.
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            pool = mp.get_context(method).Pool(workers)
            results = pool.imap_unordered(_render_chunks, tasks)
        for ids in results:
            done.update(ids)
            meta["done"] = sorted(done)
            _write_meta(folder, meta)
            bar.update(sum(min(chunk, size - c * chunk) for c in ids))
    finally:
        bar.close()
        if workers > 1 and pool is not None:
            pool.terminate()
    return folder


def ensure_cache(config: Any, split: str, folder: str | Path, workers: int | None = None,
                 progress: bool = True) -> Path:
    """The cache of ``config``'s ``split`` in ``folder``, rendered first where missing or unfinished.

    A new cache is rendered with both atlases' IUV images (``atlas="both"``), so that the same
    folder serves runs on either atlas; a cache rendered earlier for ``config``'s atlas alone is
    used (and finished) as it is.

    Args:
        config: the :class:`~decomr.data.synthetic.SyntheticConfig` a run trains on (one atlas).
        split, folder, progress: as :func:`render_cache`. workers: rendering processes (default: every core).

    Raises:
        CacheMismatchError: the folder holds another dataset.
    """
    if not isinstance(config, SyntheticConfig):
        raise ValueError(f"config: expected a SyntheticConfig, got {type(config).__name__}")
    path = resolve_cache_folder(folder)
    meta = _read_meta(path)
    own = meta is not None and meta.get("config") == _config_dict(config)
    render_config = config if own else dataclasses.replace(config, atlas="both")
    return render_cache(render_config, split, path, workers=workers or default_workers(), progress=progress)


def _iuv_key(cached: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """The cache key holding ``wanted``'s IUV images when a cache rendered with config ``cached``
    serves it (same config, or the same with ``atlas="both"``), else None."""
    if cached == wanted:
        return "iuv"
    if cached.get("atlas") == "both" and {**cached, "atlas": wanted.get("atlas")} == wanted:
        key_of = {atlas: key for key, atlas in SyntheticConfig(atlas="both").atlas_names().items()}
        return key_of.get(wanted["atlas"])
    return None


class CachedSyntheticDataset(Dataset):
    """Samples of a folder written by :func:`render_cache` (memory-mapped, any access order).

    ``dataset[i]`` equals ``SyntheticDataset(split, config=cfg)[i]`` (no augmentation) up to the
    storage rounding: images to 1/255, IUV and vertices to float16 (<= 0.5 mm).

    Args:
        folder: the cache folder (relative paths are under ``data/``).
        config: optional SyntheticConfig the cache must serve: rendered with it, or with it on
            ``atlas="both"`` (then ``iuv`` is ``config.atlas``'s IUV image and the other atlas's is left out).
        split: optional split it must hold. size: optional number of samples it must hold.

    Raises:
        FileNotFoundError: no cache there. CacheMismatchError: another dataset, or unfinished.
    """

    def __init__(self, folder: str | Path, config: Any = None, split: str | None = None, size: int | None = None):
        self.folder = resolve_cache_folder(folder)
        meta = _read_meta(self.folder)
        if meta is None:
            raise FileNotFoundError(f"{self.folder}: no synthetic cache (render it with `decomr render-synthetic`)")
        if meta.get("version") != CACHE_VERSION:
            raise CacheMismatchError(f"{self.folder}: cache version {meta.get('version')}, expected {CACHE_VERSION}; "
                                     "delete it and render it again")
        self._rename: dict[str, str | None] = {}  # cache key -> sample key (None: left out)
        if config is not None:
            wanted = _config_dict(config)
            key = _iuv_key(meta["config"], wanted)
            if key is None:
                only = meta["config"].get("atlas")
                why = (f" (its IUV images are on the {only} atlas only; a cache rendered now holds both atlases)"
                       if {**meta["config"], "atlas": wanted["atlas"]} == wanted else "")
                raise CacheMismatchError(f"{self.folder}: rendered with another synthetic config{why}; use another "
                                         "data.cache folder or delete this one")
            if key != "iuv":
                self._rename = {"iuv": None, key: "iuv"}
            elif meta["config"] != wanted:
                self._rename = {"iuv_default": None}
        if split is not None and meta["split"] != split:
            raise CacheMismatchError(f"{self.folder}: holds the {meta['split']!r} split, expected {split!r}")
        if size is not None and meta["size"] != size:
            raise CacheMismatchError(f"{self.folder}: holds {meta['size']} samples, expected {size}")
        done, total = cache_status(self.folder)
        if done < total:
            raise CacheMismatchError(f"{self.folder}: only {done}/{total} samples rendered; finish it with "
                                     "`decomr render-synthetic` (it resumes)")
        self.meta, self.split, self.length = meta, meta["split"], int(meta["size"])
        self.keys = tuple(k for k in meta["layout"] if self._rename.get(k, k) is not None)
        self._arrays: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.length

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_arrays"] = None  # re-opened in each worker
        return state

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {k: np.load(self.folder / f"{k}.npy", mmap_mode="r") for k in self.keys}
        return self._arrays

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length}")
        index = int(index) % self.length
        out = {}
        for key, array in self._open().items():
            value = torch.from_numpy(np.array(array[index]))
            key = self._rename.get(key) or LEGACY_KEYS.get(key, key)  # old caches: mask224 -> mask
            if key == "image":
                value = value.float() / 255.0
            elif key == "parts":
                value = value.long()
            elif key == "mask" or value.dtype == torch.float16:
                value = value.float()
            out[key] = value
        out.update(has_3d=torch.tensor(True), has_mesh=torch.tensor(True))
        return out


def default_workers() -> int:
    """Rendering processes: every core (at least 1)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
