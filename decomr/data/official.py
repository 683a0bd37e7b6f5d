"""Loaders for the official preprocessed datasets (H36M, UP-3D, SURREAL, LSP, 3DPW; Sec. 4.1).

DecoMR, CMR and SPIN ship preprocessing scripts (``datasets/preprocess/*.py``,
``preprocess_datasets.py``) that turn each licence-gated dataset into one ``.npz`` of per-person
records plus a folder of images. decomr reads those files as they are; it cannot download them.

**Where to put them.** ``data/datasets/<name>/`` (``$DECOMR_DATA/datasets/<name>/``, or pass
``root=``) holds the ``.npz`` and the images, every path in the ``.npz`` being relative to it:

* ``h36m``: ``h36m_train.npz`` (official: ``h36m_train_new.npz``), ``h36m_valid_p1.npz``
  (``h36m_valid_protocol1.npz``), ``h36m_valid_p2.npz`` (``h36m_valid_protocol2.npz``); images
  ``images/S9_Directions_1.54138969_000001.jpg``, ... (extracted from the videos by the official
  ``datasets/preprocess/h36m.py`` with ``extract_img=True``).
* ``up3d``: ``up3d_trainval.npz`` / ``up3d_test.npz`` / ``up3d_lsp_test.npz`` (official:
  ``up_3d_<split>.npz``); images ``00001_image.png``, ... (the unzipped ``up-3d.zip``).
* ``surreal``: ``surreal_train.npz``, ``surreal_val.npz``; frames
  ``frames/<train|val>/<videoname without .mp4>/<framenum:06d>.jpg`` (see below).
* ``lsp``: ``lsp_test.npz`` (official: ``lsp_dataset_test.npz``); images ``images/im1001.jpg``, ...
  (``lsp_dataset.zip``) and the UPi-S1h segmentations ``data/lsp/im1001_segmentation.png``,
  ``data/lsp/im1001_part_segmentation.png`` (``upi-s1h.zip``).
* ``3dpw``: ``3dpw_test.npz``; images ``imageFiles/<sequence>/image_00000.jpg``.

Where to get each one: :data:`OFFICIAL_DATASETS` (``.source``), also printed by the
``FileNotFoundError`` of a missing file and by ``decomr info``.

If ``h36m_valid_p2.npz`` is absent but the P1 file is there, P2 is derived from it (camera
60457274, :func:`decomr.eval.protocols.filter_h36m_imgnames`); both H36M validation splits are
always passed through their protocol's filter, and the records it drops are counted in
``.filtered``.

SURREAL's official files index videos (``videoname``, ``framenum``); decomr has no video decoder,
so extract the frames once, e.g. ``ffmpeg -i data/cmu/val/<video>.mp4 -start_number 0 -q:v 2
frames/val/<video stem>/%06d.jpg``. Frames are the raw video frames: like the official loader,
decomr mirrors them on load (SURREAL's videos are mirrored w.r.t. the SMPL parameters; the 2D
joints in the file are already mirrored).

**Record fields** (absent ones are simply unavailable for that dataset): ``imgname``,
``center`` (N, 2) and ``scale`` (N,) (crop = ``200 * scale`` pixels around ``center``, see
:mod:`decomr.data.crop`), ``part`` (N, 24, 3) 2D joints in pixels + visibility in the official
24-joint order (:data:`decomr.body.joints.OFFICIAL_J24_NAMES`), ``S`` (N, 24, 4) 3D joints in
metres + confidence, ``pose`` (N, 72) and ``shape`` (N, 10) SMPL parameters, ``gender``
(``'m'``/``'f'``), ``maskname``/``partname`` (LSP); SURREAL has ``part_smpl``/``S_smpl`` in the 24
SMPL-joint order. ``iuv_names`` of the official files (OpenDR renders in the official UV layout) is
ignored: decomr renders its own with ``decomr render-gt`` (:mod:`decomr.data.render_gt`), into
``<name>_<split>_iuv_<atlas>.npz``; ``OfficialDataset(name, split, iuv_atlas="<atlas>")`` reads that
file and adds ``iuv`` / ``has_iuv`` to the samples (below).

**Samples** (:meth:`OfficialDataset.__getitem__`) are dicts with the keys of the synthetic dataset
where they apply; every dataset returns every key (zeros + a ``has_*`` flag when absent), so
datasets can be concatenated. ``Batch.collate`` (:class:`decomr.data.batch.Batch`, the fields'
shapes and units) stacks them into a batch:

* ``image`` (3, res, res) float32 in [0, 1] (no ImageNet normalisation; the model does it)
* ``keypoints`` (24, 3) float32: normalised crop coordinates in [-1, 1] (0 where invisible) +
  visibility; ``keypoint_format`` says which 24 joints: ``"j24"`` (official superset) or
  ``"smpl24"`` (SURREAL)
* ``lsp_keypoints`` (14, 3): the 14 LSP joints of ``keypoints`` (j24: its first 14; SURREAL: the
  matching SMPL joints, an approximation with the head top invisible)
* ``joints3d`` (24, 3) float32 metres, camera frame, centred on the pelvis (j24: joint 14, or the
  hip midpoint when the pelvis is missing; smpl24: joint 0), ``joints3d_conf`` (24,), ``has_3d``
* ``global_orient`` (3,), ``pose`` (23, 3) axis-angle, ``shape`` (10,) SMPL betas, ``has_smpl``
* ``gender`` int64: 0 male, 1 female, -1 unknown (official convention)
* ``mask`` (1, res, res) float32 {0, 1} and ``parts`` (res, res) int64 (0 background, 1..6
  parts, 255 unlabelled) cropped like the image, ``has_mask`` (LSP only)
* ``center`` (2,), ``scale`` () float32; ``orig_shape`` (2,) int64 (H, W); ``imgname`` str;
  ``dataset`` str; ``index`` / ``record_index`` int64 (position in the dataset / in the ``.npz``)
* only with ``iuv_atlas``: ``iuv`` (3, iuv_res, iuv_res) float32 ground-truth IUV image (mask,
  u, v; zeros when absent) cropped like the image with nearest-pixel sampling, ``has_iuv``
  (records without SMPL, or whose rendering failed, have none)

Bad data: a missing file names the expected file and where to get it (``FileNotFoundError``). A
corrupt image or a malformed record (NaN, non-positive scale, unknown gender, ...) raises a
``ValueError`` naming the file/record and the fix, or with ``skip_bad=True`` is skipped, counted
in ``.skipped`` and logged as a warning (never silently). Malformed records are found when the
dataset is built; corrupt images when they are read (that sample is replaced by the next good
one) or all at once with :meth:`OfficialDataset.verify_images`.
"""
from __future__ import annotations

