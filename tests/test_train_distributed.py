"""Multi-process training (torchrun + DDP, gloo on CPU) matches one process on the same global batch.

Two ranks each take half of every global batch and DDP averages their gradients. One process with
``train.grad_accum=2`` splits the same global batch into the same halves and averages their
gradients: the parameters must agree after a few steps (BatchNorm statistics are per half in both
cases; SyncBatchNorm needs CUDA).
"""
from __future__ import annotations

import os
import subprocess
import sys

import torch

from decomr.paths import REPO_ROOT
from decomr.train.checkpoint import load_checkpoint
from decomr.train.config import apply_overrides, save_config
from decomr.train.distributed import DistInfo, all_reduce_mean, init_distributed, wrap_ddp
from decomr.train.loop import train
from tests.helpers import assert_close
from tests.train_helpers import tiny_config, one_thread  # noqa: F401 (autouse)


def test_single_process_helpers_are_no_ops(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    info = init_distributed("cpu")
    assert info == DistInfo(0, 0, 1, torch.device("cpu"), "") and info.is_main and not info.distributed
    model = torch.nn.Linear(2, 2)
    assert wrap_ddp(model, info) is model
    x = torch.tensor([1.0, 3.0])
    assert all_reduce_mean(x, info) is x


def test_two_ranks_with_ddp_equal_one_process_with_gradient_accumulation(tmp_path):
    steps = ["train.stage1_steps=1", "train.stage2_steps=2", "train.eval_every=0"]
    # Two processes under torchrun, through the real command line.
    config = tiny_config(tmp_path / "ddp", *steps, name="ddp")
    save_config(config, tmp_path / "ddp.yaml")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "decomr.cli.train", "--config", str(tmp_path / "ddp.yaml"), "--no-progress"]
    run = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    ddp = load_checkpoint(tmp_path / "ddp")
    assert ddp.step == 3

    # One process, the same global batches split into the same two halves.
    single = apply_overrides(tiny_config(tmp_path / "single", *steps, name="ddp"), ["train.grad_accum=2"])
    train(single, progress=False)  # one thread, like each rank (OMP_NUM_THREADS=1)
    ref = load_checkpoint(tmp_path / "single")
    params = {k for k, _ in ref.model.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    changed = 0
    for k in sorted(params):
        if ref.model[k].is_floating_point():
            assert_close(ddp.model[k], ref.model[k], atol=1e-5, msg=k)
            changed += 1
    assert changed > 50
    # The logged losses are the mean over ranks = the mean over micro-batches.
    rows = [line for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines() if '"train"' in line]
    assert len(rows) == 3
