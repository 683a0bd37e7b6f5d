"""Tests of decomr.data.batch: the typed batch of samples (collate, select, to, dict round trips)."""
from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from decomr.data.batch import Batch, as_batch
from decomr.data.synthetic import SyntheticBatchGenerator, SyntheticConfig, SyntheticDataset

SMALL = SyntheticConfig(image_size=32, iuv_size=16, atlas="default", train_size=8, val_size=4, test_size=4)


@pytest.fixture(scope="module")
def gen(anny_body):
    torch.set_num_threads(1)
    return SyntheticBatchGenerator(SMALL, "cpu", body=anny_body)


@pytest.fixture(scope="module")
def batch(gen):
    return gen.batch("val", [0, 1, 2])


def _assert_same(a: Batch, b: Batch, atol: float = 0.0) -> None:
    assert dict(a.items()).keys() == dict(b.items()).keys()
    for name, value in a.items():
        other = getattr(b, name)
        if torch.is_tensor(value):
            assert value.shape == other.shape and value.dtype == other.dtype, name
            torch.testing.assert_close(value, other, atol=atol, rtol=0, msg=name)
        else:
            assert value == other, name


def test_generator_batch_is_typed(batch):
    assert isinstance(batch, Batch) and len(batch) == 3
    assert batch.image.shape == (3, 3, 32, 32)
    assert batch.mask.shape == (3, 1, 32, 32) and batch.mask.dtype == torch.float32
    assert batch.iuv_mask.shape == (3, 1, 16, 16)
    assert batch.vertices.shape[0] == 3 and batch.vertices.shape[-1] == 3
    # fields the synthetic data does not have stay None
    assert batch.has_smpl is None and batch.gender is None and batch.imgname is None
    assert batch.keypoint_format is None and batch.sample_seed is None
    assert "mask" in batch and "gender" not in batch


def test_collate_of_samples_equals_the_generator_batch(gen, batch, anny_body):
    data = SyntheticDataset("val", config=SMALL, body=anny_body, atlases={"default": gen.atlases["iuv"]})
    samples = [data[i] for i in range(3)]
    assert "mask" in samples[0] and "mask224" not in samples[0]
    # rendering one sample or three at once agrees up to a few edge pixels and float rounding
    collated = Batch.collate(samples)
    assert isinstance(collated, Batch)
    for name, value in batch.items():
        other = getattr(collated, name)
        assert other.shape == value.shape and other.dtype == value.dtype, name
        if name in ("image", "iuv", "mask", "parts"):
            assert float(((other.float() - value.float()).abs() > 1e-3).float().mean()) < 0.01, name
        else:
            torch.testing.assert_close(other, value, atol=1e-4, rtol=1e-4, msg=name)
    loaded = next(iter(DataLoader(data, batch_size=3, collate_fn=Batch.collate)))
    _assert_same(loaded, collated)


def test_select_slice_and_to(batch):
    part = batch.select([2, 0])
    assert len(part) == 2
    torch.testing.assert_close(part.vertices, batch.vertices[[2, 0]])
    torch.testing.assert_close(batch[1:].image, batch.image[1:])
    assert len(batch.select(torch.tensor([True, False, True]))) == 2
    assert len(batch.select(0)) == 1
    assert batch.select(slice(0, 2)).mask is not None and batch.select([1]).gender is None
    moved = batch.to("cpu", channels_last=True)
    assert moved.image.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(moved.image, batch.image)
    assert moved.device == torch.device("cpu") and moved.has_smpl is None


def test_select_keeps_string_fields():
    b = Batch(image=torch.zeros(3, 3, 4, 4), imgname=["a", "b", "c"], dataset=["lsp"] * 3, keypoint_format="j24")
    part = b[[2, 0]]
    assert part.imgname == ["c", "a"] and part.dataset == ["lsp", "lsp"] and part.keypoint_format == "j24"


def test_dict_round_trip_and_optional_fields(batch):
    d = batch.to_dict()
    assert "gender" not in d and "mask" in d
    _assert_same(Batch.from_dict(d), batch)
    only = Batch.from_dict({"image": torch.zeros(2, 3, 8, 8)})
    assert only.iuv is None and only.iuv_mask is None and only.vertices is None and len(only) == 2
    assert as_batch(batch) is batch and isinstance(as_batch(d), Batch)
    assert batch["image"] is batch.image and batch["mask224"] is batch.mask  # dict-style read access
    with pytest.raises(KeyError):
        batch["gender"]


def test_old_mask224_key_maps_to_mask():
    mask = torch.ones(2, 1, 8, 8)
    b = Batch.from_dict({"image": torch.zeros(2, 3, 8, 8), "mask224": mask})
    assert b.mask is mask and "mask224" not in b.to_dict()
    b = Batch.collate([{"image": torch.zeros(3, 8, 8), "mask224": torch.ones(1, 8, 8)}] * 2)
    assert b.mask.shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="both 'mask224' .* and 'mask'"):
        Batch.from_dict({"image": torch.zeros(2, 3, 8, 8), "mask224": mask, "mask": mask})


def test_from_dict_errors():
    with pytest.raises(ValueError, match="unknown key 'mask56'"):
        Batch.from_dict({"image": torch.zeros(1, 3, 8, 8), "mask56": torch.zeros(1, 1, 4, 4)})
    with pytest.raises(ValueError, match="no 'image'"):
        Batch.from_dict({"iuv": torch.zeros(1, 3, 4, 4)})
    with pytest.raises(ValueError, match="one joint format per batch"):
        Batch.from_dict({"image": torch.zeros(2, 3, 8, 8), "keypoint_format": ["j24", "smpl24"]})
    with pytest.raises(ValueError, match="keypoint_format"):
        Batch(image=torch.zeros(1, 3, 8, 8), keypoint_format="coco")
    with pytest.raises(ValueError, match="image"):
        Batch(image=torch.zeros(3, 8, 8))
    assert Batch.from_dict({"image": torch.zeros(2, 3, 8, 8), "keypoint_format": ["j24", "j24"]}).keypoint_format == "j24"
