"""Tests of decomr.data.cache: the pre-rendered synthetic split and its use in training."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from decomr.data.cache import (
    CacheMismatchError,
    CachedSyntheticDataset,
    cache_status,
    ensure_cache,
    render_cache,
)
from decomr.cli.render_synthetic import render_synthetic_main
from decomr.data.synthetic import SyntheticConfig, SyntheticDataset
from tests.helpers import assert_close

SMALL = SyntheticConfig(image_size=32, iuv_size=8, train_size=10, val_size=4, test_size=4)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return render_cache(SMALL, "train", tmp_path_factory.mktemp("cache") / "train", chunk=4, workers=1,
                        progress=False)


def test_cached_samples_equal_the_rendered_ones_up_to_storage_rounding(cache, anny_body):
    ds = CachedSyntheticDataset(cache, config=SMALL, split="train", size=10)
    ref = SyntheticDataset("train", config=SMALL, body=anny_body)
    assert len(ds) == 10 and cache_status(cache) == (10, 10)
    for i in (0, 5, 9):  # every chunk, the last one short (10 = 4 + 4 + 2)
        a, b = ds[i], ref[i]
        assert set(b) <= set(a)
        assert_close(a["image"], b["image"], atol=0.5 / 255 + 1e-6, msg="image")
        assert_close(a["vertices"], b["vertices"], atol=5e-4, msg="vertices (float16, metres)")
        assert_close(a["iuv"], b["iuv"], atol=5e-4, msg="iuv")
        for key in ("joints3d", "lsp_joints3d", "keypoints", "camera", "global_orient"):
            assert_close(a[key], b[key], atol=1e-6, msg=key)
        assert torch.equal(a["parts"], b["parts"]) and int(a["index"]) == i
        assert a["image"].dtype == torch.float32 and a["parts"].dtype == torch.int64 and bool(a["has_mesh"])
    with pytest.raises(IndexError):
        ds[10]


def test_rendering_resumes_where_it_stopped(cache, tmp_path):
    import shutil

    copy = tmp_path / "train"
    shutil.copytree(cache, copy)
    meta = json.loads((copy / "meta.json").read_text())
    meta["done"] = [0, 2]  # as if killed after two of the three chunks ...
    (copy / "meta.json").write_text(json.dumps(meta))
    vertices = np.load(copy / "vertices.npy", mmap_mode="r+")
    vertices[4:8] = 0  # ... before chunk 1 (samples 4-7) was written
    vertices.flush()
    assert cache_status(copy) == (6, 10)
    with pytest.raises(CacheMismatchError, match="only 6/10"):
        CachedSyntheticDataset(copy)
    render_cache(SMALL, "train", copy, workers=1, progress=False)  # renders chunk 1 only
    assert cache_status(copy) == (10, 10)
    assert np.array_equal(np.load(copy / "vertices.npy"), np.load(cache / "vertices.npy"))


def test_a_cache_written_with_the_old_mask224_name_still_loads_and_resumes(cache, tmp_path):
    import shutil

    from decomr.data.batch import Batch

    old = tmp_path / "train"
    shutil.copytree(cache, old)
    (old / "mask.npy").rename(old / "mask224.npy")  # the full-resolution mask's name before the rename
    meta = json.loads((old / "meta.json").read_text())
    meta["layout"] = {("mask224" if k == "mask" else k): v for k, v in meta["layout"].items()}
    meta["done"] = [0, 2]
    (old / "meta.json").write_text(json.dumps(meta))
    masks = np.load(old / "mask224.npy", mmap_mode="r+")
    masks[4:8] = 0
    masks.flush()
    render_cache(SMALL, "train", old, workers=1, progress=False)  # resumes into mask224.npy
    assert np.array_equal(np.load(old / "mask224.npy"), np.load(cache / "mask.npy"))
    a, b = CachedSyntheticDataset(old)[5], CachedSyntheticDataset(cache)[5]
    assert "mask224" not in a and torch.equal(a["mask"], b["mask"]) and a["mask"].dtype == torch.float32
    assert Batch.collate([a, b]).mask.shape == (2, 1, 32, 32)


def test_a_folder_of_another_dataset_is_refused(cache, tmp_path):
    other = SyntheticConfig(image_size=32, iuv_size=8, train_size=10, val_size=4, test_size=4, seed=1)
    with pytest.raises(CacheMismatchError, match="config"):
        render_cache(other, "train", cache, workers=1, progress=False)
    with pytest.raises(CacheMismatchError, match="another synthetic config"):
        CachedSyntheticDataset(cache, config=other)
    with pytest.raises(CacheMismatchError, match="holds the 'train' split, expected 'val'"):
        CachedSyntheticDataset(cache, split="val")
    with pytest.raises(FileNotFoundError, match="render-synthetic"):
        CachedSyntheticDataset(tmp_path / "nothing")
    with pytest.raises(ValueError, match="size"):
        render_cache(SMALL, "val", tmp_path / "v", size=5, workers=1, progress=False)  # the val split has 4


def test_two_workers_write_the_same_files_as_one(cache, tmp_path):
    two = render_cache(SMALL, "train", tmp_path / "two", chunk=4, workers=2, progress=False)
    for name in ("image", "vertices", "iuv", "keypoints"):
        assert np.array_equal(np.load(two / f"{name}.npy"), np.load(cache / f"{name}.npy")), name


def test_cli_renders_a_config_and_names_bad_input(tmp_path, capsys):
    args = ["--config", "quick", "--out", str(tmp_path / "c"), "--split", "val", "--workers", "1", "--no-progress",
            "model.img_size=64", "model.iuv_size=16", "data.synthetic.val_size=3"]
    assert render_synthetic_main(args) == 0
    assert "val: 3/3 samples" in capsys.readouterr().out
    assert CachedSyntheticDataset(tmp_path / "c" / "val")[2]["image"].shape == (3, 64, 64)
    assert render_synthetic_main(["--config", "quick", "--workers", "1"]) == 2  # quick has no data.cache
    assert "data.cache is not set" in capsys.readouterr().err


def test_training_from_a_cache_augments_on_the_device(tmp_path):
    from decomr.body import load
    from decomr.train.data import augments_on_device, build_train_dataset, build_train_source, resolve_pipeline
    from decomr.uv import load_atlas
    from tests.train_helpers import tiny_config

    config = tiny_config(tmp_path / "run", f"data.cache={tmp_path / 'cache'}")
    body = load("anny")
    atlas = load_atlas(body, "continuous")
    assert augments_on_device(config) and resolve_pipeline(config, torch.device("cpu")) == "loader"
    data = build_train_dataset(config, body, atlas, progress=False)  # renders the cache first
    assert isinstance(data, CachedSyntheticDataset) and len(data) == config.data.synthetic.train_size
    batch = build_train_source(config, body, atlas, torch.device("cpu"), 0, 1, 0, data).next_batch()
    plain = torch.utils.data.default_collate([data[i] for i in range(len(data))])
    # Augmented on the device (augment_batch's consistency is tested in test_data_augment.py):
    # the image is no longer any of the cached ones, the IUV image stays a valid one.
    assert batch["image"].shape == (4, 3, 64, 64)
    assert not any(torch.allclose(batch["image"][0], img, atol=1e-3) for img in plain["image"])
    fg = batch["iuv"][:, 0] > 0.5
    assert ((batch["iuv"][:, 1:] >= 0) & (batch["iuv"][:, 1:] <= 1)).all() and fg.any()
    with pytest.raises(ValueError, match="'gpu' renders"):
        from decomr.train.config import apply_overrides

        resolve_pipeline(apply_overrides(config, ["train.pipeline=gpu"]), torch.device("cpu"))


def test_one_cache_serves_both_atlases_as_rendering_each_would(tmp_path, anny_body):
    import dataclasses

    folder = ensure_cache(SMALL, "train", tmp_path / "both", workers=1, progress=False)  # SMALL: continuous
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["config"]["atlas"] == "both" and {"iuv", "iuv_default"} <= set(meta["layout"])
    for atlas in ("continuous", "default"):
        config = dataclasses.replace(SMALL, atlas=atlas)
        ds = CachedSyntheticDataset(folder, config=config, split="train", size=10)
        ref = SyntheticDataset("train", config=config, body=anny_body)
        for i in (0, 7):
            a, b = ds[i], ref[i]
            assert set(a) - {"has_3d", "has_mesh"} == set(b) - {"has_3d", "has_mesh"}  # no iuv_default left
            assert_close(a["iuv"], b["iuv"], atol=5e-4, msg=f"iuv on the {atlas} atlas")
            assert_close(a["image"], b["image"], atol=0.5 / 255 + 1e-6, msg="image")
    # the two atlases' IUV images really differ (the default map has other UVs)
    c = CachedSyntheticDataset(folder, config=SMALL)[0]["iuv"]
    d = CachedSyntheticDataset(folder, config=dataclasses.replace(SMALL, atlas="default"))[0]["iuv"]
    assert torch.equal(c[0], d[0]) and (c[1:] - d[1:]).abs().max() > 0.1
    # ensure_cache finds the folder finished: nothing is rendered again
    stamp = (folder / "iuv.npy").stat().st_mtime_ns
    default = dataclasses.replace(SMALL, atlas="default")
    assert ensure_cache(default, "train", folder, workers=1, progress=False) == folder
    assert (folder / "iuv.npy").stat().st_mtime_ns == stamp


def test_a_single_atlas_cache_serves_its_own_atlas_only(cache):
    import dataclasses

    assert ensure_cache(SMALL, "train", cache, workers=1, progress=False) == cache  # an older one-atlas cache
    assert "iuv_default" not in CachedSyntheticDataset(cache, config=SMALL)[0]
    other = dataclasses.replace(SMALL, atlas="default")
    with pytest.raises(CacheMismatchError, match="on the continuous atlas only; a cache rendered now holds both"):
        CachedSyntheticDataset(cache, config=other)
    with pytest.raises(CacheMismatchError, match="config"):  # it would render both atlases into it
        ensure_cache(other, "train", cache, workers=1, progress=False)
    with pytest.raises(ValueError, match="SyntheticConfig"):
        ensure_cache({"image_size": 32}, "train", cache)
