"""Inference latency per image: PyTorch CPU, onnxruntime CPU and CUDA, at batch 1 and 8.

Usage::

    .venv/bin/python benchmarks/inference.py              # about 2-3 minutes on a 2-core CPU
    .venv/bin/python benchmarks/inference.py --quick-only # the small models only
    .venv/bin/python benchmarks/inference.py --big-photo --compare /tmp/old   # a 24 MP photo, end to end

Models (random weights: latency does not depend on them):

* ``full``  — the paper's architecture (ResNet-50, 224 x 224 crops, 128 px location map);
* ``quick`` — ``ModelConfig.quick()`` (ResNet-18, narrow decoder/LNet) at 224 px, i.e. at the
  official model's input size, and at 128 px (the size ``TrainConfig.quick()`` trains at).

Speed is measured, never quoted: ``full@224`` is the official architecture (the official code's
network, timed side by side with it on this kind of 2-core CPU, agrees within a few per cent) and
a bare torchvision ResNet-50 is timed in the same run; every row carries its ratio to both at the
same backend and batch (``vs_paper_size_model``, ``vs_resnet50``). Target: the quick model at 224 px
at most half of the paper-size model's time.
Also timed: the whole ``Predictor.predict`` on a 640 x 480 image (crop + network + mapping back).

Writes ``benchmarks/results/inference.json`` (or ``--out``). Timings are medians (and minima,
``best_*``) over repeats after a warm-up; on a shared machine they vary (the JSON records the load average). OpenMP
threads wait passively (``OMP_WAIT_POLICY=PASSIVE`` unless set): on an oversubscribed machine
spinning threads made PyTorch about 10 times slower.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

# On a shared, oversubscribed machine OpenMP's spinning threads slow PyTorch down ~10x (measured
# here: 0.86 s vs 0.07 s per 128 px image); passive waiting must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from decomr.body import load as load_body  # noqa: E402
from decomr.models import DecoMR, ModelConfig  # noqa: E402
from decomr.uv import load_atlas  # noqa: E402

def median_seconds(fn, repeats: int, warmup: int = 1, cuda: bool = False) -> tuple[float, float]:
    """(median, minimum) wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def configs(quick_only: bool) -> dict[str, ModelConfig]:
    out = {}
    if not quick_only:
        out["full@224"] = ModelConfig(pretrained=None)
    out["quick@224"] = ModelConfig.quick(pretrained=None)
    out["quick@128"] = ModelConfig.quick(pretrained=None, img_size=128, iuv_size=32)
    return out


def repeats_for(name: str, batch: int) -> int:
    """Fewer repeats for the slow cases, to stay within a few minutes on 2 cores."""
    if name.startswith("full"):
        return 3 if batch > 1 else 6
    return 6 if batch > 1 else 20


def bench_model(name: str, config: ModelConfig, body, atlases: dict, batches: list[int], threads: int,
                use_onnx: bool, use_cuda: bool, tmp: Path) -> list[dict]:
    rows: list[dict] = []
    if config.atlas not in atlases:
        atlases[config.atlas] = load_atlas(body, config.atlas)
    torch.manual_seed(0)
    model = DecoMR(config, body, atlases[config.atlas]).eval()
    size = config.img_size
    params_m = sum(p.numel() for p in model.parameters()) / 1e6

    def row(backend: str, batch: int, timing: tuple[float, float], **extra) -> dict:
        seconds, best = timing
        r = dict(model=name, backbone=config.backbone, img_size=size, params_M=round(params_m, 2), backend=backend,
                 batch=batch, s_per_batch=round(seconds, 5), s_per_image=round(seconds / batch, 5),
                 best_s_per_image=round(best / batch, 5), **extra)
        print(f"  {name:10s} {backend:16s} batch {batch}: {seconds / batch * 1000:8.1f} ms/image "
              f"(best {best / batch * 1000:.1f})", flush=True)
        return r

    with torch.inference_mode():
        for b in batches:
            x = torch.rand(b, 3, size, size)
            rows.append(row("pytorch-cpu", b, median_seconds(lambda: model(x), repeats_for(name, b))))
    if use_onnx:
        from decomr.export.onnx import export_onnx, onnx_session

        path = tmp / f"{name.replace('@', '_')}.onnx"
        start = time.perf_counter()
        export_onnx(model, path, check=False)
        export_s = time.perf_counter() - start
        session = onnx_session(path, threads=threads)
        for b in batches:
            x = torch.rand(b, 3, size, size).numpy()
            rows.append(row("onnxruntime-cpu", b, median_seconds(lambda: session.run(None, {"images": x}), repeats_for(name, b)),
                            export_s=round(export_s, 2), onnx_MB=round(path.stat().st_size / 2**20, 1)))
        path.unlink()
    if use_cuda:
        gpu = model.to("cuda")
        with torch.inference_mode():
            for b in batches:
                x = torch.rand(b, 3, size, size, device="cuda")
                rows.append(row("pytorch-cuda", b, median_seconds(lambda: gpu(x), 20, warmup=3, cuda=True)))
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    rows.append(row("pytorch-cuda-bf16", b, median_seconds(lambda: gpu(x), 20, warmup=3, cuda=True)))
    return rows


