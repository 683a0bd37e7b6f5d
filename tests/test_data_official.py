"""Tests for decomr.data.official on fixtures in the official formats (tests/official_fixture.py)."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from decomr.data.crop import crop_labels, normalized_to_pixels
from decomr.data.errors import CorruptDataError
from tests.official_fixture import corrupt_file, update_npz_fields, write_official_fixture
from decomr.data.official import (
    OFFICIAL_DATASETS,
    OfficialDataset,
    dataset_file,
    dataset_status,
)
from decomr.eval.protocols import H36M_FRONTAL_CAMERA, J24_PELVIS, filter_h36m_imgnames, parse_h36m_imgname
from tests.helpers import assert_close

RES = 64
ALL_SPLITS = [(name, split) for name, spec in OFFICIAL_DATASETS.items() for split in spec.splits]
HAS_3D = {"h36m", "surreal"}
HAS_SMPL = {("h36m", "train"), ("up3d", "trainval"), ("up3d", "test"), ("up3d", "lsp_test"),
            ("surreal", "train"), ("surreal", "val"), ("3dpw", "test")}
HAS_2D = {("h36m", "train"), ("up3d", "trainval"), ("up3d", "test"), ("up3d", "lsp_test"),
          ("surreal", "train"), ("surreal", "val"), ("lsp", "test")}

KEYS = {"image", "keypoints", "keypoint_format", "lsp_keypoints", "joints3d", "joints3d_conf", "has_3d", "global_orient",
        "pose", "shape", "has_smpl", "gender", "mask", "parts", "has_mask", "center", "scale",
        "orig_shape", "imgname", "dataset", "index", "record_index"}


def _brightest(image: torch.Tensor) -> torch.Tensor:
    """(x, y) crop pixel of the brightest spot (intensity centroid around the max)."""
    g = image.mean(0).double()
    r, c = divmod(int(torch.argmax(g)), g.shape[1])
    r0, r1, c0, c1 = max(r - 3, 0), r + 4, max(c - 3, 0), c + 4
    w = (g[r0:r1, c0:c1] - g.median()).clamp_min(0)
    rows, cols = torch.meshgrid(torch.arange(r0, r0 + w.shape[0], dtype=torch.float64),
                                torch.arange(c0, c0 + w.shape[1], dtype=torch.float64), indexing="ij")
    return torch.stack([(w * cols).sum(), (w * rows).sum()]) / w.sum()


@pytest.mark.parametrize("name, split", ALL_SPLITS)
def test_every_dataset_loads_with_the_common_keys(tmp_path, name, split):
    fx = write_official_fixture(tmp_path, name, split, num_records=3, seed=1)
    ds = OfficialDataset(name, split, root=fx.root, res=RES)
    assert len(ds) == 3 and ds.skipped == {} and ds.filtered == 0
    item = ds[1]
    assert set(item) == KEYS
    assert item["image"].shape == (3, RES, RES) and item["image"].dtype == torch.float32
    assert 0 <= item["image"].min() and item["image"].max() <= 1
    assert item["keypoints"].shape == (24, 3) and item["joints3d"].shape == (24, 3)
    assert item["pose"].shape == (23, 3) and item["global_orient"].shape == (3,) and item["shape"].shape == (10,)
    assert item["mask"].shape == (1, RES, RES) and item["parts"].shape == (RES, RES)
    assert item["parts"].dtype == torch.int64 and item["gender"].dtype == torch.int64
    assert tuple(item["orig_shape"].tolist()) == fx.image_size
    assert item["imgname"] == fx.imgnames[1] and item["dataset"] == name
    assert item["keypoint_format"] == ("smpl24" if name == "surreal" else "j24")
    assert item["lsp_keypoints"].shape == (14, 3)
    if name != "surreal":
        assert torch.equal(item["lsp_keypoints"], item["keypoints"][:14])
    else:  # SMPL joints standing in for LSP ones: right ankle = SMPL joint 8, no head top
        assert torch.equal(item["lsp_keypoints"][0], item["keypoints"][8]) and item["lsp_keypoints"][13, 2] == 0
    assert bool(item["has_3d"]) == (name in HAS_3D)
    assert bool(item["has_smpl"]) == ((name, split) in HAS_SMPL)
    assert bool(item["has_mask"]) == (name == "lsp")
    assert item["gender"].item() == ({"surreal": 1, "3dpw": 1}.get(name, -1))  # fixture: odd records 'f'
    if item["has_smpl"]:
        assert_close(item["global_orient"], [np.pi, 0.0, 0.0], atol=1e-6)
    if item["has_3d"]:  # pelvis-centred
        root = 0 if name == "surreal" else J24_PELVIS
        assert item["joints3d"][root].abs().max() < 1e-6
        assert item["joints3d"].abs().max() > 0.05


@pytest.mark.parametrize("name, split", ALL_SPLITS)
def test_crop_puts_the_dot_on_the_keypoint(tmp_path, name, split):
    """The fixture draws a dot at keypoint 0 (or at the crop centre): the loaded crop must agree.

    For SURREAL this also checks the mirroring of the raw frames.
    """
    fx = write_official_fixture(tmp_path, name, split, num_records=2, seed=2)
    ds = OfficialDataset(name, split, root=fx.root, res=RES)
    for i in range(2):
        item = ds[i]
        if (name, split) in HAS_2D:
            assert item["keypoints"][0, 2] == 1
            expected = normalized_to_pixels(item["keypoints"][0, :2].double(), RES)
        else:
            expected = torch.tensor([(RES - 1) / 2, (RES - 1) / 2], dtype=torch.float64)
        found = _brightest(item["image"])
        assert (found - expected).abs().max() < 1.0, (found, expected)


def test_official_file_names_are_accepted(tmp_path):
    fx = write_official_fixture(tmp_path, "lsp", "test", num_records=2, official_filename=True)
    assert fx.npz_path.name == "lsp_dataset_test.npz"
    assert dataset_file("lsp", "test", fx.root) == fx.npz_path
    assert len(OfficialDataset("lsp", "test", root=fx.root, res=RES)) == 2


def test_default_root_follows_decomr_data(tmp_path, monkeypatch):
    monkeypatch.setenv("DECOMR_DATA", str(tmp_path))
    write_official_fixture(tmp_path / "datasets", "3dpw", "test", num_records=2)
    ds = OfficialDataset("3dpw", "test", res=RES)
    assert ds.root == tmp_path / "datasets" / "3dpw" and len(ds) == 2


def test_missing_dataset_names_files_and_source(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        OfficialDataset("lsp", "test", root=tmp_path / "lsp")
    msg = str(err.value)
    assert "lsp_test.npz" in msg and "lsp_dataset_test.npz" in msg and "sam.johnson.io" in msg
    assert "upi-s1h" in msg
    with pytest.raises(FileNotFoundError, match="h36m_valid_protocol2.npz"):
        OfficialDataset("h36m", "valid_p2", root=tmp_path / "h36m")


def test_dataset_status(tmp_path):
    write_official_fixture(tmp_path, "h36m", "valid_p1", num_records=2, official_filename=True)
    status = {s["name"]: s for s in dataset_status(tmp_path)}
    assert len(status) == sum(len(spec.splits) for spec in OFFICIAL_DATASETS.values())
    assert status["h36m valid_p1"]["present"] and status["h36m valid_p1"]["details"] == ["h36m_valid_protocol1.npz"]
    assert status["h36m valid_p2"]["present"]  # derived from P1
    assert not status["lsp test"]["present"] and "sam.johnson.io" in status["lsp test"]["how"]
    assert status["lsp test"]["where"] == str(tmp_path / "lsp" / "lsp_test.npz")


def test_unknown_name_or_split(tmp_path):
    with pytest.raises(ValueError, match="name"):
        OfficialDataset("coco", "train", root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        OfficialDataset("lsp", "train", root=tmp_path)
    fx = write_official_fixture(tmp_path, "lsp", "test", num_records=1)
    with pytest.raises(ValueError, match="res"):
        OfficialDataset("lsp", "test", root=fx.root, res=0)
    with pytest.raises(ValueError, match="split"):
        write_official_fixture(tmp_path, "lsp", "train")


# ---- H36M protocols -------------------------------------------------------------------------------
def test_h36m_p1_filter_and_p2_derived_from_p1(tmp_path):
    fx = write_official_fixture(tmp_path, "h36m", "valid_p1", num_records=8, off_protocol=2)
    p1 = OfficialDataset("h36m", "valid_p1", root=fx.root, res=RES)
    assert len(p1) == 8 and p1.filtered == 2
    assert p1.imgnames() == [fx.imgnames[i] for i in filter_h36m_imgnames(fx.imgnames, 1)]
    p2 = OfficialDataset("h36m", "valid_p2", root=fx.root, res=RES)  # no P2 file: derived from P1
    assert p2.npz_path == fx.npz_path
    assert p2.imgnames() == [fx.imgnames[i] for i in filter_h36m_imgnames(fx.imgnames, 2)]
    assert len(p2) == 2 and all(parse_h36m_imgname(n).camera == H36M_FRONTAL_CAMERA for n in p2.imgnames())
    assert p2.filtered == 8


def test_h36m_p2_file_is_used_when_present(tmp_path):
    write_official_fixture(tmp_path, "h36m", "valid_p1", num_records=4)
    fx2 = write_official_fixture(tmp_path, "h36m", "valid_p2", num_records=3, official_filename=True)
    p2 = OfficialDataset("h36m", "valid_p2", root=fx2.root, res=RES)
    assert p2.npz_path.name == "h36m_valid_protocol2.npz" and len(p2) == 3 and p2.filtered == 0


def test_h36m_bad_imgname(tmp_path, caplog):
    fx = write_official_fixture(tmp_path, "h36m", "valid_p1", num_records=3)
    names = list(fx.imgnames)
    names[1] = "images/frame_0001.jpg"
    update_npz_fields(fx.npz_path, imgname=np.array(names))
    with pytest.raises(CorruptDataError, match="record 1"):
        OfficialDataset("h36m", "valid_p1", root=fx.root)
    with caplog.at_level(logging.WARNING):
        ds = OfficialDataset("h36m", "valid_p1", root=fx.root, skip_bad=True)
    assert len(ds) == 2 and ds.skipped["malformed"] == 1 and "record 1" in caplog.text


# ---- bad data -------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["truncate", "garbage"])
def test_corrupt_image_raises_or_is_skipped(tmp_path, caplog, how):
    fx = write_official_fixture(tmp_path, "up3d", "trainval", num_records=3)
    corrupt_file(fx.root / fx.imgnames[1], how)
    ds = OfficialDataset("up3d", "trainval", root=fx.root, res=RES)
    with pytest.raises(CorruptDataError) as err:
        ds[1]
    assert fx.imgnames[1] in str(err.value) and "skip_bad=True" in str(err.value)
    assert "Re-extract/re-download that file" in str(err.value) and "render-gt" not in str(err.value)
    ds = OfficialDataset("up3d", "trainval", root=fx.root, res=RES, skip_bad=True)
    with caplog.at_level(logging.WARNING):
        item = ds[1]
    assert item["imgname"] == fx.imgnames[2]  # replaced by the next good record
    assert ds.skipped == {"corrupt_image": 1} and fx.imgnames[1] in caplog.text
    ds[1]
    assert ds.skipped == {"corrupt_image": 1}  # counted once
    assert ds.verify_images() == 1 and len(ds) == 2 and ds.imgnames() == [fx.imgnames[0], fx.imgnames[2]]


def test_missing_image_raises_or_is_skipped(tmp_path, caplog):
    fx = write_official_fixture(tmp_path, "3dpw", "test", num_records=3)
    (fx.root / fx.imgnames[0]).unlink()
    ds = OfficialDataset("3dpw", "test", root=fx.root, res=RES)
    with pytest.raises(FileNotFoundError, match="image_00000.jpg") as err:
        ds[0]
    assert "3DPW" in str(err.value)
    with pytest.raises(FileNotFoundError):
        ds.verify_images()
    ds = OfficialDataset("3dpw", "test", root=fx.root, res=RES, skip_bad=True)
    with caplog.at_level(logging.WARNING):
        assert ds.verify_images() == 1
    assert ds.skipped == {"missing_image": 1} and len(ds) == 2 and "image_00000.jpg" in caplog.text


def test_every_record_bad_raises_even_with_skip_bad(tmp_path):
    fx = write_official_fixture(tmp_path, "3dpw", "test", num_records=2)
    for name in fx.imgnames:
        corrupt_file(fx.root / name, "garbage")
    ds = OfficialDataset("3dpw", "test", root=fx.root, res=RES, skip_bad=True)
    with pytest.raises(CorruptDataError, match="every record"):
        ds[0]


@pytest.mark.parametrize("field, value, problem", [
    ("center", lambda a: a.__setitem__((1, 0), np.nan) or a, "center"),
    ("scale", lambda a: a.__setitem__(1, 0.0) or a, "scale"),
    ("pose", lambda a: a.__setitem__((1, 5), np.inf) or a, "pose"),
    ("gender", lambda a: np.array(["m", "x", "f"]), "gender"),
])
def test_malformed_record_raises_or_is_skipped(tmp_path, caplog, field, value, problem):
    fx = write_official_fixture(tmp_path, "3dpw", "test", num_records=3)
    with np.load(fx.npz_path) as npz:
        arr = npz[field].copy()
    update_npz_fields(fx.npz_path, **{field: value(arr)})
    with pytest.raises(CorruptDataError, match=problem) as err:
        OfficialDataset("3dpw", "test", root=fx.root)
    assert "record 1" in str(err.value) and fx.imgnames[1] in str(err.value)
    with caplog.at_level(logging.WARNING):
        ds = OfficialDataset("3dpw", "test", root=fx.root, skip_bad=True, res=RES)
    assert len(ds) == 2 and ds.skipped == {"malformed": 1} and "skipped" in caplog.text
    assert ds.record_indices().tolist() == [0, 2] and ds[1]["record_index"].item() == 2


def test_malformed_fields_name_the_field(tmp_path):
    fx = write_official_fixture(tmp_path, "lsp", "test", num_records=2)
    update_npz_fields(fx.npz_path, part=np.zeros((2, 14, 3)))
    with pytest.raises(ValueError, match="'part'"):
        OfficialDataset("lsp", "test", root=fx.root)
    update_npz_fields(fx.npz_path, part=np.zeros((2, 24, 3)), scale=np.ones(3))
    with pytest.raises(ValueError, match="'scale'"):
        OfficialDataset("lsp", "test", root=fx.root)
    update_npz_fields(fx.npz_path, drop=("center",), scale=np.ones(2))
    with pytest.raises(ValueError, match="center"):
        OfficialDataset("lsp", "test", root=fx.root)
    fx.npz_path.write_bytes(b"not a zip")
    with pytest.raises(CorruptDataError, match="npz"):
        OfficialDataset("lsp", "test", root=fx.root)


# ---- LSP segmentation -----------------------------------------------------------------------------
def test_lsp_segmentation_full_resolution_and_cropped(tmp_path):
    fx = write_official_fixture(tmp_path, "lsp", "test", num_records=2)
    ds = OfficialDataset("lsp", "test", root=fx.root, res=RES)
    seg = ds.load_segmentation(0)
    assert seg.mask.shape == fx.image_size and seg.parts.shape == fx.image_size
    assert set(seg.mask.unique().tolist()) == {0, 1}
    assert set(seg.parts.unique().tolist()) == {0, 1, 2, 3, 4, 5, 6, 255}
    assert ((seg.parts > 0) == seg.mask.bool()).all()
    item = ds[0]
    expected = crop_labels(seg.mask, item["center"], item["scale"], RES)
    assert torch.equal(item["mask"][0].long(), expected)
    assert torch.equal(item["parts"], crop_labels(seg.parts, item["center"], item["scale"], RES))
    with pytest.raises(ValueError, match="segmentation"):
        OfficialDataset("3dpw", "test", root=write_official_fixture(tmp_path, "3dpw", "test", 1).root).load_segmentation(0)


def test_lsp_mask_size_mismatch_is_reported(tmp_path):
    from PIL import Image

    fx = write_official_fixture(tmp_path, "lsp", "test", num_records=1)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(fx.root / "data/lsp/im1001_segmentation.png")
    with pytest.raises(CorruptDataError, match="mask"):
        OfficialDataset("lsp", "test", root=fx.root, res=RES)[0]


def test_dataloader_collates_and_records_are_raw(tmp_path):
    fx = write_official_fixture(tmp_path, "surreal", "val", num_records=3)
    ds = OfficialDataset("surreal", "val", root=fx.root, res=RES)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["image"].shape == (2, 3, RES, RES) and batch["imgname"] == list(fx.imgnames[:2])
    rec = ds.load_record(0)
    assert rec.image.shape == (*fx.image_size, 3) and rec.image.dtype == np.uint8
    assert rec.keypoints.shape == (24, 3) and rec.gender == 0
    with pytest.raises(IndexError):
        ds[5]