import logging
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from decomr.body.joints import JOINT_SETS, LSP_HIPS, convert
from decomr.data.crop import crop_image, crop_labels, pixels_to_normalized, transform_points
from decomr.data.errors import CorruptDataError, decode_image
from decomr.data.h36m import in_h36m_protocol, parse_h36m_imgname
from decomr.data.iuv_files import iuv_npz_path, load_iuv_png, resize_iuv
from decomr.paths import data_dir

logger = logging.getLogger(__name__)

_J24_PELVIS = JOINT_SETS["j24"].index("pelvis_mpii")  # the MPII pelvis of the official 24 joints

__all__ = [
    "SplitSpec",
    "DatasetSpec",
    "OFFICIAL_DATASETS",
    "OfficialRecord",
    "Segmentation",
    "OfficialDataset",
    "dataset_file",
    "default_root",
    "dataset_status",
    "read_rgb_image",
    "read_label_image",
]


# --------------------------------------------------------------------------------------------
# What each dataset looks like
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitSpec:
    """One split's file.

    Attributes:
        filename: decomr's name, ``<name>_<split>.npz``.
        aliases: the official preprocessing's names, accepted as well.
    """

    filename: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """An official dataset: its splits, joint format, image layout and where to get it.

    Attributes:
        name: decomr's name (``h36m``, ``up3d``, ``surreal``, ``lsp``, ``3dpw``).
        splits: split name -> :class:`SplitSpec`.
        keypoint_format: ``"j24"`` (official 24-joint superset) or ``"smpl24"`` (SURREAL).
        images: where the images live, relative to the dataset folder.
        source: where users get the data and the preprocessing.
    """

    name: str
    splits: dict[str, SplitSpec]
    keypoint_format: Literal["j24", "smpl24"]
    images: str
    source: str


_PREPROCESS = ("then run the official preprocessing (DecoMR/CMR `python preprocess_datasets.py "
               "--eval_files` / `--train_files`, datasets/preprocess/*.py; SPIN's is equivalent)")

