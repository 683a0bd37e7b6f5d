"""Benchmark of the synthetic data: samples per second on the CPU (per core) and on CUDA.

Usage::

    .venv/bin/python benchmarks/data.py                 # CPU, 1 thread [+ CUDA when available]
    .venv/bin/python benchmarks/data.py --quick         # fewer repetitions
    .venv/bin/python benchmarks/data.py --no-cpu --cuda # on the GPU machine

Measures, at the default (paper-size) configuration (224 x 224 images, 56 x 56 IUV, continuous
atlas, Anny):

* ``SyntheticDataset`` one sample at a time on one CPU thread (what one DataLoader worker gives);
* ``SyntheticBatchGenerator`` batches of 16 and 64 on one CPU thread, and on CUDA (16, 64, 256);
* the share of the per-sample parameter draw (CPU only, whatever the rendering device; run it in
  DataLoader workers with ``SyntheticParamDataset`` for GPU-side generation);
* batches with the paper's augmentation applied in 3D before rendering.

Writes ``benchmarks/results/data.json`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from decomr.data.augment import AugmentConfig, sample_augment_params  # noqa: E402
from decomr.data.synthetic import SyntheticBatchGenerator, SyntheticConfig, SyntheticDataset  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dataset_rate(config: SyntheticConfig | None = None, n: int = 32, split: str = "train", start: int = 0,
                 threads: int | None = 1) -> dict:
    """Samples per second of ``SyntheticDataset`` (one sample at a time, CPU).

    Args:
        config: dataset configuration (default: the paper-size one).
        n: samples timed (after one warm-up sample).
        split: split to read.
        start: first index.
        threads: ``torch.set_num_threads`` during the measurement (1 = per core); None keeps it.

    Returns:
        dict with ``samples_per_s``, ``ms_per_sample``, ``n``, ``threads``.
    """
    config = config or SyntheticConfig()
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        ds = SyntheticDataset(split, config=config)
        ds[start]  # warm-up: builds the renderer
        t0 = time.perf_counter()
        for i in range(start + 1, start + 1 + n):
            ds[i]
        dt = time.perf_counter() - t0
    finally:
        torch.set_num_threads(old)
    return {"samples_per_s": n / dt, "ms_per_sample": 1e3 * dt / n, "n": n, "threads": threads or old}


def batch_rate(generator: SyntheticBatchGenerator, batch_size: int, repeats: int = 2, split: str = "train",
               augment: bool = False) -> dict:
    """Samples per second of ``SyntheticBatchGenerator.batch`` (parameters drawn + rendered).

    Returns:
        dict with ``samples_per_s`` (end to end), ``params_ms_per_sample`` (CPU parameter draw),
        ``render_samples_per_s`` (rendering only, on the generator's device), ``batch_size``.
    """
    dev = generator.device
    aug = sample_augment_params(AugmentConfig(), batch_size, torch.Generator().manual_seed(0)) if augment else None
    generator.batch(split, range(batch_size), augment=aug)  # warm-up
    _sync(dev)
    t_params = t_render = 0.0
    for r in range(repeats):
        idx = range((r + 1) * batch_size, (r + 2) * batch_size)
        t0 = time.perf_counter()
        params = generator.params(split, idx)
        t1 = time.perf_counter()
        generator.render(params, augment=aug)
        _sync(dev)
        t2 = time.perf_counter()
        t_params += t1 - t0
        t_render += t2 - t1
    n = repeats * batch_size
    return {"batch_size": batch_size, "augment": augment, "samples_per_s": n / (t_params + t_render),
            "params_ms_per_sample": 1e3 * t_params / n, "render_samples_per_s": n / t_render}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU measurements")
    parser.add_argument("--cuda", action="store_true", help="require CUDA (default: measure it when available)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "data.json"))
    args = parser.parse_args(argv)
    config = SyntheticConfig()
    result: dict = {
        "what": "synthetic data generation rate (samples/s), default SyntheticConfig (224 px image, 56 px IUV, "
                f"{config.atlas} atlas, {config.body})",
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "cpu_count": os.cpu_count()},
        "config": config.to_dict(),
    }
    reps = 1 if args.quick else 2
    if not args.no_cpu:
        torch.set_num_threads(1)
        result["cpu_dataset_per_core"] = dataset_rate(config, n=8 if args.quick else 32)
        print("dataset, 1 thread:", json.dumps(result["cpu_dataset_per_core"]))
        gen = SyntheticBatchGenerator(config, "cpu")
        result["cpu_batch_per_core"] = []
        for bs in (16, 64):
            r = batch_rate(gen, bs, repeats=reps)
            result["cpu_batch_per_core"].append(r)
            print(f"batch generator, CPU 1 thread, batch {bs}:", json.dumps(r))
        r = batch_rate(gen, 16, repeats=reps, augment=True)
        result["cpu_batch_per_core"].append(r)
        print("batch generator, CPU 1 thread, batch 16, augmented:", json.dumps(r))
    if torch.cuda.is_available():
        torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
        gen = SyntheticBatchGenerator(config, "cuda")
        result["cuda_device"] = torch.cuda.get_device_name()
        result["cuda_batch"] = []
        for bs in (16, 64, 256):
            r = batch_rate(gen, bs, repeats=reps + 1)
            result["cuda_batch"].append(r)
            print(f"batch generator, CUDA, batch {bs}:", json.dumps(r))
        r = batch_rate(gen, 64, repeats=reps + 1, augment=True)
        result["cuda_batch"].append(r)
        print("batch generator, CUDA, batch 64, augmented:", json.dumps(r))
    elif args.cuda:
        raise SystemExit("--cuda: no CUDA device available")
    else:
        result["cuda_batch"] = None
        result["cuda_note"] = "no CUDA device on this machine"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print("wrote", out)
    return result


if __name__ == "__main__":
    main()
