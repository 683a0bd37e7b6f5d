"""Training throughput of DecoMR vs a bare torchvision ResNet-50, data generation rate, GPU memory.

What it measures, in one process on one device:

1. **Our train step** (:func:`decomr.train.loop.train_step`, stage 2 = the full Eq. 1 with GT
   location maps built on the fly, Adam step included) in images/s, for each model, batch size and
   ``torch.compile`` setting, with bf16 autocast and channels_last as the training loop sets them
   (``train.amp``: bf16 on CUDA and on CPUs with native bf16; ``train.channels_last``); data
   excluded (one batch is rendered first and reused). Peak GPU memory of each.
2. **A bare torchvision ResNet-50 train step** (cross-entropy on random labels, Adam, same batch,
   AMP, channels_last, compile): the reference. ``ratio = ours / resnet50`` is the headline figure
   (target >= 0.25 for the paper-size model on an H100).
3. **Synthetic data generation**: drawing sample parameters on the CPU (per worker), rendering
   batches on the device (:class:`decomr.data.synthetic.SyntheticBatchGenerator`), and the whole
   "gpu" pipeline (workers + rendering, :func:`decomr.train.data.build_train_source`) in images/s,
   to compare with what training consumes.

4. **CPU precision** (``--cpu-precision``, on the CPU): the release recipe's model
   (``configs/cpu.yaml``, batch 32) in stage 1 and stage 2 with fp32, channels-last, bf16
   autocast and both, timed step by step in alternation so that all four share the machine's
   load. Ratios are to fp32; bf16 is what ``train.amp=true`` uses on a CPU with native bf16
   (:func:`decomr.train.loop.cpu_has_native_bf16`). Written to ``train_precision_cpu.json``.

Results go to ``benchmarks/results/train_throughput_<device>.json`` and a table is printed.

Commands (GPU machine, from the repository root; each fits in a 10-minute call)::

    python benchmarks/train_throughput.py                                   # both models, batch 64/128, compile off/on
    python benchmarks/train_throughput.py --models synthetic --compile off  # faster: the release model only
    python benchmarks/train_throughput.py --models paper --batch 128 --compile on
    python benchmarks/train_throughput.py --quick                           # CPU, tiny sizes, ~1-2 minutes
    python benchmarks/train_throughput.py --cpu-precision                   # CPU, fp32 vs bf16, ~3 minutes

``--models``: ``synthetic`` (configs/synthetic.yaml: ResNet-18, 20.8M parameters), ``paper``
(configs/paper.yaml's architecture: ResNet-50, 62M parameters, here on the Anny body), ``quick``
(configs/quick.yaml) or ``tiny`` (64 px, for ``--quick``).
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from decomr.body import load as load_body  # noqa: E402
from decomr.data.batch import Batch  # noqa: E402
from decomr.models import DecoMR  # noqa: E402
from decomr.train.config import OptimConfig, TrainConfig, apply_overrides, load_config  # noqa: E402
from decomr.train.loop import amp_dtype_for, train_step  # noqa: E402
from decomr.uv import load_atlas, weight_map  # noqa: E402

TINY = ["model.backbone=resnet18", "model.pretrained=null", "model.img_size=64", "model.iuv_size=16",
        "model.uv_grid=16", "model.map_size=32", "model.lnet_levels=2", "model.decoder_channels=[256,128]",
        "model.local_channels=64", "model.head_channels=16", "model.global_hidden=256", "model.global_channels=64",
        "model.camera_hidden=[256,64]", "model.lnet_channels=64", "model.lnet_out_channels=32"]


def model_config(name: str) -> TrainConfig:
    """The TrainConfig whose model/data sizes a benchmark entry uses (no ImageNet weights needed)."""
    if name == "tiny":
        return apply_overrides(TrainConfig(), TINY)
    if name == "paper":  # the paper's architecture on the free body model
        return apply_overrides(load_config("paper"), ["body=anny", "data.source=synthetic", "model.pretrained=null"])
    return apply_overrides(load_config(name), ["model.pretrained=null"])


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, steps: int, warmup: int, device: torch.device) -> list[float]:
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return times


def summary(times: list[float], batch: int) -> dict[str, float]:
    med = statistics.median(times)
    return {"step_ms": 1000 * med, "images_per_s": batch / med, "steps_timed": len(times)}


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def render_batch(config: TrainConfig, body, atlas, device: torch.device, batch: int) -> Batch:
    from decomr.data.synthetic import SyntheticBatchGenerator

    gen = SyntheticBatchGenerator(config.synthetic, device, body=body, atlases={atlas.name: atlas})
    return gen.batch("train", range(batch))


def bench_decomr(name: str, batch: int, compile_: bool, device: torch.device, steps: int, warmup: int,
                 body, atlases: dict) -> dict:
    config = model_config(name)
    atlas = atlases.setdefault(config.model.atlas, load_atlas(body, config.model.atlas))
    torch.manual_seed(0)
    model = DecoMR(config.model, body, atlas).to(device).train()
    channels_last = config.train.channels_last  # as the training loop sets it, on any device
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    wmap = weight_map(body, atlas, config.model.map_size).to(device)
    data = render_batch(config, body, atlas, device, batch)
    if channels_last:
        data.image = data.image.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    amp = amp_dtype_for(config.train, device)
    net = torch.compile(model) if compile_ else model
    reset_peak(device)
    times = timed(lambda: train_step(net, data, opt, stage=2, weight_map=wmap, amp_dtype=amp), steps, warmup, device)
    params = sum(p.numel() for p in model.parameters())
    return {"model": name, "backbone": config.model.backbone, "params_m": params / 1e6, "img_size": config.model.img_size,
            "batch": batch, "compile": compile_, "amp": str(amp), "channels_last": channels_last,
            **summary(times, batch), "peak_mem_gib": peak_gib(device)}


def bench_resnet50(batch: int, img_size: int, compile_: bool, device: torch.device, steps: int, warmup: int,
                   train: OptimConfig) -> dict:
    """A bare ResNet-50 step with the AMP and channels-last settings ``train`` gives our step."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet50().to(device).train()
    channels_last = train.channels_last
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.rand(batch, 3, img_size, img_size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    amp = amp_dtype_for(train, device)
    net = torch.compile(model) if compile_ else model

    def step():
        opt.zero_grad(set_to_none=True)
        ctx = torch.autocast(device.type, dtype=amp) if amp is not None else torch.autocast(device.type, enabled=False)
        with ctx:
            loss = F.cross_entropy(net(x).float(), y)
        loss.backward()
        opt.step()

    reset_peak(device)
    times = timed(step, steps, warmup, device)
    return {"model": "torchvision resnet50", "img_size": img_size, "batch": batch, "compile": compile_, "amp": str(amp),
            "channels_last": channels_last, **summary(times, batch), "peak_mem_gib": peak_gib(device)}


def bench_data(name: str, batch: int, device: torch.device, body, atlases: dict, num_workers: int, steps: int) -> dict:
    """Parameter drawing (CPU), rendering (device) and the whole gpu pipeline, in images/s."""
    from decomr.data.augment import sample_augment_params
    from decomr.data.synthetic import SyntheticBatchGenerator
    from decomr.train.data import build_train_source

    config = model_config(name)
    atlas = atlases.setdefault(config.model.atlas, load_atlas(body, config.model.atlas))
    gen = SyntheticBatchGenerator(config.synthetic, device, body=body, atlases={atlas.name: atlas})
    t = time.perf_counter()
    params = gen.params("train", range(batch))
    param_s = (time.perf_counter() - t) / batch
    aug = sample_augment_params(config.augmentation, batch)
    times = timed(lambda: gen.render(params, aug), steps, 1, device)
    render = summary(times, batch)
    cfg = apply_overrides(config, ["train.pipeline=gpu", f"train.batch_size={batch}", f"train.num_workers={num_workers}"])
    source = build_train_source(cfg, body, atlas, device, 0, 1, start_step=0)
    source.next_batch()  # start the workers
    pipe = summary(timed(source.next_batch, steps, 1, device), batch)
    source.close()
    return {"model": name, "batch": batch, "img_size": config.model.img_size,
            "params_ms_per_sample_one_cpu": 1000 * param_s,
            "params_images_per_s_per_worker": 1.0 / param_s,
            "render_images_per_s": render["images_per_s"],
            "pipeline_images_per_s": pipe["images_per_s"], "pipeline_workers": num_workers}


PRECISIONS = {"fp32": (None, False), "fp32 channels-last": (None, True), "bf16": (torch.bfloat16, False),
              "bf16 channels-last": (torch.bfloat16, True)}


def bench_cpu_precision(name: str, batch: int, steps: int, warmup: int, body, atlases: dict) -> dict:
    """Stage-1 and stage-2 steps of one model under each CPU precision, interleaved step by step."""
    from decomr.train.loop import cpu_has_native_bf16

    config = model_config(name)
    atlas = atlases.setdefault(config.model.atlas, load_atlas(body, config.model.atlas))
    device = torch.device("cpu")
    wmap = weight_map(body, atlas, config.model.map_size)
    data = render_batch(config, body, atlas, device, batch)
    runs = {}
    for label, (amp, channels_last) in PRECISIONS.items():
        torch.manual_seed(0)
        model = DecoMR(config.model, body, atlas).train()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        runs[label] = (model, torch.optim.Adam(model.parameters(), lr=1e-5), amp)
    rows = []
    for stage in (1, 2):
        times: dict[str, list[float]] = {label: [] for label in runs}
        for k in range(warmup + steps):
            for label, (model, opt, amp) in runs.items():
                t = time.perf_counter()
                train_step(model, data, opt, stage=stage, weight_map=wmap, amp_dtype=amp)
                if k >= warmup:
                    times[label].append(time.perf_counter() - t)
        for label, values in times.items():
            rows.append({"model": name, "stage": stage, "precision": label, "batch": batch, **summary(values, batch)})
        base = next(r for r in rows if r["stage"] == stage and r["precision"] == "fp32")["images_per_s"]
        for r in rows:
            if r["stage"] == stage:
                r["ratio_to_fp32"] = r["images_per_s"] / base
    return {"native_bf16": cpu_has_native_bf16(), "threads": torch.get_num_threads(), "rows": rows}


def cpu_precision_main(args) -> int:
    body = load_body("anny")
    start = time.time()
    bench = bench_cpu_precision("quick", args.batch[0] if args.batch else 32, args.steps or 5, args.warmup or 2,
                                body, {})
    result = {"device": f"cpu ({platform.processor() or 'cpu'}, {bench['threads']} threads)",
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              "seconds": time.time() - start, **bench,
              "notes": "the cpu.yaml model (ResNet-18, 128 px) on one pre-rendered batch; images/s = batch / median "
                       "step time; the four settings alternate step by step, so they share the machine's load; "
                       "ratio_to_fp32 within each stage."}
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / "train_precision_cpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"native bf16: {bench['native_bf16']}\n\n| stage | precision | img/s | ratio to fp32 |\n|---|---|---:|---:|")
    for r in bench["rows"]:
        print(f"| {r['stage']} | {r['precision']} | {r['images_per_s']:.1f} | {r['ratio_to_fp32']:.2f} |")
    print(f"\nwrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="CPU, tiny model, 64 px, batch 4/8, few steps")
    p.add_argument("--device", default=None, help="default: cuda if available (cpu with --quick)")
    p.add_argument("--models", nargs="+", default=None, choices=["synthetic", "paper", "quick", "tiny"])
    p.add_argument("--batch", nargs="+", type=int, default=None)
    p.add_argument("--compile", choices=["off", "on", "both"], default=None)
    p.add_argument("--steps", type=int, default=None, help="timed steps per entry")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers of the data pipeline")
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/train_throughput_<device>.json)")
    p.add_argument("--cpu-precision", action="store_true",
                   help="only the CPU precision comparison (fp32 / channels-last / bf16) of the cpu.yaml model")
    args = p.parse_args(argv)
    if args.cpu_precision:
        return cpu_precision_main(args)

    device = torch.device(args.device or ("cpu" if args.quick or not torch.cuda.is_available() else "cuda"))
    quick = args.quick or device.type == "cpu"
    models = args.models or (["tiny"] if quick else ["synthetic", "paper"])
    batches = args.batch or ([4, 8] if quick else [64, 128])
    compiles = {"off": [False], "on": [True], "both": [False, True]}[args.compile or ("off" if quick else "both")]
    steps = args.steps or (3 if quick else 20)
    warmup = args.warmup or (1 if quick else 5)
    workers = args.workers if args.workers is not None else (1 if quick else 8)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    body_cpu = load_body("anny")  # shared, cached instance: never moved
    body = copy.deepcopy(body_cpu).to(device)
    atlases: dict = {}
    rows, refs, data = [], [], []
    start = time.time()
    for compile_ in compiles:
        for batch in batches:
            for name in models:
                row = bench_decomr(name, batch, compile_, device, steps, warmup, body, atlases)
                rows.append(row)
                print(f"decomr[{name}] b{batch} compile={compile_}: {row['images_per_s']:.1f} img/s "
                      f"({row['step_ms']:.0f} ms/step, peak {row['peak_mem_gib']} GiB)", flush=True)
            sizes = sorted({r["img_size"] for r in rows if r["batch"] == batch and r["compile"] == compile_})
            for size in sizes:
                same_size = next(n for n in models if model_config(n).model.img_size == size)
                ref = bench_resnet50(batch, size, compile_, device, steps, warmup, model_config(same_size).train)
                refs.append(ref)
                print(f"resnet50 {size}px b{batch} compile={compile_}: {ref['images_per_s']:.1f} img/s", flush=True)
    for row in rows:
        ref = next(r for r in refs if r["batch"] == row["batch"] and r["compile"] == row["compile"]
                   and r["img_size"] == row["img_size"])
        row["ratio_to_resnet50"] = row["images_per_s"] / ref["images_per_s"]
    for name in models:
        d = bench_data(name, max(batches), device, body_cpu, atlases, workers, max(2, steps // 2))
        data.append(d)
        print(f"data[{name}] b{d['batch']}: params {d['params_ms_per_sample_one_cpu']:.1f} ms/sample/CPU, render "
              f"{d['render_images_per_s']:.1f} img/s, pipeline ({workers} workers) {d['pipeline_images_per_s']:.1f} img/s",
              flush=True)

    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor() or 'cpu'}, "
                  f"{torch.get_num_threads()} threads)",
        "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": quick,
        "seconds": time.time() - start, "decomr": rows, "resnet50": refs, "data": data,
        "notes": "images/s = batch / median step time; data excluded from the train steps (one pre-rendered batch); "
                 "ratio_to_resnet50 = ours / bare torchvision ResNet-50 train step at the same batch, size, "
                 "AMP, channels_last and compile setting.",
    }
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / f"train_throughput_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| model | batch | compile | img/s | ratio to ResNet-50 | peak GiB |\n|---|---:|---|---:|---:|---:|")
    for r in rows:
        mem = f"{r['peak_mem_gib']:.1f}" if r["peak_mem_gib"] is not None else "—"
        print(f"| {r['model']} ({r['backbone']}, {r['params_m']:.1f}M) | {r['batch']} | {r['compile']} | "
              f"{r['images_per_s']:.1f} | {r['ratio_to_resnet50']:.2f} | {mem} |")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
