"""Inference latency on a GPU: the released model (or configs/cpu.yaml's architecture) at batch 1 and 32.

Usage (GPU machine, repository root; part of ``scripts/gpu_check.sh``)::

    python benchmarks/gpu_latency.py --out results.json

Times the network forward (mesh included, Eq. 3) under bf16 autocast, median and minimum over
repeats after a warm-up, with ``torch.cuda.synchronize``; writes JSON and prints a table.
Random weights when the release is missing (latency does not depend on the weights).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "gpu_latency.json"))
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--device", default="cuda")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_latency: no CUDA device", file=sys.stderr)
        return 2
    from decomr.train.checkpoint import released_checkpoint

    released = released_checkpoint()
    if released is not None:
        from decomr.predict import Predictor

        model = Predictor.from_checkpoint(released, device=device).model
        source = str(released.relative_to(REPO)) if released.is_relative_to(REPO) else str(released)
    else:
        from decomr.body import load
        from decomr.models import DecoMR
        from decomr.train.config import load_config
        from decomr.uv import load_atlas

        cfg = load_config("cpu").model
        body = load("anny")
        model = DecoMR(cfg, body, load_atlas(body, cfg.atlas)).to(device)
        source = "configs/cpu.yaml architecture, random weights"
    model.eval()
    size = model.config.img_size
    rows = []
    for b in args.batches:
        x = torch.rand(b, 3, size, size, device=device)
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            for _ in range(5):
                model(x)
            times = []
            for _ in range(args.repeats):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
        rows.append({"batch": b, "median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times),
                     "ms_per_image": 1000 * statistics.median(times) / b})
        print(f"batch {b:3d}: {rows[-1]['median_ms']:.2f} ms (min {rows[-1]['min_ms']:.2f}), "
              f"{rows[-1]['ms_per_image']:.3f} ms/image", flush=True)
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "model": source, "img_size": size, "autocast": "bf16", "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
