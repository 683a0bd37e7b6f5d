"""A SURREAL-like synthetic dataset rendered from the body model: the default training data.

The paper trains on H36M, UP-3D and SURREAL (Sec. 4.1), whose licences forbid redistribution.
decomr's default data is made on the fly instead: random people (the body model's shape
distribution and pose prior) in random orientations, seen by a perspective camera, cropped
like the official pipeline and rendered with clothes-like colours over procedural backgrounds.
Every target of the official data is exact here: IUV images (Sec. 3.1) for any atlas, part labels,
2D/3D joints, the mesh.

**Determinism.** Sample ``index`` of ``split`` depends only on ``(config.seed, split, index)``:
its parameters are drawn on the CPU from its own ``torch.Generator`` (seeded through
``numpy.random.SeedSequence``; the three splits use disjoint streams), and per-pixel noise comes
from a counter-based hash of its seed (:func:`decomr.data.backgrounds.hash_uniform`). So
:class:`SyntheticDataset` (one sample, CPU, DataLoader workers) and
:class:`SyntheticBatchGenerator` (a whole batch on any device, for GPU-side generation) give the
same sample, up to floating-point rounding.

**Generation of one sample.**

1. Shape ``body.sample_shape`` (Anny: its WHO-calibrated phenotype distribution), pose
   ``body.sample_pose`` (the pose prior), global orientation in the OpenCV camera frame:
   ``R = Rx(pi + pitch) Rz(roll) Ry(yaw)``: a yaw about the body's vertical axis, then a roll
   about the optical axis and a pitch (camera elevation); ``Rx(pi)`` alone is an upright person
   facing the camera.
2. A pinhole camera (focal ``f`` pixels, principal point at the centre of a virtual
   ``orig_size`` image) sees the pelvis at depth ``Z`` and at a random pixel near the centre.
3. The box of the projected vertices gives the official crop ``center``, ``scale = 1.2 *
   box / 200`` (:func:`decomr.data.crop.bbox_to_center_scale`), jittered like a detector.
4. A crop of a pinhole image is a pinhole camera: in normalised crop coordinates
   ``n = (p - center) / (100 scale)`` the camera has focal ``f / (100 scale)`` and principal
   point ``(c0 - center) / (100 scale)``, at any resolution. The crop is rendered directly
   (exact, and cheaper than rendering the big image then cropping); augmentation
   (:mod:`decomr.data.augment`) is applied to this camera and to the 3D body before rendering.
5. RGB (224): Lambert-shaded body with per-part clothes colours
   (:mod:`decomr.data.appearance`) over a procedural background
   (:mod:`decomr.data.backgrounds`), optional occluding rectangles, blur and pixel noise.
   IUV / parts (56, CNet's output resolution) rendered at that resolution (pixel-centre exact).

**Sample keys** (one sample; the batch generator returns a :class:`decomr.data.batch.Batch` with
these fields and a leading B):

========================  ===================  ==============================================
key                       shape / dtype        meaning
========================  ===================  ==============================================
``image``                 (3, S, S) float32    RGB in [0, 1], S = ``image_size`` (224)
``iuv``                   (3, R, R) float32    (mask, u, v) on ``atlas``, R = ``iuv_size`` (56)
``iuv_default``           (3, R, R) float32    only with ``atlas="both"``: the default atlas
``parts``                 (R, R) int64         LSP parts 1..6, 0 background
``mask``                  (1, S, S) float32    image-size mask (``mask_full_res``; the 56 px
                                               mask is ``iuv[0]``, ``Batch.iuv_mask``)
``keypoints``             (24, 3) float32      normalised crop x, y + visibility (inside the crop)
``lsp_keypoints``         (14, 3) float32      the same for the 14 LSP joints
``joints3d``              (24, 3) float32      camera frame, pelvis-centred, metres
``lsp_joints3d``          (14, 3) float32      camera frame, pelvis-centred, metres
``vertices``              (V, 3) float32       camera frame, pelvis-centred, metres
``has_3d``, ``has_mesh``  () bool              True
``shape``                 (shape_dim,)         body shape parameters
``pose``                  (pose_dim, 3)        local axis-angle rotations
``global_orient``         (3,)                 axis-angle, camera frame (about the pelvis)
``center``                (2,) float32         crop centre in the virtual original image, pixels
``scale``                 () float32           crop side / 200 pixels
``camera``                (3,) float32         least-squares weak-perspective ``[s, tx, ty]``
``index``                 () int64             the sample's index in its split
========================  ===================  ==============================================

Pelvis = joint 0 of the body's 24 joints (:mod:`decomr.conventions`: location maps are centred on it too).
With augmentation (``augment=``), ``center`` stays the un-rotated crop's centre and ``scale``
includes the zoom; ``pose``/``global_orient`` describe the mirrored body of flipped samples
(``decomr.data.augment.mirror_pose``, exact for SMPL, ~3 mm for Anny), while ``vertices`` and
the joints are the exact mirror images.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from decomr.body import load
from decomr.body.joints import LSP_FLIP_PERM, SMPL_FLIP_PERM
from decomr.data.appearance import (
    AppearanceParams,
    body_regions,
    sample_appearance,
    shade,
    vertex_albedo,
)
from decomr.data.augment import (
    AugmentConfig,
    AugmentParams,
    apply_color,
    augment_global_orient,
    augment_points_2d,
    augment_points_3d,
    compose_axis_angle,
    mirror_pose,
    pose_flip_perm,
    sample_augment_params,
)
from decomr.data.backgrounds import (
    BACKGROUND_KINDS,
    BackgroundParams,
    OccluderParams,
    draw_occluders,
    map_params,
    pixel_noise,
    render_backgrounds,
    sample_background_params,
    sample_occluder_params,
    stack_params,
)
from decomr.data.batch import Batch
from decomr.data.crop import PIXELS_PER_SCALE, bbox_to_center_scale
from decomr.render import PerspectiveCamera, interpolate_vertex_attrs, rasterize, render_iuv, render_parts
from decomr.render.cameras import fit_weak_perspective  # re-exported: the least-squares camera of the samples
from decomr.render.images import vertex_normals
from decomr.uv import load_atlas

__all__ = [
    "SPLITS",
    "ATLAS_CHOICES",
    "SyntheticConfig",
    "SampleParams",
    "sample_seed",
    "sample_params",
    "upright_orientation",
    "fit_weak_perspective",
    "SyntheticBatchGenerator",
    "SyntheticDataset",
    "SyntheticParamDataset",
    "collate_params",
]

SPLITS: tuple[str, ...] = ("train", "val", "test")
ATLAS_CHOICES: tuple[str, ...] = ("continuous", "default", "both")


@dataclass(frozen=True)
class SyntheticConfig:
    """Settings of the synthetic dataset (angles in radians, lengths in metres)."""

    # Output
    image_size: int = 224  # side of the RGB crop (CNet input, Sec. 4), pixels
    iuv_size: int = 56  # side of the IUV / part maps (CNet output = 1/4 of the input)
    mask_full_res: bool = True  # also return `mask`, the (1, image_size, image_size) mask
    atlas: str = "continuous"  # atlas of `iuv`: "continuous", "default", or "both" (adds `iuv_default`)
    body: str = "anny"  # body model name for decomr.body.load
    # People
    pose_kind: str = "random"  # body.sample_pose kind: "random" or one named pose (e.g. "A")
    yaw_range: tuple[float, float] = (-math.pi, math.pi)  # rotation about the body's vertical axis (0 = facing the camera)
    pitch_std: float = 0.15  # lean towards/away from the camera (camera elevation), normal std
    roll_std: float = 0.08  # rotation about the optical axis, normal std
    # Camera of the virtual original image
    orig_size: tuple[int, int] = (1000, 1000)  # (H, W) of the virtual image, pixels (H36M-like)
    focal_range: tuple[float, float] = (1000.0, 1200.0)  # focal length, pixels
    distance_range: tuple[float, float] = (3.5, 8.0)  # depth of the pelvis, metres
    position_range: float = 0.5  # pelvis projected within this fraction of the half image around its centre
    # Crop (official: box * 1.2 / 200), plus detector-like jitter
    bbox_rescale: float = 1.2  # crop side / longer side of the person's box
    scale_jitter: float = 0.08  # crop scale times U[1 - j, 1 + j]
    center_jitter: float = 0.04  # crop centre moved by U[-j, j] x crop side, per axis
    # Appearance
    texture_noise: float = 0.08  # max per-vertex texture-noise amplitude on the body
    background_kinds: tuple[str, ...] = BACKGROUND_KINDS  # procedural background kinds to draw from
    max_background_shapes: int = 8  # shape slots of the "shapes" background
    occlusion_prob: float = 0.25  # probability that a sample has occluding rectangles
    max_occluders: int = 2  # at most this many rectangles
    blur_prob: float = 0.3  # probability of a Gaussian blur ...
    blur_sigma_max: float = 1.0  # ... of sigma ~ U[0, this] pixels (at image_size)
    pixel_noise_max: float = 0.04  # pixel noise amplitude ~ U[0, this]
    # Splits
    seed: int = 0  # dataset seed; (seed, split, index) fixes a sample
    train_size: int = 100_000  # samples in the train split
    val_size: int = 1_000  # samples in the val split
    test_size: int = 1_000  # samples in the test split

    def __post_init__(self):
        if self.image_size < 8 or self.iuv_size < 4:
            raise ValueError(f"SyntheticConfig: expected image_size >= 8 and iuv_size >= 4, got {self.image_size}, {self.iuv_size}")
        if self.atlas not in ATLAS_CHOICES:
            raise ValueError(f"SyntheticConfig.atlas: expected one of {ATLAS_CHOICES}, got {self.atlas!r}")
        if self.yaw_range[0] > self.yaw_range[1]:
            raise ValueError(f"SyntheticConfig.yaw_range: expected (low, high), got {self.yaw_range}")
        for name in ("focal_range", "distance_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"SyntheticConfig.{name}: expected 0 < low <= high, got {(lo, hi)}")
        if len(self.orig_size) != 2 or min(self.orig_size) < 1:
            raise ValueError(f"SyntheticConfig.orig_size: expected (H, W) > 0, got {self.orig_size}")
        bad = [k for k in self.background_kinds if k not in BACKGROUND_KINDS]
        if not self.background_kinds or bad:
            raise ValueError(f"SyntheticConfig.background_kinds: expected a subset of {BACKGROUND_KINDS}, got {self.background_kinds}")
        for name in ("occlusion_prob", "blur_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SyntheticConfig.{name}: expected a probability, got {getattr(self, name)}")
        for name in ("pitch_std", "roll_std", "position_range", "scale_jitter", "center_jitter", "texture_noise",
                     "blur_sigma_max", "pixel_noise_max"):
            if getattr(self, name) < 0:
                raise ValueError(f"SyntheticConfig.{name}: expected >= 0, got {getattr(self, name)}")
        if self.bbox_rescale <= 0 or self.scale_jitter >= 1:
            raise ValueError("SyntheticConfig: expected bbox_rescale > 0 and scale_jitter < 1")
        for s in SPLITS:
            if self.split_size(s) < 0:
                raise ValueError(f"SyntheticConfig.{s}_size: expected >= 0, got {self.split_size(s)}")

    @classmethod
    def quick(cls, **overrides: Any) -> "SyntheticConfig":
        """Small splits for a 2-core CPU (same images; 2,000 / 200 / 200 samples)."""
        return cls(**{"train_size": 2_000, "val_size": 200, "test_size": 200, **overrides})

    def split_size(self, split: str) -> int:
        """Number of samples of ``split``."""
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        return int(getattr(self, f"{split}_size"))

    def atlas_names(self) -> dict[str, str]:
        """{sample key: atlas name}, e.g. ``{"iuv": "continuous", "iuv_default": "default"}``."""
        if self.atlas == "both":
            return {"iuv": "continuous", "iuv_default": "default"}
        return {"iuv": self.atlas}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def sample_seed(config: SyntheticConfig, split: str, index: int, stream: int = 0) -> int:
    """The 63-bit seed of one sample (``stream`` > 0: independent streams, e.g. augmentation)."""
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    if index < 0:
        raise ValueError(f"index: expected >= 0, got {index}")
    ss = np.random.SeedSequence([int(config.seed), SPLITS.index(split), int(index), int(stream)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def upright_orientation(yaw: Tensor, pitch: Tensor, roll: Tensor) -> Tensor:
    """Global orientation ``Rx(pi + pitch) Rz(roll) Ry(yaw)`` as axis-angle (camera frame).

    Args:
        yaw, pitch, roll: (...,) radians. All zero = upright, facing the camera (``(pi, 0, 0)``).

    Returns:
        (..., 3) axis-angle.
    """
    z = torch.zeros_like(yaw)
    rx = torch.stack([math.pi + pitch, z, z], -1)
    rz = torch.stack([z, z, roll], -1)
    ry = torch.stack([z, yaw, z], -1)
    return compose_axis_angle(compose_axis_angle(rx, rz), ry)


# --------------------------------------------------------------------------------------------
# Per-sample parameters
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SampleParams:
    """Everything random about a sample (unbatched: drop the leading B).

    Attributes:
        index: (B,) int64.
        shape: (B, shape_dim); pose: (B, pose_dim, 3); global_orient: (B, 3) camera frame.
        focal: (B,) pixels; distance: (B,) pelvis depth, metres; pelvis_px: (B, 2) pelvis
            projection in the virtual image, pixels.
        scale_jitter: (B,) factor; center_jitter: (B, 2) fraction of the crop side.
        blur: (B,) Gaussian sigma in pixels at ``image_size`` (0 = none); pixel_noise: (B,).
        noise_seed: (B,) int64 seed of the per-pixel noise.
        appearance, background, occluders: the nested parameter sets.
    """

    index: Tensor
    shape: Tensor
    pose: Tensor
    global_orient: Tensor
    focal: Tensor
    distance: Tensor
    pelvis_px: Tensor
    scale_jitter: Tensor
    center_jitter: Tensor
    blur: Tensor
    pixel_noise: Tensor
    noise_seed: Tensor
    appearance: AppearanceParams
    background: BackgroundParams
    occluders: OccluderParams

    def __len__(self) -> int:
        return int(self.index.shape[0]) if self.index.dim() else 1

    def to(self, device) -> "SampleParams":
        return map_params(lambda t: t.to(device), self)

    def select(self, indices) -> "SampleParams":
        """The samples at ``indices`` (every tensor, nested ones too, indexed on its batch dim)."""
        return map_params(lambda t: t[indices], self)


def collate_params(items: Sequence[SampleParams]) -> SampleParams:
    """Stack per-sample :class:`SampleParams` into a batch (a ``DataLoader`` ``collate_fn``)."""
    if not items:
        raise ValueError("items: expected at least one SampleParams")
    return stack_params(items)


def sample_params(config: SyntheticConfig, split: str, index: int, body) -> SampleParams:
    """Draw one sample's parameters from its own generator (CPU; a fixed sequence of draws).

    Args:
        config: the dataset configuration.
        split: ``"train"``, ``"val"`` or ``"test"``.
        index: the sample's index in the split.
        body: the body model on the CPU (for its shape and pose samplers).
    """
    g = torch.Generator().manual_seed(sample_seed(config, split, index))
    shape = body.sample_shape(1, g)[0].detach().cpu().float()
    pose = body.sample_pose(1, g, kind=config.pose_kind)[0].detach().cpu().float()
    u = torch.rand(10, generator=g, dtype=torch.float64)
    n = torch.randn(2, generator=g, dtype=torch.float64)
    lo, hi = config.yaw_range
    yaw = lo + (hi - lo) * u[0]
    go = upright_orientation(yaw, config.pitch_std * n[0], config.roll_std * n[1]).float()
    focal = config.focal_range[0] + (config.focal_range[1] - config.focal_range[0]) * u[1]
    distance = config.distance_range[0] + (config.distance_range[1] - config.distance_range[0]) * u[2]
    H0, W0 = config.orig_size
    half = torch.tensor([W0, H0], dtype=torch.float64) / 2
    pelvis_px = (torch.tensor([W0 - 1, H0 - 1], dtype=torch.float64) / 2
                 + config.position_range * half * (2 * u[3:5] - 1))
    scale_jitter = 1 + config.scale_jitter * (2 * u[5] - 1)
    center_jitter = config.center_jitter * (2 * u[6:8] - 1)
    blur = torch.where(u[8] < config.blur_prob, config.blur_sigma_max * u[9], torch.zeros((), dtype=torch.float64))
    appearance = sample_appearance(g, config.texture_noise)
    background = sample_background_params(g, config.background_kinds, config.max_background_shapes)
    occluders = sample_occluder_params(g, config.occlusion_prob, config.max_occluders)
    pixel_noise = config.pixel_noise_max * torch.rand((), generator=g)
    noise_seed = torch.randint(0, 2**31 - 1, (), generator=g)
    f32 = lambda t: torch.as_tensor(t).float()  # noqa: E731
    return SampleParams(
        index=torch.tensor(int(index), dtype=torch.int64), shape=shape, pose=pose, global_orient=go,
        focal=f32(focal), distance=f32(distance), pelvis_px=f32(pelvis_px), scale_jitter=f32(scale_jitter),
        center_jitter=f32(center_jitter), blur=f32(blur), pixel_noise=f32(pixel_noise), noise_seed=noise_seed.long(),
        appearance=appearance, background=background, occluders=occluders,
    )


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------
def _gaussian_blur(image: Tensor, sigma: Tensor, radius: int = 2) -> Tensor:
    """Per-sample separable Gaussian blur. image (B, C, H, W), sigma (B,) pixels (0 = none)."""
    B, C, H, W = image.shape
    if not bool((sigma > 0.05).any()):
        return image
    x = torch.arange(-radius, radius + 1, device=image.device, dtype=image.dtype)
    s = sigma.to(image.dtype).clamp_min(0.05)[:, None]
    k = torch.exp(-0.5 * (x[None] / s) ** 2)
    k = k / k.sum(1, keepdim=True)  # (B, K); sigma -> 0 gives a delta
    k = k.repeat_interleave(C, 0)  # (B*C, K)
    flat = image.reshape(1, B * C, H, W)
    flat = F.pad(flat, (radius, radius, 0, 0), mode="replicate")
    flat = F.conv2d(flat, k[:, None, None, :], groups=B * C)
    flat = F.pad(flat, (0, 0, radius, radius), mode="replicate")
    flat = F.conv2d(flat, k[:, None, :, None], groups=B * C)
    return flat.view(B, C, H, W)


class SyntheticBatchGenerator:
    """Renders whole batches of synthetic samples on one device (CPU or CUDA).

    Args:
        config: :class:`SyntheticConfig`.
        device: where to render (``"cuda"`` for GPU-side data generation).
        body: the body model (default ``decomr.body.load(config.body)``); parameters are always
            sampled with a CPU copy, rendering uses a copy on ``device``.
        atlases: optional {atlas name: UVAtlas} (default: ``load_atlas(body, name)``).

    Example::

        gen = SyntheticBatchGenerator(SyntheticConfig(), device="cuda")
        batch = gen.batch("train", range(64), augment=sample_augment_params(AugmentConfig(), 64))
        batch.image.shape   # (64, 3, 224, 224)
    """

    def __init__(self, config: SyntheticConfig = SyntheticConfig(), device: str | torch.device = "cpu",
                 body=None, atlases: dict | None = None):
        if not isinstance(config, SyntheticConfig):
            raise ValueError(f"config: expected a SyntheticConfig, got {type(config).__name__}")
        self.config = config
        self.device = torch.device(device)
        if body is None:
            body = load(config.body)
        self.body_cpu = body if body.template.device.type == "cpu" else copy.deepcopy(body).cpu()
        self.body = self.body_cpu if self.device.type == "cpu" else copy.deepcopy(self.body_cpu).to(self.device)
        self.atlases = {}
        for key, name in config.atlas_names().items():
            atlas = (atlases or {}).get(name) or load_atlas(self.body_cpu, name)
            if atlas.num_faces != self.body_cpu.num_faces:
                raise ValueError(f"atlases[{name!r}]: {atlas.num_faces} faces, the body has {self.body_cpu.num_faces}")
            self.atlases[key] = atlas
        self.corner_uv = {k: a.corner_uv().to(self.device) for k, a in self.atlases.items()}
        self.faces = self.body_cpu.faces.to(self.device)
        self.lsp_parts = self.body_cpu.lsp_parts.to(self.device)
        self.mirror_map = self.body_cpu.mirror_map.to(self.device)
        self.regions = body_regions(self.body_cpu).to(self.device)
        self._pose_perm = None

    # ------------------------------------------------------------------ parameters
    def _check_indices(self, split: str, indices: Iterable[int]) -> list[int]:
        size = self.config.split_size(split)
        idx = [int(i) for i in (indices.tolist() if torch.is_tensor(indices) else indices)]
        if not idx:
            raise ValueError("indices: expected at least one index")
        bad = [i for i in idx if not 0 <= i < size]
        if bad:
            raise ValueError(f"indices: expected values in [0, {size}) for split {split!r}, got {bad[:5]}")
        return idx

    def params(self, split: str, indices: Iterable[int]) -> SampleParams:
        """Batched parameters of samples ``indices`` of ``split`` (CPU)."""
        idx = self._check_indices(split, indices)
        return stack_params([sample_params(self.config, split, i, self.body_cpu) for i in idx])

    def batch(self, split: str, indices: Iterable[int], augment: AugmentParams | None = None) -> Batch:
        """Render samples ``indices`` of ``split`` (optionally augmented) as one batch.

        Args:
            split: ``"train"``, ``"val"`` or ``"test"``.
            indices: B sample indices.
            augment: optional B transforms (:func:`decomr.data.augment.sample_augment_params`),
                applied exactly in 3D before rendering.

        Returns:
            :class:`~decomr.data.batch.Batch` of (B, ...) tensors on ``device`` (fields: module docstring).
        """
        return self.render(self.params(split, indices), augment)

    # ------------------------------------------------------------------ rendering
    @torch.no_grad()
    def render(self, params: SampleParams, augment: AugmentParams | None = None) -> Batch:
        """Render batched :class:`SampleParams` (see :meth:`batch`)."""
        cfg, dev = self.config, self.device
        p = params.to(dev)
        B = len(p)
        if augment is not None and len(augment) != B:
            raise ValueError(f"augment: expected {B} transforms, got {len(augment)}")
        out = self.body(shape=p.shape, pose=p.pose, global_orient=p.global_orient)
        pelvis = out.joints[:, :1]  # (B, 1, 3)
        verts = out.vertices - pelvis  # (B, V, 3) pelvis-centred, camera-aligned
        joints = out.joints - pelvis  # (B, 24, 3)
        lsp = out.lsp_joints - pelvis  # (B, 14, 3)
        global_orient, pose = p.global_orient, p.pose

        # Virtual camera: principal point c0 at the image centre, pelvis at depth Z.
        H0, W0 = cfg.orig_size
        c0 = torch.tensor([(W0 - 1) / 2, (H0 - 1) / 2], device=dev, dtype=torch.float64)
        f = p.focal.double()[:, None]  # (B, 1)
        Z = p.distance.double()[:, None]
        transl = torch.cat([(p.pelvis_px.double() - c0) * Z / f, Z], -1)  # (B, 3)
        X = verts.double() + transl[:, None]  # (B, V, 3)
        proj = f[:, :, None] * X[..., :2] / X[..., 2:] + c0  # (B, V, 2) virtual-image pixels
        box = torch.cat([proj.min(1).values, proj.max(1).values], -1)  # (B, 4)
        center, scale = bbox_to_center_scale(box, cfg.bbox_rescale)
        scale = scale * p.scale_jitter.double()
        center = center + p.center_jitter.double() * (PIXELS_PER_SCALE * scale)[:, None]
        # The crop as a pinhole camera in normalised crop coordinates n = (p - center) / (100 s).
        focal_n = f[:, 0] / (PIXELS_PER_SCALE / 2 * scale)  # (B,)
        principal_n = (c0 - center) / (PIXELS_PER_SCALE / 2 * scale)[:, None]  # (B, 2)

        if augment is not None:  # exact: rotate / mirror the camera frame, zoom the crop
            a = augment.to(dev)
            if self._pose_perm is None:
                self._pose_perm = pose_flip_perm(self.body_cpu)
            X = augment_points_3d(X, a, self.mirror_map)
            transl = augment_points_3d(transl[:, None], a)[:, 0]
            verts = augment_points_3d(verts, a, self.mirror_map)
            joints = augment_points_3d(joints, a, SMPL_FLIP_PERM)
            lsp = augment_points_3d(lsp, a, LSP_FLIP_PERM)
            principal_n = augment_points_2d(principal_n[:, None], a)[:, 0]
            focal_n = focal_n / a.scale.double()
            scale = scale * a.scale.double()
            global_orient = augment_global_orient(global_orient, a)
            pose = mirror_pose(pose, self._pose_perm, a.flip)

        camera = PerspectiveCamera(focal=focal_n.float()[:, None].expand(B, 2), principal=principal_n.float())
        Xf = X.float()
        raster = camera.vertices(Xf)  # (B, V, 3)
        S, R = cfg.image_size, cfg.iuv_size
        frags = rasterize(raster, self.faces, (S, S), perspective_correct=True)
        frags_small = frags if R == S else rasterize(raster, self.faces, (R, R), perspective_correct=True)

        # RGB: shaded body over a procedural background, occluders, blur, noise, colour scale.
        albedo = vertex_albedo(self.regions, p.appearance)  # (B, V, 3)
        normals = vertex_normals(Xf, self.faces)  # (B, V, 3)
        attrs = interpolate_vertex_attrs(frags, self.faces, torch.cat([normals, Xf, albedo], -1))  # (B, 9, S, S)
        body_rgb = shade(attrs[:, 0:3], attrs[:, 3:6], attrs[:, 6:9], p.appearance)
        mask = frags.mask[:, None]  # (B, 1, S, S)
        background = render_backgrounds(p.background, (S, S), dev)
        image = torch.where(mask, body_rgb, background)
        image = draw_occluders(image, p.occluders, p.noise_seed)
        image = _gaussian_blur(image, p.blur * (S / 224.0))
        image = image + p.pixel_noise[:, None, None, None] * pixel_noise(p.noise_seed, (S, S))
        if augment is not None:
            image = apply_color(image, a)
        image = image.clamp(0.0, 1.0)

        # 2D joints and the weak-perspective fit.
        keypoints = camera.project(joints + transl.float()[:, None])  # (B, 24, 2)
        lsp_keypoints = camera.project(lsp + transl.float()[:, None])
        vis = lambda k: (k.abs() <= 1).all(-1, keepdim=True).float()  # noqa: E731
        weak = fit_weak_perspective(verts, raster[..., :2])

        true = torch.ones(B, dtype=torch.bool, device=dev)
        return Batch(
            image=image, **{key: render_iuv(frags_small, corner_uv) for key, corner_uv in self.corner_uv.items()},
            parts=render_parts(frags_small, self.faces, self.lsp_parts),
            mask=mask.float() if cfg.mask_full_res else None,
            keypoints=torch.cat([keypoints, vis(keypoints)], -1),
            lsp_keypoints=torch.cat([lsp_keypoints, vis(lsp_keypoints)], -1),
            joints3d=joints.float(), lsp_joints3d=lsp.float(), vertices=verts.float(),
            has_3d=true, has_mesh=true.clone(),
            shape=p.shape.float(), pose=pose.float(), global_orient=global_orient.float(),
            center=center.float(), scale=scale.float(), camera=weak.float(), index=p.index.long(),
        )


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------
class SyntheticDataset(Dataset):
    """Map-style dataset of synthetic samples, rendered on the CPU on demand.

    Works with ``DataLoader`` workers (each worker builds its own renderer on first use).
    ``dataset[i]`` equals ``SyntheticBatchGenerator(config).batch(split, [i])`` without the batch
    dimension.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        length: number of samples (default: the split's size in ``config``; at most that).
        config: :class:`SyntheticConfig`.
        augment: optional :class:`AugmentConfig`; each sample's transform is drawn from its own
            stream of ``(seed, split, index, epoch)`` (call :meth:`set_epoch` each epoch).
        body, atlases: optional, passed to :class:`SyntheticBatchGenerator`.
    """

    def __init__(self, split: str = "train", length: int | None = None, config: SyntheticConfig = SyntheticConfig(),
                 augment: AugmentConfig | None = None, body=None, atlases: dict | None = None):
        size = config.split_size(split)
        if length is None:
            length = size
        if not 0 <= int(length) <= size:
            raise ValueError(f"length: expected 0 <= length <= {size} (the {split} split size), got {length}")
        self.split, self.length, self.config, self.augment = split, int(length), config, augment
        self._body, self._atlases = body, atlases
        self._generator: SyntheticBatchGenerator | None = None
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of an epoch."""
        self.epoch = int(epoch)

    @property
    def generator(self) -> SyntheticBatchGenerator:
        if self._generator is None:
            self._generator = SyntheticBatchGenerator(self.config, "cpu", self._body, self._atlases)
        return self._generator

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_generator"] = None  # rebuilt in each worker
        return state

    def augment_params(self, index: int) -> AugmentParams | None:
        """The transform of sample ``index`` in the current epoch (None without augmentation)."""
        if self.augment is None:
            return None
        g = torch.Generator().manual_seed(sample_seed(self.config, self.split, index, stream=1 + self.epoch))
        return sample_augment_params(self.augment, 1, g)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length}")
        index = int(index) % self.length
        batch = self.generator.batch(self.split, [index], augment=self.augment_params(index))
        return {k: v[0] for k, v in batch.to_dict().items()}


