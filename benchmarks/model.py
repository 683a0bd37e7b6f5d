"""Benchmark of the DecoMR network: parameters, FLOPs, CPU latency, transfer/sampler share, CUDA throughput.

Usage::

    .venv/bin/python benchmarks/model.py            # CPU (2 threads) [+ CUDA when available]
    .venv/bin/python benchmarks/model.py --no-cpu-latency --cuda   # on the GPU machine

Writes ``benchmarks/results/model.json`` (or ``--out``). Reference numbers for the official
implementation: 63.9M parameters, about 54 GFLOPs per 224x224 image (LNet about 39, CNet about 15).
Speed is never quoted: the paper-size model here *is* the official architecture (timed side by side
with the official code on a 2-core CPU, the two agree within a few per cent), so every timing is
reported as a ratio to it and to a bare torchvision ResNet-50, both measured in the same run
(``ratios``).

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (2 FLOPs per multiply-add, the
convention of the official figure). The official ResNet-50 keeps its unused 1000-way ``fc`` layer
(2.05M parameters); ours drops it, which is the whole parameter difference at equal widths.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from decomr.models import DecoMR, ModelConfig  # noqa: E402

OFFICIAL = {"params_M": 63.9, "gflops": 54.0, "lnet_gflops": 39.0, "cnet_gflops": 15.0}
RESNET50_FC_PARAMS = 2048 * 1000 + 1000


class StandInSampler(nn.Module):
    """Used only when decomr.uv.UVSampler is unavailable: bilinear lookup at fixed per-vertex UVs."""

    def __init__(self, num_vertices: int, resolution: int):
        super().__init__()
        self.resolution = resolution
        self.register_buffer("vertex_uv", torch.rand(num_vertices, 2, generator=torch.Generator().manual_seed(0)))

    def map_to_mesh(self, maps: torch.Tensor) -> torch.Tensor:
        grid = (2 * self.vertex_uv - 1).view(1, 1, -1, 2).expand(maps.shape[0], -1, -1, -1)
        return F.grid_sample(maps, grid, align_corners=True)[:, :, 0].transpose(1, 2)


def load_body_and_atlas(config: ModelConfig):
    """The Anny body and its UV atlas when available; stand-ins otherwise (noted in the JSON)."""
    notes = []
    try:
        from decomr.body import load

        body = load("anny")
    except Exception as exc:  # e.g. the GPU machine has no `anny`
        notes.append(f"body: stand-in with 13348 vertices ({type(exc).__name__}: {exc})")
        g = torch.Generator().manual_seed(0)
        body = SimpleNamespace(name="stand-in", joint_regressor=torch.rand(24, 13348, generator=g) / 13348,
                               lsp_regressor=torch.rand(14, 13348, generator=g) / 13348, num_vertices=13348)
    try:
        from decomr.uv import load_atlas

        atlas = load_atlas(body, config.atlas)
        notes.append(f"sampler: decomr.uv.UVSampler on the {config.atlas} atlas")
    except Exception as exc:
        notes.append(f"sampler: stand-in grid_sample sampler ({type(exc).__name__}: {exc})")
        atlas = None
    return body, atlas, notes


def build(config: ModelConfig, body, atlas) -> DecoMR:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no ImageNet weights here: irrelevant for a benchmark
        if atlas is not None:
            return DecoMR(config, body, atlas).eval()
        sampler = StandInSampler(body.num_vertices, config.map_size)
        reference = torch.zeros(3, config.uv_grid, config.uv_grid)
        return DecoMR(config, body, sampler, reference_map=reference).eval()


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def param_report(model: DecoMR) -> dict:
    c = model.cnet
    cnet_parts = {
        "encoder": count_params(c.encoder),
        "decoder": count_params(c.up) + count_params(c.lateral),
        "iuv_heads": count_params(c.mask_head) + count_params(c.uv_head),
        "global_mlp": count_params(c.global_head),
        "camera_mlp": count_params(c.camera_head),
    }
    total = count_params(model)
    return {
        "total_M": total / 1e6,
        "cnet_M": count_params(c) / 1e6,
        "lnet_M": count_params(model.lnet) / 1e6,
        "cnet_parts_M": {k: v / 1e6 for k, v in cnet_parts.items()},
        "total_plus_unused_resnet_fc_M": (total + RESNET50_FC_PARAMS) / 1e6,
    }


def flop_report(model: DecoMR, device) -> dict:
    size = model.config.img_size
    images = torch.rand(1, 3, size, size, device=device)
    with torch.no_grad(), FlopCounterMode(display=False, depth=4) as counter:
        model(images)
    counts = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    total = counter.get_total_flops()
    cnet = counts.get("DecoMR.cnet", 0)
    # CNet calls the encoder's stages directly (not encoder.forward): sum its children.
    encoder = sum(v for k, v in counts.items() if k.startswith("DecoMR.cnet.encoder.") and k.count(".") == 3)
    lnet = counts.get("DecoMR.lnet", 0)
    return {
        # CNet + LNet: the networks, comparable with the official ~54 GFLOPs (15 + 39).
        "gflops_per_image": (cnet + lnet) / 1e9,
        "cnet_gflops": cnet / 1e9,
        "cnet_encoder_gflops": encoder / 1e9,
        "lnet_gflops": lnet / 1e9,
        # Everything else FlopCounterMode saw (UV transfer, map->mesh sampler, joint regressors).
        # The UVSampler averages seam copies with a sparse CSR product, which FlopCounterMode counts
        # as a dense (V x T) matmul (~1.1 GFLOPs); its real cost is a few MFLOPs.
        "other_gflops_as_counted": (total - cnet - lnet) / 1e9,
    }


def timed(fn, repeats: int, warmup: int = 1, cuda: bool = False) -> tuple[float, float]:
    """(median, min) wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs.

    The CPU here is shared with other jobs: the minimum is the less noisy figure.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


