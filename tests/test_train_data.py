"""Tests for decomr.train.data: per-step deterministic, sharded, resumable batches; both pipelines agree."""
from __future__ import annotations

import pytest
import torch

from decomr.train.config import apply_overrides
from decomr.train.data import (ConcatDatasets, J24_FLIP_PERM, SeededDataset, StepBatchSampler, build_train_source,
                               resolve_pipeline, sample_seed)
from decomr.uv import load_atlas
from tests.helpers import assert_close
from tests.train_helpers import tiny_config, one_thread  # noqa: F401 (autouse)


def test_sample_seed_is_deterministic_and_mixes_its_parts():
    assert sample_seed(1, 2, 3) == sample_seed(1, 2, 3)
    seeds = {sample_seed(0, e, i) for e in range(10) for i in range(100)}
    assert len(seeds) == 1000 and all(0 <= s < 2 ** 63 for s in seeds)
    assert sample_seed(1, 2) != sample_seed(2, 1)


def test_step_sampler_visits_each_sample_once_per_epoch():
    s = StepBatchSampler(10, 4, seed=3)
    items = [it for step in range(5) for it in s.batch_for(step)]  # 20 positions = 2 epochs
    assert sorted(i for i, e, _ in items if e == 0) == list(range(10))
    assert sorted(i for i, e, _ in items if e == 1) == list(range(10))
    assert [i for i, e, _ in items if e == 0] != [i for i, e, _ in items if e == 1]  # reshuffled
    assert len({seed for _, _, seed in items}) == 20
    assert [i for i, _, _ in StepBatchSampler(10, 4, shuffle=False).batch_for(1)] == [4, 5, 6, 7]


def test_ranks_split_the_global_batch_and_resume_anywhere():
    one = StepBatchSampler(13, 6, seed=1)
    ranks = [StepBatchSampler(13, 6, seed=1, rank=r, world_size=3) for r in range(3)]
    for step in range(7):
        assert sum((r.batch_for(step) for r in ranks), []) == one.batch_for(step)
    late = StepBatchSampler(13, 6, seed=1, start_step=4, num_steps=2)
    assert list(late) == [one.batch_for(4), one.batch_for(5)] and len(late) == 2
    with pytest.raises(ValueError, match="multiple of world_size"):
        StepBatchSampler(13, 5, world_size=2)
    with pytest.raises(ValueError, match="rank"):
        StepBatchSampler(13, 6, rank=3, world_size=3)
    with pytest.raises(TypeError):
        len(StepBatchSampler(13, 6))


class _Random(torch.utils.data.Dataset):
    """Samples that draw from the global RNGs (like an augmenting dataset) and record the epoch."""

    epoch = -1

    def __len__(self):
        return 5

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __getitem__(self, i):
        return {"x": torch.rand(2) + i, "epoch": torch.tensor(self.epoch)}


def test_seeded_dataset_makes_samples_a_function_of_their_seed():
    ds = SeededDataset(_Random())
    a = ds[(2, 7, 123)]
    torch.rand(10)  # whatever ran before does not matter
    b = ds[(2, 7, 123)]
    assert torch.equal(a["x"], b["x"]) and int(a["epoch"]) == 7 and int(a["sample_seed"]) == 123
    assert not torch.equal(ds[(2, 7, 124)]["x"], a["x"])


def test_concat_datasets_index_across_parts():
    cat = ConcatDatasets([list(range(3)), list(range(10, 12))])
    assert len(cat) == 5 and [cat[i] for i in range(5)] == [0, 1, 2, 10, 11]
    with pytest.raises(ValueError):
        ConcatDatasets([])


def test_j24_flip_perm_swaps_left_and_right():
    from decomr.eval.protocols import OFFICIAL_J24_NAMES as names

    assert sorted(J24_FLIP_PERM) == list(range(24))
    assert names[J24_FLIP_PERM[names.index("left_wrist")]] == "right_wrist"
    assert names[J24_FLIP_PERM[names.index("neck_lsp")]] == "neck_lsp"


def test_gpu_pipeline_renders_the_same_batches_as_the_loader(anny_body, tmp_path):
    """The "gpu" pipeline (params in workers, batched rendering on the device) on the CPU equals the
    loader pipeline (one sample at a time), augmentation included."""
    config = tiny_config(tmp_path)
    assert resolve_pipeline(config, torch.device("cpu")) == "loader"
    atlas = load_atlas(anny_body, "continuous")
    loader = build_train_source(config, anny_body, atlas, torch.device("cpu"), 0, 1, start_step=2)
    gpu = build_train_source(apply_overrides(config, ["train.pipeline=gpu"]), anny_body, atlas,
                             torch.device("cpu"), 0, 1, start_step=2)
    a, b = loader.next_batch(), gpu.next_batch()
    assert a["image"].shape == (4, 3, 64, 64) and a["iuv"].shape == (4, 3, 16, 16)
    assert torch.equal(a["index"], b["index"])
    for key in ("vertices", "joints3d", "keypoints", "camera"):
        assert_close(b[key], a[key], atol=1e-4, msg=key)
    for key in ("image", "iuv"):  # a few edge pixels may round differently
        assert (b[key] - a[key]).abs().gt(1e-3).float().mean() < 0.02, key
    with pytest.raises(ValueError, match="only generates synthetic data"):
        resolve_pipeline(apply_overrides(config, ["train.pipeline=gpu", "data.source=official"]), torch.device("cpu"))