OFFICIAL_DATASETS: dict[str, DatasetSpec] = {
    "h36m": DatasetSpec(
        "h36m",
        {split: SplitSpec(f"h36m_{split}.npz", (f"h36m_{official}.npz",)) for split, official in
         (("train", "train_new"), ("valid_p1", "valid_protocol1"), ("valid_p2", "valid_protocol2"))},
        "j24",
        "images/S9_Directions_1.54138969_000001.jpg, ... (video frames extracted by the official "
        "datasets/preprocess/h36m.py with extract_img=True)",
        "Human3.6M (http://vision.imar.ro/human3.6m, registration required: Videos, Segments "
        "BBoxes MAT and Poses D3_Positions_mono of S9/S11 for evaluation), " + _PREPROCESS
        + ". The training file's MoSh SMPL parameters are not redistributable."),
    "up3d": DatasetSpec(
        "up3d",
        {split: SplitSpec(f"up3d_{split}.npz", (f"up_3d_{split}.npz",)) for split in ("trainval", "test", "lsp_test")},
        "j24",
        "00001_image.png, ... directly in the folder (the unzipped up-3d.zip)",
        "UP-3D (http://files.is.tuebingen.mpg.de/classner/up/datasets/up-3d.zip), " + _PREPROCESS),
    "surreal": DatasetSpec(
        "surreal",
        {"train": SplitSpec("surreal_train.npz"), "val": SplitSpec("surreal_val.npz")},
        "smpl24",
        "frames/<split>/<videoname without .mp4>/<framenum:06d>.jpg, the raw video frames "
        "(e.g. `ffmpeg -i data/cmu/val/<video>.mp4 -start_number 0 -q:v 2 frames/val/<stem>/%06d.jpg`)",
        "SURREAL (https://www.di.ens.fr/willow/research/surreal/, licence required), then DecoMR's "
        "datasets/preprocess/surreal.py (val = BodyNet's test frames: namescmu.txt, valid_list.txt)"),
    "lsp": DatasetSpec(
        "lsp",
        {"test": SplitSpec("lsp_test.npz", ("lsp_dataset_test.npz",))},
        "j24",
        "images/im1001.jpg, ... (lsp_dataset.zip, the low-resolution LSP) and "
        "data/lsp/im1001_segmentation.png, data/lsp/im1001_part_segmentation.png (from upi-s1h.zip)",
        "LSP (http://sam.johnson.io/research/lsp.html, lsp_dataset.zip) and the UPi-S1h "
        "segmentations (http://files.is.tuebingen.mpg.de/classner/up/datasets/upi-s1h.zip), " + _PREPROCESS),
    "3dpw": DatasetSpec(
        "3dpw",
        {"test": SplitSpec("3dpw_test.npz")},
        "j24",
        "imageFiles/<sequence>/image_00000.jpg, ... (imageFiles.zip)",
        "3DPW (https://virtualhumans.mpi-inf.mpg.de/3DPW/), then SPIN's / DecoMR's "
        "datasets/preprocess/pw3d.py"),
}

#: Per-record fields and their trailing shapes (N first). ``None`` = a string field.
_FIELDS: dict[str, tuple[int, ...] | None] = {
    "imgname": None, "videoname": None, "maskname": None, "partname": None, "gender": None,
    "framenum": (), "center": (2,), "scale": (), "part": (24, 3), "S": (24, 4),
    "part_smpl": (24, 3), "S_smpl": (24, 4), "pose": (72,), "shape": (10,), "has_smpl": (),
    "iuv_names": None,
}


def default_root(name: str) -> Path:
    """``data/datasets/<name>`` (``$DECOMR_DATA`` respected)."""
    return data_dir() / "datasets" / name


def _spec(name: str, split: str) -> tuple[DatasetSpec, SplitSpec]:
    if name not in OFFICIAL_DATASETS:
        raise ValueError(f"name: expected one of {sorted(OFFICIAL_DATASETS)}, got {name!r}")
    spec = OFFICIAL_DATASETS[name]
    if split not in spec.splits:
        raise ValueError(f"split: expected one of {sorted(spec.splits)} for {name!r}, got {split!r}")
    return spec, spec.splits[split]


def _missing_message(spec: DatasetSpec, split: str, root: Path) -> str:
    s = spec.splits[split]
    names = " or ".join(str(root / n) for n in (s.filename, *s.aliases))
    if spec.name == "h36m" and split == "valid_p2":
        names += " (or the P1 file, from which P2 is derived)"
    return (f"Official dataset {spec.name!r} split {split!r} not found: expected {names}, with the "
            f"images under {root}/ ({spec.images}). Get it from: {spec.source}. "
            "decomr cannot download licence-gated datasets; pass root=... if they live elsewhere.")


def dataset_file(name: str, split: str, root: str | Path | None = None) -> Path:
    """The ``.npz`` of a dataset split (decomr's name first, then the official aliases).

    Raises:
        ValueError: unknown name or split.
        FileNotFoundError: none of the accepted files exists (says which and where to get them).
    """
    spec, s = _spec(name, split)
    root = Path(root) if root is not None else default_root(name)
    for n in (s.filename, *s.aliases):
        if (root / n).is_file():
            return root / n
    raise FileNotFoundError(_missing_message(spec, split, root))


def dataset_status(root: str | Path | None = None) -> list[dict]:
    """Which official dataset files are present (for ``decomr info``).

    Args:
        root: folder holding the ``<name>/`` dataset folders; default ``data/datasets``.

    Returns:
        one dict per (dataset, split) with ``name``, ``present``, ``where`` (the expected file),
        ``how`` (where to get it, when missing) and ``details`` (the file found).
    """
    out = []
    for name, spec in OFFICIAL_DATASETS.items():
        folder = Path(root) / name if root is not None else default_root(name)
        for split, s in spec.splits.items():
            try:
                found = [dataset_file(name, split, folder).name]
            except FileNotFoundError:
                found = []
                if name == "h36m" and split == "valid_p2":  # derivable from P1
                    try:
                        found = [dataset_file(name, "valid_p1", folder).name + " (P2 derived from P1)"]
                    except FileNotFoundError:
                        pass
            out.append({
                "name": f"{name} {split}", "present": bool(found), "where": str(folder / s.filename),
                "how": "" if found else f"{spec.source.rstrip('.')}. Images: {spec.images}",
                "details": found,
            })
    return out