@torch.no_grad()
def forward_segments(model: DecoMR, images: torch.Tensor, cuda: bool = False) -> dict[str, float]:
    """One forward pass (same steps as ``DecoMR.forward``) with the wall time of each step, seconds."""
    def now() -> float:
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    t0 = now()
    c = model.cnet(images)
    t1 = now()
    transferred = model.transfer(images, c)  # Eq. 5
    t2 = now()
    location_map = model.lnet(transferred, c.global_features if model.config.uses_global else None)
    t3 = now()
    vertices = model.location_map_to_mesh(location_map)  # Eq. 3
    t4 = now()
    model.regress_joints(vertices)
    t5 = now()
    return {"cnet": t1 - t0, "transfer": t2 - t1, "lnet": t3 - t2, "map_to_mesh": t4 - t3,
            "regress_joints": t5 - t4, "total": t5 - t0}


def latency_report(model: DecoMR, batch: int, repeats: int, device, cuda: bool = False) -> dict:
    """Forward latency and the share of UV transfer (Eq. 5) + map->mesh sampler (Eq. 3) + joint regression.

    Every repeat times the steps of one forward pass. The CPU here is shared with other jobs, so
    the figures that matter are minimums: ``steps_min_s`` takes each step's minimum over the
    repeats, and the share is computed from those (a load spike during one short step cannot
    inflate it); the median of the per-run shares is reported too.
    """
    cfg = model.config
    images = torch.rand(batch, 3, cfg.img_size, cfg.img_size, device=device)
    forward_segments(model, images, cuda)  # warm-up
    runs = [forward_segments(model, images, cuda) for _ in range(repeats)]
    glue_keys = ("transfer", "map_to_mesh", "regress_joints")
    steps_min = {k: min(r[k] for r in runs) for k in runs[0]}
    steps_sum = sum(v for k, v in steps_min.items() if k != "total")
    best = min(r["total"] for r in runs)
    return {
        "batch": batch,
        "repeats": repeats,
        "forward_s_min": best,
        "forward_s_median": statistics.median(r["total"] for r in runs),
        "s_per_image_min": best / batch,
        "images_per_s": batch / best,
        "steps_min_s": steps_min,
        "transfer_and_samplers_share": sum(steps_min[k] for k in glue_keys) / steps_sum,
        "transfer_and_samplers_share_median_run": statistics.median(
            sum(r[k] for k in glue_keys) / r["total"] for r in runs),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "model.json"))
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the latency runs")
    parser.add_argument("--no-cpu-latency", action="store_true", help="skip the CPU timings")
    parser.add_argument("--cuda", action="store_true", help="also measure CUDA throughput (default: when available)")
    parser.add_argument("--cuda-batch", type=int, default=64)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    full_cfg = ModelConfig(pretrained=None)
    quick_cfg = ModelConfig.quick(pretrained=None)
    body, atlas, notes = load_body_and_atlas(full_cfg)
    results: dict = {
        "official": OFFICIAL,
        "notes": notes,
        "environment": {
            "torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "cpu_threads": args.threads, "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
    }
    cpu = torch.device("cpu")
    if not args.no_cpu_latency:
        # Machine-speed yardstick measured in the same run (the CPU is shared: timings are noisy).
        resnet = torchvision.models.resnet50(weights=None).eval()
        with torch.no_grad():
            x = torch.rand(1, 3, 224, 224)
            median, fastest = timed(lambda: resnet(x), 10)
        results["environment"]["torchvision_resnet50_batch1_s"] = {"median": median, "min": fastest}
        with torch.no_grad():
            x8 = torch.rand(8, 3, 224, 224)
            median8, fastest8 = timed(lambda: resnet(x8), 3)
        results["environment"]["torchvision_resnet50_batch8_s"] = {"median": median8, "min": fastest8}
    for name, cfg in (("full", full_cfg), ("quick", quick_cfg)):
        model = build(cfg, body, atlas)
        entry = {"config": cfg.to_dict(), "params": param_report(model), "flops": flop_report(model, cpu)}
        if not args.no_cpu_latency:
            if name == "full":
                entry["cpu_latency"] = [latency_report(model, 1, 8, cpu), latency_report(model, 8, 3, cpu)]
            else:
                entry["cpu_latency"] = [latency_report(model, 1, 10, cpu), latency_report(model, 8, 5, cpu)]
        results[name] = entry
        print(f"[{name}] {json.dumps({k: entry[k] for k in ('params', 'flops')}, indent=1)}", flush=True)
        if "cpu_latency" in entry:
            print(f"[{name}] cpu {json.dumps(entry['cpu_latency'], indent=1)}", flush=True)

    if not args.no_cpu_latency:  # minimum times per image, same run: each model vs the paper-size model and ResNet-50
        env = results["environment"]
        resnet_s = {1: env["torchvision_resnet50_batch1_s"]["min"], 8: env["torchvision_resnet50_batch8_s"]["min"] / 8}
        paper_s = {r["batch"]: r["s_per_image_min"] for r in results["full"]["cpu_latency"]}
        results["ratios"] = {
            name: {f"batch{r['batch']}": {"s_per_image_min": r["s_per_image_min"],
                                         "vs_paper_size_model": r["s_per_image_min"] / paper_s[r["batch"]],
                                         "vs_resnet50": r["s_per_image_min"] / resnet_s[r["batch"]]}
                   for r in results[name]["cpu_latency"]}
            for name in ("full", "quick")}
        print(f"[ratios] {json.dumps(results['ratios'], indent=1)}", flush=True)

    if (args.cuda or torch.cuda.is_available()) and torch.cuda.is_available():
        gpu = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        cuda_results = {"device": torch.cuda.get_device_name(0)}
        for name, cfg in (("full", full_cfg), ("quick", quick_cfg)):
            model = build(cfg, body, atlas).to(gpu)
            fp32 = latency_report(model, args.cuda_batch, 10, gpu, cuda=True)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                bf16 = latency_report(model, args.cuda_batch, 10, gpu, cuda=True)
            cuda_results[name] = {"fp32": fp32, "bf16_autocast": bf16}
        results["cuda"] = cuda_results
        print(f"[cuda] {json.dumps(cuda_results, indent=1)}", flush=True)
    else:
        results["cuda"] = "not available on this machine (run this script on the GPU machine for throughput)"

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
