"""Training throughput of the CPU recipe from a pre-rendered cache vs rendering on the fly, side by side.

Usage::

    .venv/bin/python benchmarks/train_sources.py              # configs/cpu.yaml, 40 + 20 steps each
    .venv/bin/python benchmarks/train_sources.py --steps 20 10

Both runs train ``configs/cpu.yaml`` (ResNet-18, 128 px, batch 32) for the same steps on this
machine, one after the other:

* ``cache``: batches read from ``data/synthetic/cpu128/train`` (rendered once by ``decomr
  render-synthetic --config cpu``) and augmented on the device; both cores train (2 threads, no
  DataLoader worker) — the recipe;
* ``on the fly``: the same synthetic distribution rendered while training, by one DataLoader worker
  on one core, the network on the other (1 thread) — what the earlier CPU budgets did.

Images per second are the median of the logged windows after the first one (warm-up), per stage.
Writes ``benchmarks/results/train_sources_cpu.json`` (or ``--out``).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

VARIANTS = {
    "cache": [],  # configs/cpu.yaml as it is
    "on the fly": ["data.cache=", "train.num_workers=1", "train.cpu_threads=1"],
}


def measure(name: str, overrides: list[str], steps: tuple[int, int], out_dir: Path) -> dict:
    from decomr.data.cache import cache_status, resolve_cache_folder
    from decomr.train import train
    from decomr.train.config import apply_overrides, load_config

    config = apply_overrides(load_config("cpu"), [
        *overrides, f"train.out_dir={out_dir}", f"train.stage1_steps={steps[0]}", f"train.stage2_steps={steps[1]}",
        "train.eval_every=0", "train.ckpt_every=100000", "train.log_every=10", "train.tensorboard=false",
        "train.warmup_steps=0",
    ])
    if config.data.cache:
        done, size = cache_status(resolve_cache_folder(f"{config.data.cache}/train"))
        if size == 0 or done < size:
            raise SystemExit(f"the cache {config.data.cache}/train is not rendered: run "
                             "`decomr render-synthetic --config cpu` first")
    start = time.perf_counter()
    result = train(config, progress=False)
    wall = time.perf_counter() - start
    rows = [r for r in result.history if r.get("kind") == "train"]
    row = {"variant": name, "overrides": overrides, "wall_s": round(wall, 1)}
    for stage in (1, 2):
        ips = [r["images_per_s"] for r in rows if r["stage"] == stage][1:]  # drop the warm-up window
        row[f"stage{stage}_images_per_s"] = round(statistics.median(ips), 1) if ips else None
    print(f"{name:>11}: stage 1 {row['stage1_images_per_s']} img/s, stage 2 {row['stage2_images_per_s']} img/s "
          f"({wall:.0f} s)", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, nargs=2, default=(40, 20), metavar=("STAGE1", "STAGE2"))
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "train_sources_cpu.json"))
    args = p.parse_args(argv)
    result = {"benchmark": "train_sources", "config": "configs/cpu.yaml", "steps": list(args.steps),
              "cpu_count": os.cpu_count(), "load_average_start": [round(v, 2) for v in os.getloadavg()],
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, overrides) in enumerate(VARIANTS.items()):
            result["rows"].append(measure(name, overrides, tuple(args.steps), Path(tmp) / f"run{k}"))
    by = {r["variant"]: r for r in result["rows"]}
    for stage in (1, 2):
        a, b = by["cache"][f"stage{stage}_images_per_s"], by["on the fly"][f"stage{stage}_images_per_s"]
        result[f"stage{stage}_cache_vs_on_the_fly"] = round(a / b, 2) if a and b else None
    result["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"cache / on the fly: stage 1 x{result['stage1_cache_vs_on_the_fly']}, "
          f"stage 2 x{result['stage2_cache_vs_on_the_fly']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
