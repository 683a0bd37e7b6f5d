"""Benchmark of the body model: load time, forward time, samplers, peak memory.

Usage::

    python benchmarks/body.py                 # everything, including the uncached build (~40 s)
    python benchmarks/body.py --no-uncached   # skip the first-build measurement
    python benchmarks/body.py --body anny --batches 1 32 128 --repeats 5

Prints a table and writes ``benchmarks/results/body.json`` (device, torch version, date).

Measured:

* ``load_uncached_s``: ``load(body)`` in a fresh subprocess whose ``DECOMR_DATA`` and
  ``ANNY_CACHE_DIR`` point to an empty temporary folder (Anny's model build + decomr's tables;
  ``load_uncached_anny_build_s`` is the Anny part);
* ``load_cached_s``: the same in a fresh subprocess with the normal caches (what users see);
* ``forward_ms[device][B]``: one forward pass (random shape and pose, ``torch.no_grad``), median
  over ``--repeats`` runs after one warm-up (``forward_ms_min``: the fastest run, less sensitive
  to other processes on a shared machine; ``load_average_at_start`` tells how busy it was);
* ``sample_shape_per_s`` / ``sample_pose_per_s``: sampler throughput at n = 1024;
* ``peak_rss_mb``: peak resident memory of this process (``resource.getrusage``), and of the
  load subprocesses; ``cuda_peak_mb`` when CUDA is used.
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "body.json"

# Run in a fresh interpreter: load the body, report the load time and the peak RSS as JSON.
# With "split", Anny's own model build is timed first (then cached), so that the rest of the time
# is decomr's derived tables (joint regressor fit, parts, mirror map) plus a cached Anny reload.
_LOAD_SNIPPET = """
import json, resource, sys, time
t = time.perf_counter()
result = {}
if sys.argv[1] == "anny" and sys.argv[2] == "split":
    from decomr.body.anny_body import ANNY_TOPOLOGIES, _build_anny
    _build_anny(ANNY_TOPOLOGIES[0])
    result["anny_build_s"] = time.perf_counter() - t
from decomr.body import load
body = load(sys.argv[1])
result["seconds"] = time.perf_counter() - t
result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


def _peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def load_in_subprocess(body: str, empty_cache: bool) -> dict:
    """Time ``load(body)`` in a fresh interpreter, optionally with empty caches."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="decomr_bench_") as tmp:
        if empty_cache:
            env["DECOMR_DATA"] = tmp
            env["ANNY_CACHE_DIR"] = str(Path(tmp) / "anny")
        t = time.perf_counter()
        split = "split" if empty_cache else "total"
        proc = subprocess.run([sys.executable, "-c", _LOAD_SNIPPET, body, split], env=env, cwd=REPO,
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"load subprocess failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s_including_interpreter"] = wall
    return result


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(body, device: torch.device, batches: list[int], repeats: int, seed: int = 0) -> dict[int, tuple[float, float]]:
    """(median, min) forward time in milliseconds per batch size."""
    g = torch.Generator().manual_seed(seed)
    times = {}
    for B in batches:
        shape = body.sample_shape(B, g).to(device)
        pose = body.sample_pose(B, g).to(device)
        orient = torch.zeros(B, 3, device=device)
        with torch.no_grad():
            body(shape=shape, pose=pose, global_orient=orient)  # warm-up
            _sync(device)
            runs = []
            for _ in range(repeats):
                t = time.perf_counter()
                body(shape=shape, pose=pose, global_orient=orient)
                _sync(device)
                runs.append(time.perf_counter() - t)
        times[B] = (1000 * statistics.median(runs), 1000 * min(runs))
    return times


def time_samplers(body, n: int = 1024, repeats: int = 3) -> dict[str, float]:
    """Samples per second of ``sample_shape`` and ``sample_pose``."""
    g = torch.Generator().manual_seed(0)
    out = {}
    for name, fn in (("sample_shape_per_s", body.sample_shape), ("sample_pose_per_s", body.sample_pose)):
        fn(8, g)  # warm-up (Anny builds its shape distribution on first use)
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(n, g)
            runs.append(time.perf_counter() - t)
        out[name] = n / statistics.median(runs)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--body", default="anny", help="body model name (default: anny)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32, 128], help="batch sizes")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per batch size (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--uncached", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the first (uncached) build in a subprocess (~40 s)")
    parser.add_argument("--cuda", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the forward pass on CUDA when available")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from decomr.body import load

    result: dict = {
        "benchmark": "body", "body": args.body,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "repeats": args.repeats,
        "load_average_at_start": os.getloadavg(),  # a shared machine makes every timing noisy
    }

    print(f"[body benchmark] {args.body}, torch {torch.__version__}, {result['torch_threads']} CPU threads")
    cached = load_in_subprocess(args.body, empty_cache=False)
    result["load_cached_s"] = cached["seconds"]
    result["load_cached_peak_rss_mb"] = cached["peak_rss_mb"]
    print(f"load (cached, fresh process):   {cached['seconds']:7.2f} s   peak RSS {cached['peak_rss_mb']:7.0f} MiB")
    if args.uncached:
        print("load (uncached, empty caches): running, ~40 s ...", flush=True)
        first = load_in_subprocess(args.body, empty_cache=True)
        result["load_uncached_s"] = first["seconds"]
        result["load_uncached_peak_rss_mb"] = first["peak_rss_mb"]
        print(f"load (uncached, empty caches): {first['seconds']:7.2f} s   peak RSS {first['peak_rss_mb']:7.0f} MiB")
        if "anny_build_s" in first:
            result["load_uncached_anny_build_s"] = first["anny_build_s"]
            print(f"  of which Anny's model build {first['anny_build_s']:.1f} s, decomr's tables + reload "
                  f"{first['seconds'] - first['anny_build_s']:.1f} s")

    t = time.perf_counter()
    body = load(args.body)
    result["load_in_process_s"] = time.perf_counter() - t
    result.update(num_vertices=body.num_vertices, num_faces=body.num_faces,
                  shape_dim=body.shape_dim, pose_dim=body.pose_dim)

    devices = [torch.device("cpu")]
    if args.cuda and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    result["forward_ms"], result["forward_ms_min"] = {}, {}
    for device in devices:
        model = body if device.type == "cpu" else copy.deepcopy(body).to(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = time_forward(model, device, args.batches, args.repeats)
        result["forward_ms"][device.type] = {str(B): med for B, (med, _) in times.items()}
        result["forward_ms_min"][device.type] = {str(B): best for B, (_, best) in times.items()}
        for B, (med, best) in times.items():
            print(f"forward {device.type:>4} B={B:<4d}  median {med:9.2f} ms  min {best:9.2f} ms   ({med / B:7.3f} ms / body)")
        if device.type == "cuda":
            result["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
            print(f"CUDA peak allocated: {result['cuda_peak_mb']:.0f} MiB")

    result.update(time_samplers(body))
    print(f"sample_shape: {result['sample_shape_per_s']:10.0f} bodies/s    sample_pose: {result['sample_pose_per_s']:10.0f} poses/s")
    result["peak_rss_mb"] = _peak_rss_mb()
    print(f"peak RSS of this process (model + B={max(args.batches)} forward): {result['peak_rss_mb']:.0f} MiB")
    try:
        import psutil

        result["rss_now_mb"] = psutil.Process().memory_info().rss / 2**20
    except ImportError:
        pass

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
