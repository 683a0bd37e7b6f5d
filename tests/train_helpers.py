"""Tiny training configurations shared by the tests of decomr.train and decomr.eval.evaluate."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decomr.models import ModelConfig
from decomr.train.config import DataConfig, SyntheticSection, TrainConfig, apply_overrides

#: A tiny DecoMR: ResNet-18 on 64 px crops, 16 px IUV, 16-cell UV grid, 32 px location maps.
TINY_MODEL = ModelConfig.quick(pretrained=None, img_size=64, iuv_size=16, uv_grid=16, map_size=32, lnet_levels=2)

#: Synthetic data with tiny splits (rendered at the tiny model's sizes).
TINY_DATA = DataConfig(synthetic=SyntheticSection(train_size=8, val_size=2, test_size=2))


def tiny_config(run_dir: Path, *overrides: str, name: str = "tiny") -> TrainConfig:
    """A CPU run of 1 + 3 steps of batch 4 on the tiny model, writing to ``run_dir``."""
    base = TrainConfig(name=name, model=TINY_MODEL, data=TINY_DATA)
    return apply_overrides(base, [
        "train.device=cpu", "train.amp=false", "train.channels_last=false", "train.pipeline=loader",
        "train.num_workers=0", "train.batch_size=4", "train.stage1_steps=1", "train.stage2_steps=3",
        "train.log_every=1", "train.ckpt_every=100", "train.eval_every=0", "train.eval_batches=1",
        "train.image_every=0", "train.tensorboard=false", f"train.out_dir={run_dir}", *overrides,
    ])


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a shared 2-core machine OpenMP threads spin against each other and
    make these small models several times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
