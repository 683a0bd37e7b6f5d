"""``decomr build-uv``: build a body's UV atlases, write them to ``data/atlases/``, print their
stats and the Table 1 metrics (and optionally write ``figures/table1.md``).

    decomr build-uv                              # Anny, both atlases, Table 1 on 2000 vertices
    decomr build-uv --body smpl --force          # rebuild SMPL's (needs the licensed files)
    decomr build-uv --full --table               # all-vertex Table 1 (~1-2 min) -> figures/table1.md
    decomr build-uv --mesh my_body.obj --table   # any closed genus-0 body mesh: atlas .npz + OBJ with UVs

``--mesh`` takes a triangle or quad mesh in the canonical frame (y up, facing +z, x towards the
body's left). Its mirror map comes from its connectivity (:mod:`decomr.body.mirror`), so the geometry
may be off symmetry by millimetres; a mesh with holes, several components, non-manifold edges or
handles is refused with the problem and its count.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from decomr.body import load
from decomr.body.mirror import check_closed_genus0, mirror_map_from_connectivity
from decomr.cli import fail
from decomr.export.mesh import read_obj_mesh, write_obj
from decomr.uv.atlas import ATLAS_NAMES
from decomr.uv.build import AtlasValidationError, build_continuous_atlas
from decomr.uv.metrics import COPY_MODES, table1_scores, write_table1
from decomr.uv.store import load_atlas

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
    p.add_argument("--table", action="store_true", help="write figures/table1.md (with --mesh: print the Table 1 row)")
    p.add_argument("--mesh", help="build the continuous map of this OBJ mesh instead of a body model")
    p.add_argument("--out", help="with --mesh: output folder (default: beside the mesh)")
    p.add_argument("--approximate-mirror", action="store_true",
                   help="with --mesh: if the connectivity is not symmetric, use the nearest-neighbour mirror map")
    return p


def build_uv_for_mesh(path, out_dir=None, table: bool = False, sample: int | None = 2000,
                      approximate_mirror: bool = False) -> dict:
    """``decomr build-uv --mesh``: the continuous atlas of a mesh file, its OBJ with UVs, its Table 1 row.

    Returns:
        {"atlas": .npz path, "obj": .obj path, "mirror": MirrorMap, "stats": AtlasStats,
         "table1": Table1Scores or None}.
    """
    path = Path(path)
    vertices, faces = read_obj_mesh(path)
    check_closed_genus0(faces, len(vertices))
    mirror = mirror_map_from_connectivity(vertices, faces, approximate_ok=approximate_mirror)
    if not mirror.exact:
        logging.warning("%s: the connectivity is not left/right symmetric; using the APPROXIMATE nearest-neighbour "
                        "mirror map (max pairing error %.1f mm)", path, 1000 * mirror.max_error)
    atlas = build_continuous_atlas(vertices, faces, mirror.mirror, body_name=path.stem)
    out = Path(out_dir) if out_dir else path.parent
    out.mkdir(parents=True, exist_ok=True)
    npz = atlas.save(out / f"{path.stem}_continuous.npz")
    obj = write_obj(out / f"{path.stem}_continuous.obj", vertices, faces, uv=atlas.uv, faces_uv=atlas.faces_uv,
                    comment=f"{path.name} with decomr's continuous UV map (seam vertices duplicated in vt)")
    scores = table1_scores(vertices, faces, atlas, sample=sample, body_name=path.stem) if table else None
    return {"atlas": npz, "obj": obj, "mirror": mirror, "stats": atlas.stats, "table1": scores}


def build_uv_main(argv: list[str] | None = None) -> int:
    """Entry point of ``decomr build-uv``; returns the exit status."""
    argv = list(argv or [])
    if argv[:1] == ["--"]:  # `decomr build-uv -- --full` style pass-through
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.mesh:
        try:
            res = build_uv_for_mesh(args.mesh, args.out, args.table, args.sample, args.approximate_mirror)
        except (ValueError, FileNotFoundError, AtlasValidationError) as err:
            return fail("decomr build-uv", err)
        m = res["mirror"]
        print(f"mirror map: {'exact (from the connectivity)' if m.exact else 'APPROXIMATE (nearest neighbours)'}, "
              f"{m.fixed} midline vertices, pairing error max {1000 * m.max_error:.1f} mm, mean {1000 * m.mean_error:.2f} mm")
        for line in res["stats"].lines():
            print("   " + line)
        print(f"wrote {res['atlas']} and {res['obj']}")
        if res["table1"] is not None:
            r = res["table1"]
            print(f"Table 1 ({'all' if not r.subsampled else r.num_vertices} vertices): S1 = {r.s1:.4f}, S2 = {r.s2:.4f}")
        return 0

    try:
        body = load(args.body)
    except (ValueError, FileNotFoundError) as err:  # unknown name, or licensed files absent
        return fail("decomr build-uv", err)
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
