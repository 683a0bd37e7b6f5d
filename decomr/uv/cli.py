"""``decomr build-uv``: build a body's UV atlases, write them to ``data/atlases/``, print their
stats and the Table 1 metrics (and optionally write ``figures/table1.md``).

    decomr build-uv                              # Anny, both atlases, Table 1 on 2000 vertices
    decomr build-uv --body smpl --force          # rebuild SMPL's (needs the licensed files)
    decomr build-uv --full --table               # all-vertex Table 1 (~1-2 min) -> figures/table1.md
"""
from __future__ import annotations

import argparse
import logging

from decomr.uv.atlas import ATLAS_NAMES, load_atlas
from decomr.uv.metrics import COPY_MODES, table1_scores, write_table1

__all__ = ["build_parser", "build_uv_main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="decomr build-uv", description="Build UV atlases (Sec. 3.1) and report Table 1.")
    p.add_argument("--body", default="anny", help="body model name (anny, smpl)")
    p.add_argument("--atlas", nargs="+", default=list(ATLAS_NAMES), choices=ATLAS_NAMES, help="atlases to build")
    p.add_argument("--force", action="store_true", help="rebuild even if a valid cached atlas exists")
    p.add_argument("--sample", type=int, default=2000, help="vertices scored for Table 1 (random subset)")
    p.add_argument("--full", action="store_true", help="also score Table 1 on all vertices (slow)")
    p.add_argument("--copy", default="last", choices=COPY_MODES, help="UV copy standing for a seam vertex")
    p.add_argument("--no-metrics", action="store_true", help="skip Table 1")
    p.add_argument("--table", action="store_true", help="write figures/table1.md")
    return p


def build_uv_main(argv: list[str] | None = None) -> int:
    """Entry point of ``decomr build-uv``; returns the exit status."""
    argv = list(argv or [])
    if argv[:1] == ["--"]:  # `decomr build-uv -- --full` style pass-through
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import sys

    from decomr.body import load

    try:
        body = load(args.body)
    except (ValueError, FileNotFoundError) as err:  # unknown name, or licensed files absent
        print(f"decomr build-uv: {err}", file=sys.stderr)
        return 2
    results = []
    for name in args.atlas:
        atlas = load_atlas(body, name, rebuild=True if args.force else None)
        print(f"== {body.name} / {name}: T={atlas.num_uv} UV vertices, V={atlas.num_vertices}, F={atlas.num_faces}")
        for line in atlas.stats.lines():
            print("   " + line)
        if args.no_metrics:
            continue
        sizes = [args.sample] + ([None] if args.full else [])
        for size in sizes:
            r = table1_scores(body.template, body.faces, atlas, sample=size, copy=args.copy, body_name=body.name)
            results.append(r)
            print(f"   Table 1 ({'all' if not r.subsampled else r.num_vertices} vertices, copy={r.copy}): S1 = {r.s1:.4f}, S2 = {r.s2:.4f} ({r.seconds:.1f} s)")
    if args.table and results:
        print(f"wrote {write_table1(results)}")
    return 0
