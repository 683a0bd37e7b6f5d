"""Rendering benchmark: rasteriser speed and memory, and agreement with trimesh ray casting.

Run from the repository root::

    .venv/bin/python benchmarks/render.py                 # CPU (1 thread), and CUDA if present
    .venv/bin/python benchmarks/render.py --quick         # fewer sizes (about 30 s)
    .venv/bin/python benchmarks/render.py --sections agreement

Prints a table per section and writes ``benchmarks/results/render.json`` (one key per section).

Sections are plain functions ``f(args, body) -> dict`` listed in ``SECTIONS``; to add a
measurement (e.g. the synthetic dataset's samples per second), write such a function and append
it to ``SECTIONS``; its dict lands under its name in the JSON file.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import threading
import time
from pathlib import Path

import numpy as np
import torch

from decomr.body import load
from decomr.render import rasterize, weak_perspective_vertices

RESULTS = Path(__file__).resolve().parent / "results" / "render.json"
BATCHES = (1, 8, 32, 128)
RESOLUTIONS = (56, 112, 224)


# ----------------------------------------------------------------------------------------------
# Bodies and cameras
# ----------------------------------------------------------------------------------------------
def posed_bodies(body, n: int, seed: int = 0, yaw_deg: float | None = None) -> torch.Tensor:
    """(n, V, 3) camera-frame vertices of random poses/shapes, facing the camera (+- a yaw)."""
    from scipy.spatial.transform import Rotation

    gen = torch.Generator().manual_seed(seed)
    yaws = torch.rand(n, generator=gen) * 360.0 if yaw_deg is None else torch.full((n,), float(yaw_deg))
    orient = [
        (Rotation.from_rotvec([math.pi, 0.0, 0.0]) * Rotation.from_euler("y", float(y), degrees=True)).as_rotvec()
        for y in yaws
    ]
    with torch.no_grad():
        out = body(
            shape=body.sample_shape(n, generator=gen),
            pose=body.sample_pose(n, generator=gen),
            global_orient=torch.tensor(np.array(orient), dtype=torch.float32),
        )
    return out.vertices


def crop_camera(verts: torch.Tensor, fill: float = 0.9) -> torch.Tensor:
    """(B, 3) weak-perspective cameras framing each body's box in ``fill`` of the image."""
    lo, hi = verts.amin(1), verts.amax(1)  # (B, 3)
    centre = (lo + hi) / 2
    scale = 2 * fill / (hi - lo)[:, :2].amax(-1)
    return torch.stack([scale, -centre[:, 0], -centre[:, 1]], dim=-1)


# ----------------------------------------------------------------------------------------------
# Measuring helpers
# ----------------------------------------------------------------------------------------------
class PeakRSS:
    """Context manager sampling this process' resident memory every ~1 ms (CPU peak memory)."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.base = self.peak = self._proc.memory_info().rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.001)

    def __enter__(self) -> "PeakRSS":
        self.base = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _release_free_memory() -> None:
    """Give freed heap memory back to the OS (glibc), so that RSS peaks measure one call."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def time_rasterize(verts: torch.Tensor, faces: torch.Tensor, size: int, reps: int) -> dict:
    """Best-of-``reps`` wall and CPU seconds per call, and peak extra memory (MB) of a call.

    CPU time (``time.process_time``) is reported beside wall time because the machines this
    runs on are shared: wall time then includes waiting for a core.
    """
    device = verts.device
    _release_free_memory()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    wall = cpu = float("inf")
    with PeakRSS() as rss:
        rasterize(verts, faces, size)  # warm-up (allocator, kernels), memory counted
        _sync(device)
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            frags = rasterize(verts, faces, size)
            _sync(device)
            wall = min(wall, time.perf_counter() - t0)
            cpu = min(cpu, time.process_time() - c0)
            del frags
    if device.type == "cuda":
        mem = (torch.cuda.max_memory_allocated(device) - before) / 2**20
    else:
        mem = rss.extra_mb
    return dict(wall=wall, cpu=cpu, mem=mem)