def bench_resnet50(batches: list[int]) -> list[dict]:
    """A bare torchvision ResNet-50 forward at 224 px: the machine's yardstick, in the same run."""
    import torchvision

    net = torchvision.models.resnet50(weights=None).eval()
    rows = []
    with torch.inference_mode():
        for b in batches:
            x = torch.rand(b, 3, 224, 224)
            seconds, best = median_seconds(lambda: net(x), 6 if b > 1 else 10)
            rows.append(dict(model="resnet50@224", backbone="resnet50", img_size=224, backend="pytorch-cpu", batch=b,
                             s_per_batch=round(seconds, 5), s_per_image=round(seconds / b, 5),
                             best_s_per_image=round(best / b, 5)))
            print(f"  resnet50@224 pytorch-cpu       batch {b}: {seconds / b * 1000:8.1f} ms/image", flush=True)
    return rows


def add_ratios(rows: list[dict]) -> None:
    """Each row's time (minimum per image) over the paper-size model's and ResNet-50's, same backend and batch."""
    def best(model: str, backend: str, batch: int) -> float | None:
        return next((r["best_s_per_image"] for r in rows if r["model"] == model and r["backend"] == backend
                     and r["batch"] == batch), None)

    for r in rows:
        for key, ref in (("vs_paper_size_model", "full@224"), ("vs_resnet50", "resnet50@224")):
            t = best(ref, r["backend"], r["batch"])
            r[key] = round(r["best_s_per_image"] / t, 3) if t else None


def bench_predictor(body, atlases: dict) -> dict:
    """The whole Predictor.predict on a 640 x 480 uint8 image (quick model, 224 px crops)."""
    import numpy as np

    from decomr.predict import Predictor

    config = ModelConfig.quick(pretrained=None)
    torch.manual_seed(0)
    predictor = Predictor(DecoMR(config, body, atlases.setdefault(config.atlas, load_atlas(body, config.atlas))),
                          body, device="cpu")
    image = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
    seconds, best = median_seconds(lambda: predictor.predict(image, boxes=[200, 40, 420, 470]), 10)
    print(f"  predictor quick@224 (crop + network + mapping back), 640x480 image: {seconds * 1000:.1f} ms "
          f"(best {best * 1000:.1f})", flush=True)
    return {"model": "quick@224", "image": [480, 640], "s_per_image": round(seconds, 5), "best_s_per_image": round(best, 5)}


