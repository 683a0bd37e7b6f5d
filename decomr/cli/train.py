"""``decomr train``: train DecoMR from a YAML config plus ``key=value`` overrides.

Examples::

    decomr train --config configs/quick.yaml                      # CPU, a few minutes
    decomr train --config configs/synthetic.yaml train.max_minutes=9.5   # GPU, 10-minute chunks
    decomr train --resume runs/synthetic                          # continue from runs/synthetic/last.pt
    decomr train --config quick train.lr=1e-4 model.backbone=resnet18 name=lr1e-4
    torchrun --nproc_per_node=8 -m decomr train --config configs/synthetic.yaml
    decomr train --show-config --config quick                     # print the resolved config
    decomr train --export-release runs/synthetic data/checkpoints/decomr_anny_resnet18.pt

Exit status: 0 when the run finished or stopped at ``train.max_minutes`` (resume to continue),
2 on a bad config, 3 when the loss became NaN/inf (``last.pt`` keeps the last good state).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import yaml

from decomr.cli import doc_parser, fail
from decomr.paths import sub_dir
from decomr.train.checkpoint import export_release, find_checkpoint, load_checkpoint
from decomr.train.config import TrainConfig, apply_overrides, describe_config, load_config
from decomr.train.loop import NonFiniteLossError, ResumeMismatchError, RunExistsError, train

__all__ = ["train_main", "build_train_parser"]


def build_train_parser() -> argparse.ArgumentParser:
    p = doc_parser("decomr train", __doc__, "Train DecoMR (stage 1: CNet alone, stage 2: end to end).")
    p.add_argument("--config", "-c", help="YAML config (a file or a name in configs/: quick, synthetic, paper, surreal)")
    p.add_argument("--resume", nargs="?", const="auto", metavar="RUN_OR_CKPT",
                   help="continue a run: its folder or a checkpoint file (default: the config's run folder)")
    p.add_argument("--show-config", action="store_true", help="print the resolved config (YAML) and every key, then exit")
    p.add_argument("--export-release", nargs="+", metavar=("RUN_OR_CKPT", "OUT"),
                   help="write an fp16 release (weights + config) of a run's best/last checkpoint and exit")
    p.add_argument("--overwrite", action="store_true",
                   help="the run folder already holds a run: move it aside (<run>.old-<date>) and start afresh")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.lr=1e-4 model.backbone=resnet18")
    return p


#: Validation metrics kept in a release's learning curve.
_CURVE_KEYS = ("step", "stage", "mpjpe", "pa_mpjpe", "pve", "mask_iou", "uv_error", "facing_error")


def run_card(run_dir: Path) -> tuple[dict[str, float], dict]:
    """(test metrics, model card) of a run folder, for its release.

    The card holds the validation curve (``history``, from ``metrics.jsonl``), the time spent in
    training steps (``train_seconds``: steps x batch / logged images/s; ``wall_seconds``: the
    logged wall clock with pauses between resumed chunks left out) and, when ``decomr eval`` wrote
    ``<run>/eval/synthetic.json``, the test metrics beside the template body's (``baseline``).
    """
    metrics: dict[str, float] = {}
    card: dict = {}
    report = run_dir / "eval" / "synthetic.json"
    if report.is_file():
        data = json.loads(report.read_text())
        metrics = {k: float(v) for k, v in data["metrics"].items()}
        card.update(baseline={k: float(v) for k, v in data.get("baseline", {}).items()},
                    test_samples=int(data["num_samples"]))
    log = run_dir / "metrics.jsonl"
    if log.is_file():
        rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        card["history"] = [{"kind": "eval", **{k: r[k] for k in _CURVE_KEYS if k in r}}
                           for r in rows if r.get("kind") == "eval"]
        train = [r for r in rows if r.get("kind") == "train"]
        steps = [b["step"] - a["step"] for a, b in zip([{"step": 0}] + train[:-1], train)]
        config_path = run_dir / "config.yaml"
        if train and config_path.is_file():
            batch = load_config(config_path).train.batch_size
            card["train_seconds"] = sum(n * batch / r["images_per_s"] for n, r in zip(steps, train) if r["images_per_s"])
        walls = [r["wall"] for r in rows if "wall" in r]
        card["wall_seconds"] = sum(d for d in (b - a for a, b in zip(walls, walls[1:])) if d < 600)
    return metrics, card


def _export(args: list[str]) -> int:
    src = Path(args[0])
    run_dir = src if src.is_dir() else src.parent
    ckpt = load_checkpoint(find_checkpoint(src))  # a run folder: its best.pt, else last.pt
    c = ckpt.config
    out = Path(args[1]) if len(args) > 1 else sub_dir("checkpoints") / f"decomr_{c.body}_{c.model.backbone}_{c.name}.pt"
    metrics, card = run_card(run_dir)
    path = export_release(ckpt, out, metrics=metrics, card=card)
    print(f"release written: {path} ({path.stat().st_size / 2**20:.1f} MiB, step {ckpt.step}"
          + (", with the test metrics of eval/synthetic.json" if metrics else "") + ")")
    return 0


def train_main(argv: list[str] | None = None) -> int:
    """Entry point of ``decomr train`` (returns the exit status)."""
    args = build_train_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.export_release:
        try:
            return _export(args.export_release)
        except (FileNotFoundError, ValueError) as err:
            return fail("decomr train --export-release", err)
    try:
        if args.resume and args.resume != "auto" and args.config is None:
            ckpt = load_checkpoint(args.resume)  # the run's own config; overrides apply on top
            config = apply_overrides(ckpt.config, args.overrides)
            resume: bool | Path = ckpt.path
        else:
            config = load_config(args.config, args.overrides)
            resume = True if args.resume == "auto" else Path(args.resume) if args.resume else False
    except (ValueError, FileNotFoundError) as err:
        return fail("decomr train", err)
    if args.show_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None))
        print("# every key (type = default  # meaning):")
        print(describe_config(TrainConfig))
        return 0
    try:
        result = train(config, resume=resume, progress=not args.no_progress, overwrite=args.overwrite)
    except (RunExistsError, ResumeMismatchError, NonFiniteLossError) as err:
        return fail("decomr train", err, status=3 if isinstance(err, NonFiniteLossError) else 2)
    if result.finished:
        print(f"done: {result.step} steps, run folder {result.run_dir}"
              + (f", best {result.best_metric:.2f} at step {result.best_step}" if result.best_step >= 0 else ""))
    else:
        print(f"stopped at step {result.step}/{result.total_steps} (train.max_minutes); "
              f"continue with: decomr train --resume {result.run_dir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(train_main())
