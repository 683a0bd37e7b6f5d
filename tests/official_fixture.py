"""Tiny stand-ins for the official datasets, in their exact file formats (for the tests).

The official datasets are licence-gated, so the loaders (:mod:`decomr.data.official`) and the
evaluation are tested on fixtures written here: a few records with small random JPEG/PNG images,
the ``.npz`` with the official field names and dtypes, LSP masks and part segmentations as PNG,
and SURREAL frames laid out as decomr expects them. Each image has a bright dot at the record's
first keypoint (the right ankle, or for files without 2D joints at the crop centre), so a test
can check that the crop puts it where the transformed keypoint says.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     fx = write_official_fixture(tmp, "lsp", "test", num_records=2)
...     fx.npz_path.name, len(fx.imgnames), (fx.root / fx.imgnames[0]).is_file()
('lsp_test.npz', 2, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from decomr.body.joints import convert
from decomr.data.crop import BBOX_RESCALE, points_to_center_scale
from decomr.data.official import OFFICIAL_DATASETS

__all__ = [
    "OfficialFixture",
    "write_official_fixture",
    "corrupt_file",
    "update_npz_fields",
    "H36M_CAMERAS",
]

#: The four H36M cameras, the frontal one (protocol 2) first.
H36M_CAMERAS = ("60457274", "54138969", "55011271", "58860488")


@dataclass(frozen=True)
class OfficialFixture:
    """What :func:`write_official_fixture` wrote.

    Attributes:
        root: the dataset folder (pass it as ``root=`` to ``OfficialDataset``).
        npz_path: the ``.npz`` file.
        name: dataset name.
        split: split name.
        imgnames: image paths relative to ``root``, one per record, in file order.
        image_size: (H, W) of every image.
        dot_xy: (N, 2) float64 pixel position (x, y) of the bright dot in each (unmirrored) image.
    """

    root: Path
    npz_path: Path
    name: str
    split: str
    imgnames: tuple[str, ...]
    image_size: tuple[int, int]
    dot_xy: np.ndarray

    @property
    def num_records(self) -> int:
        return len(self.imgnames)


def _image_with_dot(rng: np.random.Generator, hw: tuple[int, int], dot_xy: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: dark noise + a bright Gaussian dot (sigma 1.5 px) at ``dot_xy``."""
    H, W = hw
    img = rng.integers(0, 40, size=(H, W, 3)).astype(np.float64)
    yy, xx = np.mgrid[0:H, 0:W]
    g = np.exp(-((xx - dot_xy[0]) ** 2 + (yy - dot_xy[1]) ** 2) / (2 * 1.5 ** 2))
    img = np.maximum(img, 255 * g[..., None])
    return img.round().clip(0, 255).astype(np.uint8)


