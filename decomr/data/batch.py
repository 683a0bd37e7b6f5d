"""``Batch``: the typed batch of samples that every loader produces and every consumer reads.

Synthetic batches (:class:`decomr.data.synthetic.SyntheticBatchGenerator`, the synthetic and cached
datasets) and official ones (:class:`decomr.data.official.OfficialDataset`) share one set of
fields; a source that lacks a field leaves it ``None``. Datasets still return one sample as a
plain dict (the same names, without the leading B); ``Batch.collate`` turns a list of them into a
batch (the ``collate_fn`` of a ``DataLoader``), ``Batch.from_dict`` / ``Batch.to_dict`` convert
to and from dicts of batched tensors (files, older code).

Glossary: B samples, S crop side (``image_size``, e.g. 224), s IUV side (``iuv_size``, e.g. 56),
V mesh vertices, J = 24 joints (``keypoint_format``), P = s (synthetic) or S (official) for the
part labels. Normalised crop coordinates are in [-1, 1] (``x = -1`` the left border of the
crop). 3D quantities are in metres, in the camera frame, centred on the pelvis.

Example::

    loader = DataLoader(SyntheticDataset("val", 64), batch_size=16, collate_fn=Batch.collate)
    batch = next(iter(loader)).to("cuda")
    batch.image.shape      # (16, 3, 224, 224)
    batch.mask.shape       # (16, 1, 224, 224): the person mask at the image resolution
    batch.iuv_mask.shape   # (16, 1, 56, 56): the mask channel of the IUV image
    batch[:4]              # the first four samples
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import Tensor

__all__ = ["Batch", "as_batch", "LEGACY_KEYS"]

#: Old sample keys and the field they now fill (``mask224`` was the synthetic full-resolution mask).
LEGACY_KEYS: dict[str, str] = {"mask224": "mask"}

_KEYPOINT_FORMATS = ("smpl24", "j24")


@dataclass
class Batch:
    """B samples; every field but ``image`` is ``None`` when the source does not provide it.

    Attributes:
        image: (B, 3, S, S) float32 RGB crop in [0, 1] (no ImageNet normalisation).
        mask: (B, 1, S, S) float32 {0, 1} person mask at the image resolution (synthetic with
            ``mask_full_res``; official: LSP's segmentation, zeros elsewhere, see ``has_mask``).
        iuv: (B, 3, s, s) float32 ground-truth IUV image (mask, u, v), u, v in [0, 1] on the
            config's atlas; its channel 0 is the IUV-resolution mask (:attr:`iuv_mask`).
        iuv_default: (B, 3, s, s) float32 the same on the default atlas (``atlas="both"``).
        parts: (B, P, P) int64 LSP part labels: 0 background, 1..6 parts, 255 unlabelled.
        keypoints: (B, J, 3) float32 2D joints in normalised crop coordinates + visibility
            (0 where invisible).
        lsp_keypoints: (B, 14, 3) float32 the same for the 14 LSP joints.
        joints3d: (B, J, 3) float32 3D joints, metres (camera frame, pelvis-centred).
        joints3d_conf: (B, J) float32 confidence of ``joints3d`` (official data).
        lsp_joints3d: (B, 14, 3) float32 the 14 LSP joints, metres (synthetic).
        vertices: (B, V, 3) float32 the mesh, metres (camera frame, pelvis-centred; synthetic).
        camera: (B, 3) float32 weak-perspective camera ``[s, tx, ty]`` fitted to the mesh
            (normalised crop coordinates = ``s * (X_xy + t)``; synthetic).
        shape: (B, shape_dim) float32 body shape parameters (SMPL: 10 betas).
        pose: (B, pose_dim, 3) float32 local axis-angle rotations, radians (SMPL: 23 joints).
        global_orient: (B, 3) float32 axis-angle of the root in the camera frame, radians.
        has_3d: (B,) bool ``joints3d`` is valid.
        has_mesh: (B,) bool ``vertices`` is valid (synthetic).
        has_smpl: (B,) bool ``shape``/``pose``/``global_orient`` are valid (official).
        has_mask: (B,) bool ``mask``/``parts`` are valid (official: LSP only).
        has_iuv: (B,) bool ``iuv`` is valid (official data opened with an ``iuv_atlas``).
        gender: (B,) int64 0 male, 1 female, -1 unknown (official).
        center: (B, 2) float32 crop centre in the original image, pixels.
        scale: (B,) float32 crop side / 200 pixels (times the augmentation's zoom).
        orig_shape: (B, 2) int64 (H, W) of the original image, pixels (official).
        index: (B,) int64 position of each sample in its dataset (split).
        record_index: (B,) int64 row of each sample in the official ``.npz``.
        sample_seed: (B,) int64 seed each sample was made under (training loader), which also
            draws its on-device augmentation.
        keypoint_format: joint order of ``keypoints``/``joints3d``: ``"smpl24"`` (synthetic,
            SURREAL; ``None`` means the same) or ``"j24"`` (the official 24-joint superset).
        imgname: B image paths relative to the dataset folder (official).
        dataset: B dataset names (official).
    """

    image: Tensor
    mask: Tensor | None = None
    iuv: Tensor | None = None
    iuv_default: Tensor | None = None
    parts: Tensor | None = None
    keypoints: Tensor | None = None
    lsp_keypoints: Tensor | None = None
    joints3d: Tensor | None = None
    joints3d_conf: Tensor | None = None
    lsp_joints3d: Tensor | None = None
    vertices: Tensor | None = None
    camera: Tensor | None = None
    shape: Tensor | None = None
    pose: Tensor | None = None
    global_orient: Tensor | None = None
    has_3d: Tensor | None = None
    has_mesh: Tensor | None = None
    has_smpl: Tensor | None = None
    has_mask: Tensor | None = None
    has_iuv: Tensor | None = None
    gender: Tensor | None = None
    center: Tensor | None = None
    scale: Tensor | None = None
    orig_shape: Tensor | None = None
    index: Tensor | None = None
    record_index: Tensor | None = None
    sample_seed: Tensor | None = None
    keypoint_format: str | None = None
    imgname: list[str] | None = None
    dataset: list[str] | None = None

    def __post_init__(self) -> None:
        if not torch.is_tensor(self.image) or self.image.dim() != 4:
            shape = tuple(self.image.shape) if torch.is_tensor(self.image) else type(self.image).__name__
            raise ValueError(f"Batch.image: expected a (B, 3, S, S) tensor, got {shape}")
        if self.keypoint_format is not None and self.keypoint_format not in _KEYPOINT_FORMATS:
            raise ValueError(f"Batch.keypoint_format: expected one of {_KEYPOINT_FORMATS}, got {self.keypoint_format!r}")

    # ---------------------------------------------------------------- access
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of every field, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def __len__(self) -> int:
        return int(self.image.shape[0])

    @property
    def device(self) -> torch.device:
        """The device of ``image``."""
        return self.image.device

    @property
    def iuv_mask(self) -> Tensor | None:
        """(B, 1, s, s) float32 person mask at the IUV resolution (channel 0 of ``iuv``)."""
        return None if self.iuv is None else self.iuv[:, :1]

    def items(self) -> Iterable[tuple[str, Any]]:
        """(name, value) of the fields that are set (not ``None``)."""
        return ((k, v) for k, v in ((f, getattr(self, f)) for f in self.field_names()) if v is not None)

    def __contains__(self, name: object) -> bool:
        """Whether field ``name`` is set (``"iuv" in batch``)."""
        return isinstance(name, str) and name in self.field_names() and getattr(self, name) is not None

    def __getitem__(self, key: str | int | slice | Sequence[int] | Tensor) -> Any:
        """``batch[i:j]``, ``batch[indices]``: :meth:`select`; ``batch["image"]``: that field
        (dict-style read access for code written against dict batches; ``KeyError`` when it is
        unset or unknown). decomr itself reads fields as attributes."""
        if isinstance(key, str):
            name = LEGACY_KEYS.get(key, key)
            if name not in self:
                raise KeyError(key)
            return getattr(self, name)
        return self.select(key)

    # ---------------------------------------------------------------- transforms
    def replace(self, **changes: Any) -> "Batch":
        """A copy with some fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def select(self, indices: int | slice | Sequence[int] | Tensor) -> "Batch":
        """The samples ``indices`` (an int keeps a batch of one).

        Args:
            indices: an int, a slice, a list of ints, or a (K,) int64 / (B,) bool tensor.

        Returns:
            A new :class:`Batch` of the selected samples (tensors are views where indexing allows).
        """
        if isinstance(indices, int):
            indices = slice(indices, indices + 1 if indices != -1 else None)
        if torch.is_tensor(indices):
            rows = torch.arange(len(self))[indices.cpu()].tolist()
        elif isinstance(indices, slice):
            rows = list(range(len(self)))[indices]
        else:
            rows = [int(i) for i in indices]
        changes: dict[str, Any] = {}
        for name, value in self.items():
            if torch.is_tensor(value):
                if isinstance(indices, slice):
                    changes[name] = value[indices]
                else:
                    changes[name] = value[torch.as_tensor(rows, dtype=torch.long, device=value.device)]
            elif isinstance(value, list):
                changes[name] = [value[i] for i in rows]
        return self.replace(**changes)

    def to(self, device: str | torch.device, non_blocking: bool = False, channels_last: bool = False) -> "Batch":
        """Every tensor on ``device`` (``channels_last``: ``image`` in that memory format)."""
        changes = {k: v.to(device, non_blocking=non_blocking) for k, v in self.items() if torch.is_tensor(v)}
        if channels_last:
            changes["image"] = changes["image"].contiguous(memory_format=torch.channels_last)
        return self.replace(**changes)

    # ---------------------------------------------------------------- dicts
    def to_dict(self) -> dict[str, Any]:
        """{field: value} of the fields that are set (the sample keys of the datasets)."""
        return dict(self.items())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Batch":
        """A batch from a dict of batched values (``to_dict``, a default-collated batch, a file).

        Old keys are renamed (:data:`LEGACY_KEYS`: ``mask224`` -> ``mask``); a list of identical
        ``keypoint_format`` strings (one per sample) becomes one string.

        Raises:
            ValueError: an unknown key, ``image`` missing, both an old and a new name given, or
                several keypoint formats in one batch.
        """
        names = set(cls.field_names())
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = LEGACY_KEYS.get(key, key)
            if name not in names:
                raise ValueError(f"Batch.from_dict: unknown key {key!r}; expected some of {sorted(names)} "
                                 f"(old names: {sorted(LEGACY_KEYS)})")
            if name in values:
                old = next(k for k, v in LEGACY_KEYS.items() if v == name)
                raise ValueError(f"Batch.from_dict: both {old!r} (the old name) and {name!r} given")
            values[name] = value
        if "image" not in values:
            raise ValueError(f"Batch.from_dict: no 'image' among the keys {sorted(data)}")
        fmt = values.get("keypoint_format")
        if isinstance(fmt, (list, tuple)):
            kinds = set(fmt)
            if len(kinds) != 1:
                raise ValueError(f"keypoint_format: one joint format per batch expected, got {sorted(kinds)} "
                                 "(do not mix SURREAL with H36M/UP-3D in one dataset mixture)")
            values["keypoint_format"] = kinds.pop()
        for name in ("imgname", "dataset"):
            if isinstance(values.get(name), tuple):
                values[name] = list(values[name])
        return cls(**values)

    @classmethod
    def collate(cls, samples: Sequence[Mapping[str, Any]]) -> "Batch":
        """``collate_fn`` for a ``DataLoader``: stack per-sample dicts (tensors along a new dim 0,
        strings into lists) into a :class:`Batch` (``torch.utils.data.default_collate``)."""
        from torch.utils.data import default_collate

        if not samples:
            raise ValueError("samples: expected at least one sample")
        return cls.from_dict(default_collate(list(samples)))


def as_batch(batch: Batch | Mapping[str, Any]) -> Batch:
    """``batch`` itself, or a dict of batched values turned into a :class:`Batch` (``from_dict``)."""
    return batch if isinstance(batch, Batch) else Batch.from_dict(batch)