class SyntheticParamDataset(Dataset):
    """The parameters of synthetic samples (cheap CPU work) for rendering batches elsewhere.

    Drawing a sample's parameters takes a few milliseconds of CPU (mostly the body's shape
    sampler); rendering is the heavy part. For GPU-side generation, draw parameters in
    ``DataLoader`` workers and render on the GPU so that neither waits::

        params = DataLoader(SyntheticParamDataset("train", config=cfg), batch_size=64, shuffle=True,
                            num_workers=4, collate_fn=collate_params)
        gen = SyntheticBatchGenerator(cfg, "cuda")
        for p in params:
            batch = gen.render(p, augment=sample_augment_params(AugmentConfig(), len(p)))

    ``SyntheticBatchGenerator.render(collate_params([ds[i] for i in idx]))`` equals
    ``SyntheticBatchGenerator.batch(split, idx)``.

    Args:
        split, length, config: as :class:`SyntheticDataset`.
        body: optional CPU body model (default ``decomr.body.load(config.body)`` per process).
    """

    def __init__(self, split: str = "train", length: int | None = None, config: SyntheticConfig = SyntheticConfig(),
                 body=None):
        size = config.split_size(split)
        length = size if length is None else int(length)
        if not 0 <= length <= size:
            raise ValueError(f"length: expected 0 <= length <= {size} (the {split} split size), got {length}")
        self.split, self.length, self.config, self._body = split, length, config, body

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> SampleParams:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of {self.length}")
        if self._body is None:
            self._body = load(self.config.body)
        return sample_params(self.config, self.split, int(index) % self.length, self._body)