# ----------------------------------------------------------------------------------------------
# Sections
# ----------------------------------------------------------------------------------------------
def bench_speed(args, body) -> dict:
    """Rasterisation time per image vs batch size and resolution, and peak memory."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and args.device in ("all", "cuda") else [])
    if args.device == "cuda" and "cuda" not in devices:
        raise SystemExit("--device cuda: CUDA is not available")
    if args.device == "cpu":
        devices = ["cpu"]
    batches = (1, 8, 32) if args.quick else BATCHES
    sizes = (56, 224) if args.quick else RESOLUTIONS
    pool = posed_bodies(body, 32, seed=1)
    pool = weak_perspective_vertices(pool, crop_camera(pool))
    rows = []
    for device_name in devices:
        device = torch.device(device_name)
        faces = body.faces.to(device)
        for size in sizes:
            for batch in batches:
                verts = pool[torch.arange(batch) % pool.shape[0]].to(device)
                if device.type == "cpu":
                    reps = {1: 10, 8: 4, 32: 2}.get(batch, 1)
                else:
                    reps = 10
                m = time_rasterize(verts, faces, size, reps)
                rows.append(dict(device=device_name, batch=batch, resolution=size, wall_seconds_per_batch=m["wall"],
                                 wall_ms_per_image=1e3 * m["wall"] / batch, cpu_ms_per_image=1e3 * m["cpu"] / batch,
                                 images_per_second=batch / m["wall"], peak_extra_mb=m["mem"], reps=reps))
                print(f"  {device_name:4s}  {size:3d}px  batch {batch:3d}: {1e3 * m['wall'] / batch:7.2f} ms/image wall"
                      f" ({batch / m['wall']:7.1f} images/s), {1e3 * m['cpu'] / batch:7.2f} ms/image CPU time,"
                      f" peak +{m['mem']:7.1f} MB", flush=True)
    return dict(threads=torch.get_num_threads(), num_faces=int(body.num_faces),
                num_vertices=int(body.num_vertices), rows=rows)


def bench_agreement(args, body) -> dict:
    """Face-index agreement with trimesh ray casting (orthographic rays through pixel centres)."""
    import trimesh

    size = 224
    views = (0.0, 90.0, 180.0, 45.0) if not args.quick else (0.0, 90.0)
    rows = []
    x = (2 * np.arange(size) + 1) / size - 1
    grid_x, grid_y = np.meshgrid(x, x)
    directions = np.tile([0.0, 0.0, 1.0], (size * size, 1))
    # Rays in rasteriser space (x, y normalised, z depth): orthographic, so the affine map from
    # the camera frame preserves which face each ray meets first.
    for k, yaw in enumerate(views):
        verts = posed_bodies(body, 1, seed=100 + k, yaw_deg=yaw)
        raster = weak_perspective_vertices(verts, crop_camera(verts)).double()
        frags = rasterize(raster, body.faces, size)
        mesh = trimesh.Trimesh(raster[0].numpy(), body.faces.numpy(), process=False)
        origins = np.c_[grid_x.ravel(), grid_y.ravel(), np.full(size * size, float(raster[0, :, 2].min()) - 1.0)]
        t0 = time.perf_counter()
        hit_face, hit_ray, hit_point = trimesh.ray.ray_triangle.RayMeshIntersector(mesh).intersects_id(
            origins, directions, multiple_hits=False, return_locations=True
        )
        ref_seconds = time.perf_counter() - t0
        ref = -np.ones(size * size, dtype=np.int64)
        ref_depth = np.zeros(size * size)
        ref[hit_ray], ref_depth[hit_ray] = hit_face, hit_point[:, 2]
        ours = frags.face_idx[0].reshape(-1).numpy()
        fg = (ours >= 0) | (ref >= 0)
        # Where both hit a face but a different one: ties between neighbours (shared vertex) at
        # equal depth are expected; anything else would be a z-order error.
        differ = np.nonzero((ours != ref) & (ours >= 0) & (ref >= 0))[0]
        face_sets = body.faces.numpy()
        neighbours = sum(len(set(face_sets[ours[p]]) & set(face_sets[ref[p]])) > 0 for p in differ)
        depth_gap = np.abs(frags.depth[0].reshape(-1).numpy()[differ] - ref_depth[differ])
        row = dict(view_yaw_deg=yaw, seed=100 + k, foreground_fraction=float((ref >= 0).mean()),
                   face_agreement_all_pixels=float((ours == ref).mean()),
                   face_agreement_foreground=float((ours[fg] == ref[fg]).mean()),
                   mask_agreement=float(((ours >= 0) == (ref >= 0)).mean()),
                   different_face_pixels=int(differ.size), different_face_neighbours=int(neighbours),
                   different_face_max_depth_gap=float(depth_gap.max()) if differ.size else 0.0,
                   trimesh_seconds=ref_seconds)
        rows.append(row)
        print(f"  yaw {yaw:5.1f}: face index agrees on {100 * row['face_agreement_all_pixels']:.3f}% of pixels "
              f"({100 * row['face_agreement_foreground']:.3f}% of foreground), mask on "
              f"{100 * row['mask_agreement']:.3f}%; {row['different_face_pixels']} pixels with another face "
              f"({row['different_face_neighbours']} of them a neighbour), max depth gap "
              f"{row['different_face_max_depth_gap']:.1e}  (trimesh {ref_seconds:.2f} s)", flush=True)
    return dict(resolution=size, rows=rows)


SECTIONS = {
    "speed": bench_speed,
    "agreement": bench_agreement,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and views")
    parser.add_argument("--device", default="all", choices=("all", "cpu", "cuda"), help="devices for 'speed'")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON file to write (merged by section)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    body = load("anny")
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["meta"] = dict(torch=torch.__version__, python=platform.python_version(), machine=platform.machine(),
                           cpu_count=os.cpu_count(), threads=args.threads, quick=args.quick,
                           cuda=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                           load_average_at_start=os.getloadavg(), date=time.strftime("%Y-%m-%d %H:%M:%S"))
    for name in args.sections:
        print(f"[{name}] {SECTIONS[name].__doc__.splitlines()[0]}", flush=True)
        results[name] = SECTIONS[name](args, body)
    results["meta"]["load_average_at_end"] = os.getloadavg()  # other processes skew timings
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