def make_big_photo(path: Path, size: tuple[int, int] = (4000, 6000)) -> Path:
    """A (H, W) = 4000 x 6000 (24-megapixel) JPEG with a synthetic person filling its middle."""
    from PIL import Image

    from decomr.data.synthetic import SyntheticBatchGenerator, SyntheticConfig

    person = SyntheticBatchGenerator(SyntheticConfig(image_size=224, iuv_size=56, test_size=1)).batch("test", [0]).image
    h, w = size
    rng = np.random.default_rng(0)
    photo = (rng.random((h // 50, w // 50, 3)) * 255).astype(np.uint8)
    photo = np.array(Image.fromarray(photo).resize((w, h), Image.BICUBIC))
    side = int(0.9 * h)
    crop = (person[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    crop = np.array(Image.fromarray(crop).resize((side, side), Image.BICUBIC))
    y0, x0 = (h - side) // 2, (w - side) // 2
    photo[y0:y0 + side, x0:x0 + side] = crop
    Image.fromarray(photo).save(path, quality=92)
    return path


def bench_big_photo(repo: Path, photo: Path, out_dir: Path, threads: int, checkpoint: Path) -> dict:
    """`decomr predict PHOTO` end to end in a fresh process of ``repo``'s code: wall time and peak memory."""
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(repo), OMP_NUM_THREADS=str(threads))
    # A wrapper process runs the command and reports its peak memory (RUSAGE_CHILDREN of the wrapper
    # covers that one command only).
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "sys.stderr.write(r.stderr); print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "decomr", "predict", str(photo),
                           "--out", str(out_dir), "--no-progress", "--device", "cpu", "--checkpoint", str(checkpoint)],
                          cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    rc, peak = (int(v) for v in proc.stdout.split()[-2:])
    files = {p.name: p.stat().st_size for p in out_dir.iterdir()} if out_dir.is_dir() else {}
    overlay = next((p for p in out_dir.glob("*_overlay.png")), None) if out_dir.is_dir() else None
    row = {"repo": str(repo), "rc": rc, "seconds": round(seconds, 1), "peak_rss_mib": round(peak / 1024, 1),
           "overlay_png_mib": round(files[overlay.name] / 2**20, 2) if overlay else None,
           "stderr_tail": proc.stderr.strip().splitlines()[-3:]}
    if overlay is not None:
        from PIL import Image

        row["overlay_size"] = list(Image.open(overlay).size)
    print(f"  big photo ({repo}): {row['seconds']} s, peak {row['peak_rss_mib']} MiB, overlay "
          f"{row.get('overlay_size')} {row['overlay_png_mib']} MiB, rc {rc}", flush=True)
    return row


def big_photo_main(args) -> int:
    """``--big-photo``: a 6000 x 4000 photo end to end (this checkout, and optionally another one)."""
    out = Path(args.out)
    result = {"benchmark": "inference_big_photo", "image": [4000, 6000], "threads": args.threads,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "load_average_start": [round(v, 2) for v in os.getloadavg()], "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        photo = make_big_photo(Path(tmp) / "photo.jpg")
        # The released model's architecture (configs/cpu.yaml) with random weights: time does not depend on them.
        from decomr.predict import save_model_release
        from decomr.train.config import load_config

        cfg = load_config("cpu").model.replace(pretrained=None)
        body = load_body("anny")
        checkpoint = save_model_release(Path(tmp) / "model.pt", DecoMR(cfg, body, load_atlas(body, cfg.atlas)), body)
        payload = torch.load(checkpoint, weights_only=True)
        payload.pop("mesh_hash", None)  # older checkouts hash the mesh differently; the topology is the same
        for key in ("pixel_transfer", "seam_aware_read"):  # options older checkouts do not know (defaults: no effect on time)
            payload["config"]["model"].pop(key, None)
        torch.save(payload, checkpoint)
        result["model"] = "configs/cpu.yaml architecture (random weights)"
        repos = [Path(r) for r in args.compare] + [REPO]  # each in its own process: peak memory is per run
        for k, repo in enumerate(repos):
            result["rows"].append(bench_big_photo(repo.resolve(), photo, Path(tmp) / f"out{k}", args.threads,
                                                  checkpoint))
        # The process floor: the same command on a 600 x 400 photo (importing torch alone is ~0.65 GB
        # with the CUDA build); the big photo's own cost is its peak minus this one.
        small = make_big_photo(Path(tmp) / "small.jpg", (400, 600))
        floor = bench_big_photo(REPO, small, Path(tmp) / "out_small", args.threads, checkpoint)
        result["floor_600x400"] = floor
        result["big_photo_over_floor_mib"] = round(result["rows"][-1]["peak_rss_mib"] - floor["peak_rss_mib"], 1)
    result["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "inference.json"))
    p.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch and onnxruntime (default 2)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--quick-only", action="store_true", help="skip the full (ResNet-50) model")
    p.add_argument("--no-onnx", action="store_true")
    p.add_argument("--big-photo", action="store_true",
                   help="instead: `decomr predict` on a 6000 x 4000 photo, time and peak memory "
                        "(writes benchmarks/results/inference_big_photo.json unless --out)")
    p.add_argument("--compare", nargs="*", default=[], metavar="CHECKOUT",
                   help="with --big-photo: also run these checkouts of decomr (e.g. an older version), first")
    args = p.parse_args(argv)
    if args.big_photo:
        if args.out == p.get_default("out"):
            args.out = str(REPO / "benchmarks" / "results" / "inference_big_photo.json")
        return big_photo_main(args)
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    try:
        import onnxruntime  # noqa: F401

        use_onnx = not args.no_onnx
    except ImportError:
        use_onnx = False
        print("onnxruntime not installed: skipping the ONNX rows", flush=True)
    use_cuda = torch.cuda.is_available()
    started = time.perf_counter()
    load_start = [round(v, 2) for v in os.getloadavg()]
    body = load_body("anny")
    atlases: dict = {}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in configs(args.quick_only).items():
            print(f"{name}: {config.backbone}, {config.img_size} px", flush=True)
            rows += bench_model(name, config, body, atlases, args.batches, args.threads, use_onnx, use_cuda, Path(tmp))
    rows += bench_resnet50(args.batches)
    add_ratios(rows)
    predictor = bench_predictor(body, atlases)
    result = {
        "benchmark": "inference",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "threads": args.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_average_start": load_start, "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "onnxruntime": __import__("onnxruntime").__version__ if use_onnx else None,
        "cuda_device": torch.cuda.get_device_name(0) if use_cuda else None,
        "target": "quick model at 224 px <= 0.5 x the paper-size model (official architecture), same run",
        "rows": rows,
        "predictor": predictor,
        "total_s": round(time.perf_counter() - started, 1),
    }
    quick = [r["vs_paper_size_model"] for r in rows if r["model"] == "quick@224" and r.get("vs_paper_size_model")]
    if quick:
        result["quick224_vs_paper_size_model"] = min(quick)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out} ({result['total_s']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