# --------------------------------------------------------------------------------------------
# Image readers (PIL)
# --------------------------------------------------------------------------------------------
def read_rgb_image(path: Path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB.

    Raises:
        FileNotFoundError: no such file.
        CorruptDataError: the file cannot be decoded (truncated, not an image, ...).
    """
    return decode_image(path, "image", mode="RGB")[0]


def read_label_image(path: Path) -> np.ndarray:
    """Decode a label PNG (mask or part segmentation) to (H, W) uint8, values as stored.

    Grey (``L``) and palette (``P``) images give their stored values; RGB images whose channels
    agree give the first channel.

    Raises:
        FileNotFoundError, CorruptDataError.
    """
    arr, _ = decode_image(path, "label image")
    if arr.ndim == 3:
        if not (arr[..., :3] == arr[..., :1]).all():
            raise CorruptDataError(f"{path}: expected a single-channel label image, got colour channels that differ")
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise CorruptDataError(f"{path}: expected a 2D label image, got shape {arr.shape}")
    return arr.astype(np.uint8) if arr.dtype != np.uint8 else arr


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OfficialRecord:
    """One record at the original image resolution (before cropping), for augmentation code.

    Attributes:
        image: (H, W, 3) uint8 RGB (SURREAL frames already mirrored).
        center: (2,) float64 crop centre, image pixels.
        scale: float, crop side / 200 px.
        keypoints: (24, 3) float32 2D joints in image pixels + visibility (zeros if absent).
        joints3d: (24, 3) float32 metres, pelvis-centred (zeros if absent).
        joints3d_conf: (24,) float32.
        has_3d: whether ``joints3d`` is available.
        pose: (72,) float32 SMPL axis-angle (global orientation first), zeros if absent.
        shape: (10,) float32 SMPL betas.
        has_smpl: whether ``pose``/``shape`` are available.
        gender: 0 male, 1 female, -1 unknown.
        imgname: the image path relative to the dataset folder.
        record_index: row in the ``.npz``.
        mask: (H, W) uint8 {0, 1} foreground (LSP), else None.
        parts: (H, W) uint8 part labels 0..6, 255 = unlabelled (LSP), else None.
        iuv: (3, H, W) float32 ground-truth IUV image (mask, u, v) when the dataset was opened
            with ``iuv_atlas`` and the record has one, else None.
    """

    image: np.ndarray
    center: np.ndarray
    scale: float
    keypoints: np.ndarray
    joints3d: np.ndarray
    joints3d_conf: np.ndarray
    has_3d: bool
    pose: np.ndarray
    shape: np.ndarray
    has_smpl: bool
    gender: int
    imgname: str
    record_index: int
    mask: np.ndarray | None = None
    parts: np.ndarray | None = None
    iuv: np.ndarray | None = None


@dataclass(frozen=True)
class Segmentation:
    """LSP ground-truth segmentation at the original image resolution (Table 4).

    Attributes:
        mask: (H, W) int64, 1 = person (foreground-background task, 2 classes).
        parts: (H, W) int64, 0 background, 1..6 the six parts in the UP-3D annotation's own
            label order (predicted parts must be rendered with the same labels), 255 =
            unlabelled (ignored by the metric).
    """

    mask: torch.Tensor
    parts: torch.Tensor


_GENDERS = {"m": 0, "male": 0, "f": 1, "female": 1, "n": -1, "neutral": -1, "": -1}


def _gender_code(value) -> int | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, (int, np.integer)):
        return int(value) if int(value) in (-1, 0, 1) else None
    return _GENDERS.get(str(value).strip().lower())


class OfficialDataset(Dataset):
    """A split of an official dataset as a ``torch.utils.data.Dataset`` (see the module docstring).

    Args:
        name: ``"h36m"``, ``"up3d"``, ``"surreal"``, ``"lsp"`` or ``"3dpw"``.
        split: see :data:`OFFICIAL_DATASETS` (e.g. ``"valid_p2"``, ``"test"``, ``"trainval"``).
        root: the dataset folder; default ``data/datasets/<name>``.
        res: crop size (224 in the paper).
        skip_bad: skip malformed records and corrupt/missing images (counted in ``.skipped``,
            logged) instead of raising.
        allow_pickle: let ``np.load`` unpickle object arrays (only for files you trust).
        iuv_atlas: read ``<name>_<split>_iuv_<atlas>.npz`` (written by ``decomr render-gt``)
            instead of the original file and add ``iuv``/``has_iuv`` to the samples.
        iuv_res: side of the ``iuv`` crops; default ``res``.

    Attributes:
        spec: the :class:`DatasetSpec`.
        npz_path: the file read.
        skipped: ``collections.Counter`` of skipped records by reason (``"malformed"``,
            ``"corrupt_image"``, ``"missing_image"``). In a multi-worker ``DataLoader`` each
            worker counts its own image skips (the warnings are logged either way).
        filtered: records dropped by the H36M protocol filter (not errors).

    Raises:
        FileNotFoundError: the ``.npz`` is missing (names the expected files and the source).
        ValueError: unknown name/split, a field with the wrong shape, or (without ``skip_bad``)
            a malformed record.
    """

    def __init__(self, name: str, split: str, root: str | Path | None = None, res: int = 224,
                 skip_bad: bool = False, allow_pickle: bool = False, iuv_atlas: str | None = None,
                 iuv_res: int | None = None):
        super().__init__()
        self.spec, _ = _spec(name, split)
        self.name, self.split = name, split
        self.root = Path(root) if root is not None else default_root(name)
        if not isinstance(res, (int, np.integer)) or res < 1:
            raise ValueError(f"res: expected a positive int, got {res!r}")
        self.res = int(res)
        if iuv_res is not None and (not isinstance(iuv_res, (int, np.integer)) or iuv_res < 1):
            raise ValueError(f"iuv_res: expected None or a positive int, got {iuv_res!r}")
        if iuv_atlas is not None and not (isinstance(iuv_atlas, str) and iuv_atlas):
            raise ValueError(f"iuv_atlas: expected None or an atlas name (e.g. 'continuous'), got {iuv_atlas!r}")
        self.iuv_atlas = iuv_atlas
        self.iuv_res = int(iuv_res) if iuv_res is not None else self.res
        self.skip_bad = bool(skip_bad)
        self.skipped: Counter = Counter()
        self.filtered = 0
        self._bad: set[int] = set()

        protocol = {"valid_p1": 1, "valid_p2": 2}.get(split) if name == "h36m" else None
        try:
            self.npz_path = dataset_file(name, split, self.root)
        except FileNotFoundError:
            if protocol != 2:
                raise
            try:  # P2 is a subset of P1: derive it when only the P1 file is present
                self.npz_path = dataset_file(name, "valid_p1", self.root)
            except FileNotFoundError:
                raise FileNotFoundError(_missing_message(self.spec, split, self.root)) from None
            logger.info("h36m valid_p2: %s absent, deriving P2 from %s", self.spec.splits[split].filename,
                        self.npz_path.name)
        if iuv_atlas is not None:  # the copy with `iuv_names` written by decomr.data.render_gt

            path = iuv_npz_path(self.root, name, split, iuv_atlas)
            if not path.is_file():
                raise FileNotFoundError(f"{path} not found: render the ground-truth IUV images first with "
                                        f"`decomr render-gt {name} {split} --atlas {iuv_atlas}` (needs SMPL), "
                                        "or open the dataset without iuv_atlas")
            self.npz_path = path

        self._data = self._load_npz(allow_pickle)
        self._n = len(self._data["center"])
        keep = self._valid_records()
        if protocol is not None:
            keep = self._protocol_filter(keep, protocol)
        self._records = keep  # (len,) int64 rows of the npz

    # ---- loading & validation ---------------------------------------------------------------
    def _load_npz(self, allow_pickle: bool) -> dict[str, np.ndarray]:
        path = self.npz_path
        if not zipfile.is_zipfile(path):
            raise CorruptDataError(f"{path}: not a .npz archive (truncated or wrong file); re-run the official "
                                   "preprocessing or re-copy the file")
        try:
            with np.load(path, allow_pickle=allow_pickle) as npz:
                arrays = {k: npz[k] for k in npz.files if k in _FIELDS}
        except (ValueError, OSError, EOFError, KeyError) as err:
            if isinstance(err, ValueError) and "allow_pickle" in str(err):
                raise ValueError(f"{path}: holds object arrays that need unpickling; re-save it with plain "
                                 "arrays (np.savez(..., imgname=np.array(names, dtype=str), ...)) or pass "
                                 "allow_pickle=True if you trust the file") from err
            raise CorruptDataError(f"{path}: not a readable .npz ({err}); re-run the official preprocessing") from err

        names_field = "videoname" if self.name == "surreal" else "imgname"
        required = ["center", "scale", names_field] + (["framenum"] if self.name == "surreal" else [])
        missing = [k for k in required if k not in arrays]
        if missing:
            raise ValueError(f"{path}: missing required field(s) {missing}; found {sorted(arrays)}. "
                             "Is this the official preprocessed file for "
                             f"{self.name!r} {self.split!r}?")
        if self.iuv_atlas is not None and "iuv_names" not in arrays:
            raise ValueError(f"{path}: no 'iuv_names' field; re-run `decomr render-gt {self.name} {self.split}`")
        n = len(arrays["center"])
        for key in list(arrays):
            arr, tail = arrays[key], _FIELDS[key]
            if arr.ndim == 2 and arr.shape[1] == 1 and tail in (None, ()):
                arr = arrays[key] = arr[:, 0]  # (N, 1) saved by some preprocessing scripts
            if tail is None:
                kinds = "USOiu" if key == "gender" else "USO"
                ok = arr.ndim == 1 and arr.dtype.kind in kinds
                expected = f"({n},) strings"
            else:
                ok = arr.ndim == 1 + len(tail) and tuple(arr.shape[1:]) == tail and arr.dtype.kind in "fiub"
                expected = "(" + ", ".join(map(str, (n, *tail))) + ") numbers"
            if not ok or len(arr) != n:
                raise ValueError(f"{path}: field {key!r} expected shape {expected}, got {arr.shape} {arr.dtype} "
                                 f"({n} records per 'center'). The file is malformed: re-run the official "
                                 "preprocessing.")
        return arrays

    def _record_problems(self) -> dict[int, str]:
        """{record: why it is malformed} (vectorised: the official files hold ~10^5-10^6 records)."""
        d, n = self._data, self._n
        problems: dict[int, str] = {}

        def flag(bad: np.ndarray, why) -> None:
            for i in np.flatnonzero(bad):
                problems.setdefault(int(i), why(int(i)))

        flag(~np.isfinite(d["center"]).all(axis=1), lambda i: f"center is not finite ({d['center'][i].tolist()})")
        scale = d["scale"].astype(np.float64)
        flag(~(np.isfinite(scale) & (scale > 0)), lambda i: f"scale must be a finite number > 0, got {d['scale'][i]}")
        for key in ("part", "S", "part_smpl", "S_smpl", "pose", "shape"):
            if key in d:
                flag(~np.isfinite(d[key].reshape(n, -1)).all(axis=1), lambda i, key=key: f"{key} contains NaN or inf")
        if "gender" in d:
            values, inverse = np.unique(d["gender"], return_inverse=True)
            known = np.array([_gender_code(v) is not None for v in values])
            flag(~known[inverse.reshape(-1)],
                 lambda i: f"gender must be 'm'/'f' (or 0/1), got {d['gender'][i]!r}")
        names = d["videoname" if self.name == "surreal" else "imgname"].astype(str)
        flag(np.char.str_len(np.char.strip(names)) == 0, lambda i: "empty image name")
        if "framenum" in d:
            flag(d["framenum"] < 0, lambda i: f"framenum must be >= 0, got {d['framenum'][i]}")
        return problems

    def _valid_records(self) -> np.ndarray:
        problems = self._record_problems()
        for k, (i, problem) in enumerate(sorted(problems.items())):
            where = f"{self.npz_path}: record {i} ({self._imgname(i)!r})"
            if not self.skip_bad:
                raise CorruptDataError(f"{where}: {problem}. Fix or remove that record (re-run the official "
                                       "preprocessing), or pass skip_bad=True to skip such records.")
            if k < 10:
                logger.warning("%s: %s -- skipped (skip_bad=True)", where, problem)
        if problems:
            self.skipped["malformed"] += len(problems)
            logger.warning("%s: skipped %d malformed record(s) of %d", self.npz_path, len(problems), self._n)
        keep = np.ones(self._n, dtype=bool)
        keep[list(problems)] = False
        return np.flatnonzero(keep).astype(np.int64)

    def _protocol_filter(self, keep: np.ndarray, protocol: int) -> np.ndarray:
        names = self._data["imgname"]
        kept, bad = [], 0
        for i in keep:
            try:
                frame = parse_h36m_imgname(_as_str(names[i]))
            except ValueError as err:
                where = f"{self.npz_path}: record {i}"
                if not self.skip_bad:
                    raise CorruptDataError(f"{where}: {err}. H36M validation records need official image "
                                           "names; fix the file or pass skip_bad=True.") from err
                self.skipped["malformed"] += 1
                bad += 1
                logger.warning("%s: %s -- skipped (skip_bad=True)", where, err)
                continue
            if in_h36m_protocol(frame, protocol):
                kept.append(i)
        self.filtered = len(keep) - bad - len(kept)
        if self.filtered:
            logger.info("%s: protocol P%d keeps %d of %d records", self.npz_path.name, protocol,
                        len(kept), len(keep) - bad)
        return np.asarray(kept, dtype=np.int64)

    # ---- per-record access -------------------------------------------------------------------
    def _imgname(self, i: int) -> str:
        d = self._data
        if self.name == "surreal":
            video = Path(_as_str(d["videoname"][i]))
            stem = video.with_suffix("") if video.suffix else video
            split_dir = "train" if self.split == "train" else "val"
            return f"frames/{split_dir}/{stem.as_posix()}/{int(d['framenum'][i]):06d}.jpg"
        return _as_str(d["imgname"][i])

    def __len__(self) -> int:
        return len(self._records)

    def record_indices(self) -> np.ndarray:
        """(len,) rows of the ``.npz`` that this dataset serves, in order."""
        return self._records.copy()

    def imgnames(self) -> list[str]:
        """Image paths (relative to the dataset folder) of all served records."""
        return [self._imgname(i) for i in self._records]

    def load_record(self, index: int) -> OfficialRecord:
        """Record ``index`` at the original resolution (no crop), for augmentation code.

        Raises:
            IndexError: index out of range.
            FileNotFoundError: the image (or LSP mask) is missing, naming the file and the fix.
            CorruptDataError: it cannot be decoded, naming the file and the fix.
        """
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} records")
        i = int(self._records[index])
        d = self._data
        imgname = self._imgname(i)
        image = self._read(read_rgb_image, imgname, i, "image")
        if self.name == "surreal":
            image = np.ascontiguousarray(image[:, ::-1])  # official: the videos are mirrored

        kp_key, s_key = ("part_smpl", "S_smpl") if self.spec.keypoint_format == "smpl24" else ("part", "S")
        keypoints = d[kp_key][i].astype(np.float32) if kp_key in d else np.zeros((24, 3), np.float32)
        has_3d = s_key in d
        if has_3d:
            S = d[s_key][i].astype(np.float64)
            joints3d, conf = S[:, :3] - self._pelvis(S), S[:, 3]
        else:
            joints3d, conf = np.zeros((24, 3)), np.zeros(24)
        has_smpl = "pose" in d and "shape" in d
        if has_smpl and "has_smpl" in d:
            has_smpl = bool(d["has_smpl"][i])
        pose = d["pose"][i].astype(np.float32) if has_smpl else np.zeros(72, np.float32)
        shape = d["shape"][i].astype(np.float32) if has_smpl else np.zeros(10, np.float32)
        gender = _gender_code(d["gender"][i]) if "gender" in d else -1

        mask = parts = None
        if "maskname" in d:
            mask = (self._read(read_label_image, _as_str(d["maskname"][i]), i, "mask") > 0).astype(np.uint8)
        if "partname" in d:
            parts = self._read(read_label_image, _as_str(d["partname"][i]), i, "part segmentation")
        for what, lab in (("mask", mask), ("part segmentation", parts)):
            if lab is not None and lab.shape != image.shape[:2]:
                raise CorruptDataError(
                    f"{self.npz_path}: record {i} ({imgname!r}): the {what} is {lab.shape}, the image "
                    f"{image.shape[:2]}; they must match (re-extract both from the same release).")
        iuv = None
        if self.iuv_atlas is not None and _as_str(d["iuv_names"][i]).strip():
            render_gt = f"re-run `decomr render-gt {self.name} {self.split} --atlas {self.iuv_atlas}`"
            iuv = self._read(lambda path: resize_iuv(load_iuv_png(path), image.shape[:2]).numpy(),  # (3, H, W)
                             _as_str(d["iuv_names"][i]).strip(), i, "IUV image",
                             missing_fix=f"; {render_gt} (it renders only the missing ones), or pass skip_bad=True "
                                         "to skip such records",
                             corrupt_fix=f"Delete it and {render_gt}")
        return OfficialRecord(
            image=image, center=d["center"][i].astype(np.float64), scale=float(d["scale"][i]),
            keypoints=keypoints, joints3d=joints3d.astype(np.float32), joints3d_conf=conf.astype(np.float32),
            has_3d=has_3d, pose=pose, shape=shape, has_smpl=has_smpl, gender=int(gender),
            imgname=imgname, record_index=i, mask=mask, parts=parts, iuv=iuv)

    def _pelvis(self, S: np.ndarray) -> np.ndarray:
        """(3,) the root to subtract from (24, 4) joints: pelvis, else hip midpoint, else 0."""
        if self.spec.keypoint_format == "smpl24":
            return S[0, :3]
        hips = list(LSP_HIPS)  # the LSP joints come first in j24
        if S[_J24_PELVIS, 3] > 0:
            return S[_J24_PELVIS, :3]
        if (S[hips, 3] > 0).all():
            return S[hips, :3].mean(0)
        return np.zeros(3)

    def _read(self, reader, relname: str, i: int, what: str, missing_fix: str | None = None,
              corrupt_fix: str = "Re-extract/re-download that file") -> np.ndarray:
        """``reader(root / relname)``: a missing or corrupt file of record ``i`` raises naming the fix.

        The default fixes point to the dataset's source; files that decomr makes (the IUV images)
        pass their own (``missing_fix`` follows the message, ``corrupt_fix`` is a sentence).
        """
        path = self.root / relname
        try:
            return reader(path)
        except FileNotFoundError:
            fix = missing_fix or (f". Expected the images under {self.root}/ ({self.spec.images}); get them from: "
                                  f"{self.spec.source}. Or pass skip_bad=True to skip records whose files are missing")
            raise FileNotFoundError(f"{self.npz_path}: record {i}: {what} {path} is missing{fix}.") from None
        except CorruptDataError as err:
            why = str(err) if str(path) in str(err) else f"{path}: {err}"
            raise CorruptDataError(f"{self.npz_path}: record {i}: {why}. {corrupt_fix}, or pass skip_bad=True to "
                                   "skip it.") from err

    def crop_record(self, rec: OfficialRecord, index: int = -1) -> dict:
        """Turn a record into a sample dict (crop to ``res``, normalise keypoints); see module doc."""
        res = self.res
        center = torch.from_numpy(rec.center)
        scale = torch.tensor(rec.scale, dtype=torch.float64)
        image = crop_image(rec.image, center, scale, res)
        kp = torch.from_numpy(rec.keypoints).double()
        kp_xy = pixels_to_normalized(transform_points(kp[:, :2], center, scale, res), res)
        kp_xy = torch.where(kp[:, 2:] > 0, kp_xy, torch.zeros_like(kp_xy))  # invisible joints: 0
        keypoints = torch.cat([kp_xy, kp[:, 2:]], dim=1).float()
        # j24: its first 14; smpl24: SMPL joint centres standing in for the LSP joints (no head top: 0)
        lsp_keypoints, _ = convert(keypoints, self.spec.keypoint_format, "lsp14")
        has_mask = rec.mask is not None
        mask = (crop_labels(rec.mask, center, scale, res)[None].float() if has_mask
                else torch.zeros(1, res, res))
        parts = (crop_labels(rec.parts, center, scale, res) if rec.parts is not None
                 else torch.zeros(res, res, dtype=torch.int64))
        pose = torch.from_numpy(rec.pose)
        sample = {
            "image": image,
            "keypoints": keypoints,
            "keypoint_format": self.spec.keypoint_format,
            "lsp_keypoints": lsp_keypoints,
            "joints3d": torch.from_numpy(rec.joints3d),
            "joints3d_conf": torch.from_numpy(rec.joints3d_conf),
            "has_3d": torch.tensor(rec.has_3d),
            "global_orient": pose[:3].clone(),
            "pose": pose[3:].reshape(23, 3).clone(),
            "shape": torch.from_numpy(rec.shape),
            "has_smpl": torch.tensor(rec.has_smpl),
            "gender": torch.tensor(rec.gender, dtype=torch.int64),
            "mask": mask,
            "parts": parts,
            "has_mask": torch.tensor(has_mask),
            "center": center.float(),
            "scale": scale.float(),
            "orig_shape": torch.tensor(rec.image.shape[:2], dtype=torch.int64),
            "imgname": rec.imgname,
            "dataset": self.name,
            "index": torch.tensor(index, dtype=torch.int64),
            "record_index": torch.tensor(rec.record_index, dtype=torch.int64),
        }
        if self.iuv_atlas is not None:  # nearest pixel: no blending of u, v across the silhouette
            r = self.iuv_res
            sample["iuv"] = (crop_image(torch.from_numpy(rec.iuv), center, scale, r, mode="nearest")
                             if rec.iuv is not None else torch.zeros(3, r, r))
            sample["has_iuv"] = torch.tensor(rec.iuv is not None)
        return sample

    def __getitem__(self, index: int) -> dict:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} records")
        for step in range(n):
            j = (index + step) % n
            if j not in self._bad and (rec := self._load_or_skip(j)) is not None:
                return self.crop_record(rec, j)
        raise CorruptDataError(f"{self.npz_path}: every record's image is missing or corrupt "
                               f"(skipped: {dict(self.skipped)}); check {self.root}")

    def _load_or_skip(self, j: int) -> OfficialRecord | None:
        """:meth:`load_record`; with ``skip_bad`` a bad record is counted, logged, marked and gives None."""
        try:
            return self.load_record(j)
        except (FileNotFoundError, CorruptDataError) as err:
            if not self.skip_bad:
                raise
            if j not in self._bad:
                reason = "missing_image" if isinstance(err, FileNotFoundError) else "corrupt_image"
                self._bad.add(j)
                self.skipped[reason] += 1
                logger.warning("%s -- skipped (skip_bad=True; %s so far: %d)", err, reason, self.skipped[reason])
            return None

    def verify_images(self) -> int:
        """Decode every image (and LSP mask) now; with ``skip_bad`` drop the bad ones.

        Returns:
            the number of records dropped by this call.

        Raises:
            FileNotFoundError / CorruptDataError: on the first bad record without ``skip_bad``.
        """
        bad = [j for j in range(len(self)) if self._load_or_skip(j) is None]
        if bad:
            self._records = np.delete(self._records, bad)
            self._bad = set()
        return len(bad)

    def load_segmentation(self, index: int) -> Segmentation:
        """LSP ground truth at the original resolution (Table 4 is scored there).

        Returns:
            :class:`Segmentation` with mask (H, W) int64 {0, 1} and parts (H, W) int64.

        Raises:
            ValueError: the dataset has no segmentation (only ``lsp``).
        """
        rec = self.load_record(index)
        if rec.mask is None or rec.parts is None:
            raise ValueError(f"{self.name!r} {self.split!r} has no segmentation masks (only 'lsp' does)")
        return Segmentation(torch.from_numpy(rec.mask).long(), torch.from_numpy(rec.parts).long())

    def __repr__(self) -> str:
        extra = f", skipped={dict(self.skipped)}" if self.skipped else ""
        extra += f", filtered={self.filtered}" if self.filtered else ""
        n = len(getattr(self, "_records", ()))
        file = getattr(self, "npz_path", None)
        return f"OfficialDataset({self.name!r}, {self.split!r}, n={n}, file={file.name if file else None}{extra})"


def _as_str(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)
