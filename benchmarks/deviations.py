"""Measured effect of decomr's switchable deviations from the paper, paired over seeds.

Usage::

    .venv/bin/python benchmarks/deviations.py                                   # both, cpu budget
    .venv/bin/python benchmarks/deviations.py --only lnet_residual --budget gpu # on the GPU machine

For each deviation, :func:`decomr.experiments.deviations.compare_setting` trains the Table 5 cell it
matters for with decomr's default and with the paper's setting, same seeds, and evaluates both on
the same synthetic test images:

- ``lnet_residual``: LNet predicts a residual on the template's location map (decomr) or the map
  itself (paper), on the decisive cell (continuous atlas, local + global features);
- ``pixel_transfer``: raw pixels area-averaged into CNet's grid before the transfer (decomr) or
  every input pixel transferred (official), on the raw-pixel row (continuous atlas, pixels + global).

Runs resume (call again after an interruption). Writes
``benchmarks/results/deviations_<budget>_<name>.json`` (one file per deviation, so two can run at once).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from decomr.experiments.deviations import compare_setting, paired_interval  # noqa: E402

#: name -> (the paper's setting, the grid cell's LNet input).
DEVIATIONS = {
    "lnet_residual": ("model.lnet_residual=false", "local+global"),
    "pixel_transfer": ("model.pixel_transfer=input", "pixels+global"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="cpu", help="grid budget: quick, cpu or gpu (default cpu)")
    parser.add_argument("--only", choices=sorted(DEVIATIONS), action="append", help="measure only this deviation")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in args.only or sorted(DEVIATIONS):
        setting, lnet_input = DEVIATIONS[name]
        start = time.perf_counter()
        rows = compare_setting(setting, budget=args.budget, lnet_input=lnet_input, seeds=args.seeds, progress=True)
        result = {"deviation": name, "setting": setting, "budget": args.budget, "seeds": args.seeds,
                  "wall_seconds": round(time.perf_counter() - start, 1), "machine": platform.processor() or
                  platform.machine(), "cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                  "date": time.strftime("%Y-%m-%d"), "metrics": {}}
        for row in rows:
            print(row.sentence())
            entry = dataclasses.asdict(row)
            if len(row.paired) > 1:
                mean, std, (low, high) = paired_interval(row.diffs)
                entry.update(diff_mean=mean, diff_std=std, ci95=[low, high])
            result["metrics"][row.metric] = entry
        args.out_dir.mkdir(parents=True, exist_ok=True)
        out = args.out_dir / f"deviations_{args.budget}_{name}.json"
        out.write_text(json.dumps(result, indent=2, default=float) + "\n")
        print("wrote", out)


if __name__ == "__main__":
    main()
