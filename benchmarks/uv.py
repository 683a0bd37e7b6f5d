"""Benchmark of the UV maps: atlas build, Table 1 metrics, sampler throughput, round-trip errors.

Usage::

    .venv/bin/python benchmarks/uv.py                 # everything (~4 min on 2 CPU cores)
    .venv/bin/python benchmarks/uv.py --no-full       # skip the all-vertex Table 1 (~1 min)
    .venv/bin/python benchmarks/uv.py --cuda          # sampler throughput on CUDA too (if present)

Prints the numbers and writes ``benchmarks/results/uv.json`` (device, torch version, date).

Measured:

* ``build``: the continuous atlas of the body's template (seam, cut, Tutte, SLIM, symmetrise,
  validation), wall time per stage, best of ``--build-repeats``; needs libigl;
* ``table1``: S1/S2 of both atlases on all vertices (``--full``) and on a ``--sample``-vertex
  random subset, with their wall times and the full-minus-subsample difference;
* ``sampler``: maps per second of ``mesh_to_map`` and ``map_to_mesh`` at R = 128 for batch 32
  and 128 (CPU with ``torch.set_num_threads(--threads)``; CUDA when asked and available);
* ``round_trip``: mesh -> map -> mesh errors (mm) at R = 64/128/256, both ``grid_sample``
  conventions, on ``--bodies`` random posed bodies.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "uv.json"


def _time(fn, repeats: int, sync=lambda: None) -> float:
    fn()  # warm-up
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_build(body, repeats: int) -> dict:
    from decomr.uv.build import build_continuous_atlas_stages

    v, f, m = body.template.numpy(), body.faces.numpy(), body.mirror_map.numpy()
    best = None
    for _ in range(repeats):
        b = build_continuous_atlas_stages(v, f, m, mesh_hash=body.mesh_hash(), body_name=body.name)
        if best is None or b.timings.total < best.timings.total:
            best = b
    return {"timings_s": dataclasses.asdict(best.timings), "stats": dataclasses.asdict(best.atlas.stats)}


def bench_table1(body, atlases, sample: int, full: bool) -> tuple[dict, list]:
    from decomr.uv.metrics import table1_scores

    out, rows = {}, []
    for atlas in atlases:
        sub = table1_scores(body.template, body.faces, atlas, sample=sample, body_name=body.name)
        rows.append(sub)
        entry = {"subsample": dataclasses.asdict(sub)}
        if full:
            whole = table1_scores(body.template, body.faces, atlas, sample=None, body_name=body.name)
            rows.append(whole)
            entry["full"] = dataclasses.asdict(whole)
            entry["full_minus_subsample"] = {"s1": whole.s1 - sub.s1, "s2": whole.s2 - sub.s2}
        out[atlas.name] = entry
    return out, rows


def bench_sampler(atlas, device: torch.device, batches, resolution: int, repeats: int) -> dict:
    from decomr.uv.sampler import UVSampler

    s = UVSampler(atlas, resolution).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    out = {}
    for b in batches:
        verts = torch.randn(b, atlas.num_vertices, 3, device=device)
        maps = torch.randn(b, 3, resolution, resolution, device=device)
        with torch.no_grad():
            t_m2m = _time(lambda: s.mesh_to_map(verts), repeats, sync)
            t_map = _time(lambda: s.map_to_mesh(maps), repeats, sync)
        out[str(b)] = {"mesh_to_map_maps_per_s": b / t_m2m, "map_to_mesh_maps_per_s": b / t_map}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--body", default="anny")
    p.add_argument("--sample", type=int, default=2000)
    p.add_argument("--no-full", dest="full", action="store_false", help="skip the all-vertex Table 1")
    p.add_argument("--no-build", dest="build", action="store_false", help="skip the build timing (no libigl)")
    p.add_argument("--build-repeats", type=int, default=2)
    p.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--bodies", type=int, default=8)
    p.add_argument("--cuda", action="store_true", help="also time the samplers on CUDA")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from decomr.body import load
    from decomr.uv import load_atlas
    from decomr.uv.roundtrip import round_trip_errors

    body = load(args.body)
    cont, default = load_atlas(body, "continuous"), load_atlas(body, "default")
    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_threads": args.threads,
        "body": body.name,
        "num_vertices": body.num_vertices,
    }
    if args.build:
        result["build"] = bench_build(body, args.build_repeats)
        t = result["build"]["timings_s"]
        print(f"build: {t['total']:.2f} s (seam {t['seam']:.2f}, cut {t['cut']:.2f}, Tutte {t['disk']:.2f}, SLIM {t['slim']:.2f}, "
              f"symmetrise {t['symmetrise']:.3f}, validate {t['validate']:.2f}); SLIM iterations {result['build']['stats']['slim_iterations']}")

    result["table1"], rows = bench_table1(body, [cont, default], args.sample, args.full)
    for name, e in result["table1"].items():
        s = e["subsample"]
        line = f"Table 1 {name:10s}: sample {s['num_vertices']}: S1 {s['s1']:.4f} S2 {s['s2']:.4f} ({s['seconds']:.1f} s)"
        if "full" in e:
            w = e["full"]
            line += f" | all {w['num_vertices']}: S1 {w['s1']:.4f} S2 {w['s2']:.4f} ({w['seconds']:.1f} s)"
        print(line)

    try:  # the paper's body model, when its licensed files are present
        smpl = load("smpl")
    except (FileNotFoundError, ImportError) as err:
        result["table1_smpl"] = f"skipped: {str(err).splitlines()[0]}"
        print("Table 1 SMPL: skipped (no SMPL files)")
    else:
        result["table1_smpl"], smpl_rows = bench_table1(smpl, [load_atlas(smpl, "continuous"), load_atlas(smpl, "default")], args.sample, args.full)
        rows += smpl_rows
    from decomr.uv.metrics import write_table1

    print(f"wrote {write_table1(rows)}")
    result["sampler"] = {"resolution": args.resolution, "cpu": bench_sampler(cont, torch.device("cpu"), args.batches, args.resolution, args.repeats)}
    if args.cuda and torch.cuda.is_available():
        result["sampler"]["cuda"] = bench_sampler(cont, torch.device("cuda"), args.batches, args.resolution, args.repeats)
        result["sampler"]["cuda_device"] = torch.cuda.get_device_name()
    for dev, rows in result["sampler"].items():
        if isinstance(rows, dict):
            for b, r in rows.items():
                print(f"sampler {dev} B={b}: mesh_to_map {r['mesh_to_map_maps_per_s']:.0f} maps/s, map_to_mesh {r['map_to_mesh_maps_per_s']:.0f} maps/s")

    rt = round_trip_errors(body, cont, resolutions=(64, 128, 256), n=args.bodies, seed=0, seam_aware=(False, True))
    result["round_trip"] = [dataclasses.asdict(r) for r in rt]
    for r in rt:
        groups = ", ".join(f"{g:.1f}" for g in r.group_mean_mm)
        print(f"round trip R={r.resolution:3d} align_corners={str(r.align_corners):5s}: mean {r.mean_mm:.2f} mm, median {r.median_mm:.2f}, "
              f"p95 {r.p95_mm:.2f}, max {r.max_mm:.1f} (torso/head/limbs/hands-feet: {groups})")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