def _save(img: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        Image.fromarray(img).save(path, quality=95)
    else:
        Image.fromarray(img).save(path)


def _h36m_names(split: str, n: int, off_protocol: int) -> list[str]:
    names = []
    subjects = (1, 5, 6, 7, 8) if split == "train" else (9, 11)
    cameras = H36M_CAMERAS[:1] if split == "valid_p2" else H36M_CAMERAS
    for k in range(n):
        s, cam, frame = subjects[k % len(subjects)], cameras[k % len(cameras)], 1 + 5 * (k // 2)
        names.append(f"images/S{s}_Directions_1.{cam}_{frame:06d}.jpg")
    for k in range(off_protocol):  # records that P1/P2 must drop: train subject, or not every 5th frame
        if k % 2 == 0:
            names.append(f"images/S1_Walking.{H36M_CAMERAS[0]}_{1 + 5 * k:06d}.jpg")
        else:
            names.append(f"images/S9_Walking.{H36M_CAMERAS[0]}_{2 + 5 * k:06d}.jpg")
    return names


def write_official_fixture(root: str | Path, name: str, split: str, num_records: int = 3,
                           image_size: tuple[int, int] = (96, 128), seed: int = 0,
                           official_filename: bool = False, off_protocol: int = 0) -> OfficialFixture:
    """Write a tiny dataset split in the official format under ``root/<name>/``.

    Args:
        root: a (temporary) folder; the dataset goes to ``root/<name>``.
        name: ``"h36m"``, ``"up3d"``, ``"surreal"``, ``"lsp"`` or ``"3dpw"``.
        split: a split of that dataset (see ``decomr.data.official.OFFICIAL_DATASETS``).
        num_records: records to write.
        image_size: (H, W) of the images.
        seed: RNG seed (images and annotations).
        official_filename: write the official file name (e.g. ``lsp_dataset_test.npz``) instead
            of decomr's ``<name>_<split>.npz``.
        off_protocol: H36M only: extra records outside protocols P1/P2 (train subject, or a
            frame that is not every 5th).

    Returns:
        :class:`OfficialFixture`.
    """
    if name not in OFFICIAL_DATASETS:
        raise ValueError(f"name: expected one of {sorted(OFFICIAL_DATASETS)}, got {name!r}")
    spec = OFFICIAL_DATASETS[name]
    if split not in spec.splits:
        raise ValueError(f"split: expected one of {sorted(spec.splits)} for {name!r}, got {split!r}")
    if num_records < 1:
        raise ValueError(f"num_records: expected >= 1, got {num_records}")
    rng = np.random.default_rng(seed)
    H, W = image_size
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    s = spec.splits[split]
    filename = s.aliases[0] if (official_filename and s.aliases) else s.filename

    # ---- per-record annotations ------------------------------------------------------------
    if name == "h36m":
        names = _h36m_names(split, num_records, off_protocol)
    elif name == "up3d":
        names = [f"{k + 1:05d}_image.png" for k in range(num_records)]
    elif name == "lsp":
        names = [f"images/im{1001 + k:04d}.jpg" for k in range(num_records)]
    elif name == "3dpw":
        names = [f"imageFiles/courtyard_basketball_00/image_{k:05d}.jpg" for k in range(num_records)]
    else:  # surreal: videos + frame numbers
        videos = [f"run0/01_01/01_01_c{k + 1:04d}.mp4" for k in range(num_records)]
        frames = [int(f) for f in rng.integers(0, 50, size=num_records)]
        split_dir = "train" if split == "train" else "val"
        names = [f"frames/{split_dir}/{Path(v).with_suffix('').as_posix()}/{f:06d}.jpg"
                 for v, f in zip(videos, frames)]
    n = len(names)

    # 2D joints: 14 LSP joints (or 24 SMPL joints) spread over the middle of the image
    part = np.zeros((n, 24, 3))
    num_vis = 24 if spec.keypoint_format == "smpl24" else 14
    lo, hi = np.array([0.3 * W, 0.2 * H]), np.array([0.7 * W, 0.8 * H])
    part[:, :num_vis, :2] = lo + rng.random((n, num_vis, 2)) * (hi - lo)
    part[:, :num_vis, 2] = 1.0
    centers, scales = np.zeros((n, 2)), np.zeros(n)
    for k in range(n):
        cs = points_to_center_scale(part[k, :num_vis, :2], rescale=BBOX_RESCALE)
        centers[k], scales[k] = cs.center.numpy(), float(cs.scale)
    # Dots at the first keypoint, or at the crop centre for files without 2D joints
    has_part = name in ("up3d", "lsp", "surreal") or (name == "h36m" and split == "train")
    dot_xy = part[:, 0, :2].copy() if has_part else centers.copy()

    # 3D joints: the 17 H36M joints, where the official H36M preprocessing puts them among the 24
    h36m = np.concatenate([rng.normal(0, 0.3, size=(n, 17, 3)) + np.array([0.1, -0.2, 5.0]), np.ones((n, 17, 1))], -1)
    S, _ = convert(h36m, "h36m17", "j24")  # (n, 24, 4), other joints 0
    S_smpl = np.concatenate([rng.normal(0, 0.3, size=(n, 24, 3)) + np.array([0.0, 0.0, 4.0]),
                             np.ones((n, 24, 1))], axis=-1)
    pose = rng.normal(0, 0.2, size=(n, 72))
    pose[:, :3] = [np.pi, 0.0, 0.0]  # upright, facing the camera (decomr.conventions)
    shape = rng.normal(0, 1, size=(n, 10))
    gender = np.array(["m" if k % 2 == 0 else "f" for k in range(n)])

    fields: dict[str, np.ndarray] = {"center": centers, "scale": scales}
    if name == "surreal":
        fields.update(videoname=np.array(videos), framenum=np.array(frames, dtype=np.int64),
                      gender=gender, pose=pose, shape=shape, part_smpl=part, S_smpl=S_smpl)
    else:
        fields["imgname"] = np.array(names)
    if name == "h36m":
        fields["S"] = S
        if split == "train":
            fields.update(part=part, pose=pose, shape=shape)
    elif name == "up3d":
        fields.update(part=part, pose=pose, shape=shape)
    elif name == "3dpw":
        fields.update(pose=pose, shape=shape, gender=gender)
    elif name == "lsp":
        fields.update(part=part,
                      maskname=np.array([f"data/lsp/im{1001 + k:04d}_segmentation.png" for k in range(n)]),
                      partname=np.array([f"data/lsp/im{1001 + k:04d}_part_segmentation.png" for k in range(n)]))
    np.savez(folder / filename, **fields)

    # ---- images ------------------------------------------------------------------------------
    for k in range(n):
        img = _image_with_dot(rng, (H, W), dot_xy[k])
        if name == "surreal":
            img = np.ascontiguousarray(img[:, ::-1])  # raw SURREAL frames are mirrored
        _save(img, folder / names[k])
        if name == "lsp":
            x0, y0 = part[k, :14, :2].min(0).astype(int)
            x1, y1 = part[k, :14, :2].max(0).astype(int)
            mask = np.zeros((H, W), np.uint8)
            mask[y0:y1 + 1, x0:x1 + 1] = 255
            parts = np.zeros((H, W), np.uint8)
            bands = np.array_split(np.arange(y0, y1 + 1), 6)
            for label, rows in enumerate(bands, start=1):
                parts[rows, x0:x1 + 1] = label
            parts[y0:y1 + 1, x0] = 255  # an unlabelled column (ignored by the metric)
            _save(mask, folder / str(fields["maskname"][k]))
            _save(parts, folder / str(fields["partname"][k]))
    return OfficialFixture(root=folder, npz_path=folder / filename, name=name, split=split,
                           imgnames=tuple(names), image_size=(H, W), dot_xy=dot_xy)


def corrupt_file(path: str | Path, how: str = "truncate") -> None:
    """Damage a file in place: ``"truncate"`` keeps the first third, ``"garbage"`` overwrites it
    with bytes that are no image format."""
    path = Path(path)
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: max(1, len(data) // 3)])
    elif how == "garbage":
        path.write_bytes(b"this is not an image" * 8)
    else:
        raise ValueError(f"how: expected 'truncate' or 'garbage', got {how!r}")


def update_npz_fields(path: str | Path, drop: tuple[str, ...] = (), **fields) -> None:
    """Rewrite an ``.npz`` with some fields replaced/added (``fields``) or removed (``drop``)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files if k not in drop}
    data.update({k: np.asarray(v) for k, v in fields.items()})
    np.savez(path, **data)
