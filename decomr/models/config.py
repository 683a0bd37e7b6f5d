"""Configuration of the DecoMR network (CNet + UV transfer + LNet).

One frozen dataclass holds every architectural knob. Its defaults are the paper's model
(Sec. 3.2-3.4) with the widths of the official implementation, which gives the official size
(about 64M parameters, about 54 GFLOPs per 224x224 image). :meth:`ModelConfig.quick` is a small
preset that trains on a 2-core CPU. The config is stored in checkpoints via :meth:`to_dict` and
restored with :meth:`from_dict`.

>>> cfg = ModelConfig.quick()
>>> cfg.backbone, cfg.map_size
('resnet18', 64)
>>> ModelConfig.from_dict(cfg.to_dict()) == cfg
True
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

BACKBONES = ("resnet50", "resnet18")
ATLASES = ("continuous", "default")
# Table 5's rows: which inputs LNet receives besides the reference location map.
LNET_INPUTS = ("global", "local", "local+global", "pixels+global")
NORMS = ("batch", "group")
# How the "pixels+global" variant transfers raw pixels: averaged into CNet's output grid first
# ("area", decomr) or at the input resolution with the IUV image upsampled to it ("input", official).
PIXEL_TRANSFERS = ("area", "input")
# Channels of the ResNet stages at strides 4, 8, 16, 32 (layer1..layer4) and of the pooled code.
BACKBONE_CHANNELS = {
    "resnet50": (256, 512, 1024, 2048),
    "resnet18": (64, 128, 256, 512),
}
#: The two reads of the location map into vertices (Eq. 3), named by ``seam_aware_read``: the
#: paper's plain bilinear one (False) and decomr's seam-aware one (True).
READS = ("plain", "seam-aware")


def read_name(seam_aware: bool) -> str:
    """``"seam-aware"`` or ``"plain"``: the name in :data:`READS` of a value of ``seam_aware_read``.

    >>> read_name(True), read_name(False)
    ('seam-aware', 'plain')
    """
    return READS[int(bool(seam_aware))]


def read_flag(name: str) -> bool:
    """The ``seam_aware_read`` value of a read named in :data:`READS` (the inverse of :func:`read_name`).

    >>> read_flag("seam-aware"), read_flag("plain")
    (True, False)
    """
    if name not in READS:
        raise ValueError(f"read: expected one of {READS}, got {name!r}")
    return READS.index(name) == 1


_Config = TypeVar("_Config", bound="DictConfig")


class DictConfig:
    """Mixin of the config dataclasses: plain-dict (de)serialisation for checkpoints."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (JSON/YAML friendly; tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls: type[_Config], data: dict[str, Any]) -> _Config:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}.from_dict: unknown keys {unknown}; known keys are {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class ModelConfig(DictConfig):
    """Architecture of DecoMR. Defaults reproduce the paper's model (Sec. 3.2-3.4)."""

    # --- CNet encoder (Sec. 3.2) ---
    backbone: str = "resnet50"  # torchvision ResNet: "resnet50" (paper) or "resnet18" (quick)
    # "imagenet": torchvision ImageNet weights when a file `<backbone>-*.pth` is found in
    # torch.hub's checkpoint cache or in data/pretrained/ (never downloaded; warns once and starts
    # from scratch otherwise); a path: that weights file; None: from scratch, silently.
    pretrained: str | None = "imagenet"
    # --- UV map (Sec. 3.1, Table 5) ---
    atlas: str = "continuous"  # "continuous" (the paper's map) or "default" (the body's own UV)
    # --- LNet input, Table 5's rows ---
    # "global": global feature + reference map; "local": transferred features + reference map;
    # "local+global": both (the paper's model); "pixels+global": transferred raw pixels + global.
    lnet_input: str = "local+global"
    # --- resolutions ---
    img_size: int = 224  # input crop, pixels (square)
    iuv_size: int = 56  # CNet output resolution (IUV image, local features) = img_size / 4
    uv_grid: int = 64  # G: UV grid that features are transferred to (Eq. 5); official 64
    map_size: int = 128  # R: location map resolution (Eq. 3, 6); must be uv_grid * 2^k
    # --- CNet decoder ---
    decoder_channels: tuple[int, int] = (1024, 512)  # decoder widths at strides 16 and 8
    local_channels: int = 256  # decoder width at stride 4 = channels of the local feature map
    head_channels: int = 32  # bottleneck width of the mask and UV heads
    global_hidden: int = 512  # hidden width of the global-feature MLP (2048 -> 512 -> 256)
    global_channels: int = 256  # global feature size
    camera_hidden: tuple[int, ...] = (512, 256)  # hidden widths of the camera MLP
    # The camera scale is s = softplus(raw + softplus^-1(camera_scale_init)) with the last camera
    # layer zero-initialised, so a fresh model predicts s = camera_scale_init, t = 0: an upright
    # 1.7 m person then spans 1.7 of the 2 normalised units, close to the official crops
    # (box side x 1.2 -> 1.67 units).
    camera_scale_init: float = 1.0
    # --- LNet (Sec. 3.3) ---
    lnet_channels: int = 256  # width after the 1x1 input convs = hourglass base width
    lnet_levels: int = 3  # hourglass depth (64 -> 32 -> 16 -> 8 at the paper's sizes)
    lnet_out_channels: int = 64  # width of the location-map decoder at resolution R
    # LNet predicts a residual added to the template's location map (R x R). The official code
    # regresses the map itself; starting from a body-shaped mesh trains much faster on small
    # budgets and changes nothing else (the template map is already an LNet input). False = official.
    lnet_residual: bool = True
    # Eq. 3 reads the location map seam-aware: a bilinear stencil pixel whose template point is
    # > 3 cm from the vertex's (across a slit of the chart) is not read. A decomr addition, not in
    # the paper; it helps the default (multi-chart) atlas more than the continuous one, so the
    # paper config turns it off for Table 5's atlas comparison. False = plain bilinear (official).
    seam_aware_read: bool = True
    norm: str = "batch"  # normalisation in decoder/LNet blocks: "batch" (official) or "group"
    # Raw pixels of the "pixels+global" variant (Table 5's last row): "area" averages the image into
    # CNet's output grid and transfers it like the features (decomr); "input" transfers every input
    # pixel with the IUV image upsampled to the input size (the official code's warped image).
    pixel_transfer: str = "area"
    mask_threshold: float = 0.5  # foreground probability above which a pixel is transferred

    def __post_init__(self) -> None:
        def check_choice(name: str, choices: tuple) -> None:
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"ModelConfig.{name}: expected one of {choices}, got {value!r}")

        check_choice("backbone", BACKBONES)
        check_choice("atlas", ATLASES)
        check_choice("lnet_input", LNET_INPUTS)
        check_choice("norm", NORMS)
        check_choice("pixel_transfer", PIXEL_TRANSFERS)
        # Tuples survive a JSON round trip as lists: normalise them here.
        object.__setattr__(self, "decoder_channels", tuple(int(c) for c in self.decoder_channels))
        object.__setattr__(self, "camera_hidden", tuple(int(c) for c in self.camera_hidden))
        if len(self.decoder_channels) != 2:
            raise ValueError(
                f"ModelConfig.decoder_channels: expected 2 widths (strides 16, 8), got {self.decoder_channels}"
            )
        if self.img_size % 32 != 0 or self.img_size <= 0:
            raise ValueError(f"ModelConfig.img_size: expected a positive multiple of 32, got {self.img_size}")
        if self.iuv_size != self.img_size // 4:
            raise ValueError(
                f"ModelConfig.iuv_size: CNet outputs at 1/4 resolution, expected {self.img_size // 4} "
                f"for img_size={self.img_size}, got {self.iuv_size}"
            )
        if self.uv_grid < 2 ** self.lnet_levels or self.uv_grid % (2 ** self.lnet_levels) != 0:
            raise ValueError(
                f"ModelConfig.uv_grid: expected a multiple of 2^lnet_levels = {2 ** self.lnet_levels}, "
                f"got {self.uv_grid}"
            )
        ratio = self.map_size // self.uv_grid
        if self.map_size % self.uv_grid != 0 or ratio & (ratio - 1) != 0:
            raise ValueError(
                f"ModelConfig.map_size: expected uv_grid * 2^k (uv_grid={self.uv_grid}), got {self.map_size}"
            )
        for name in ("local_channels", "head_channels", "global_hidden", "global_channels",
                     "lnet_channels", "lnet_out_channels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ModelConfig.{name}: expected a positive int, got {getattr(self, name)}")
        if not 0.0 < self.mask_threshold < 1.0:
            raise ValueError(f"ModelConfig.mask_threshold: expected a value in (0, 1), got {self.mask_threshold}")
        if self.camera_scale_init <= 0:
            raise ValueError(f"ModelConfig.camera_scale_init: expected > 0, got {self.camera_scale_init}")

    # ------------------------------------------------------------------ presets
    @classmethod
    def quick(cls, **overrides: Any) -> "ModelConfig":
        """A small model for a 2-core CPU: ResNet-18, narrow decoder/LNet, 32-cell grid, 64 px maps.

        About 13.7M parameters and 4.8 GFLOPs per image (the ResNet-18 encoder is 3.6 of them).
        """
        settings: dict[str, Any] = dict(
            backbone="resnet18",
            uv_grid=32,
            map_size=64,
            decoder_channels=(256, 128),
            local_channels=64,
            head_channels=16,
            global_hidden=256,
            global_channels=64,
            camera_hidden=(256, 64),
            lnet_channels=64,
            lnet_levels=3,
            lnet_out_channels=32,
        )
        settings.update(overrides)
        return cls(**settings)

    # ------------------------------------------------------------------ derived sizes
    @property
    def backbone_channels(self) -> tuple[int, int, int, int]:
        """Channels of the encoder's stages at strides 4, 8, 16, 32."""
        return BACKBONE_CHANNELS[self.backbone]

    @property
    def uses_transfer(self) -> bool:
        """Whether LNet receives features transferred to UV space (Eq. 5)."""
        return self.lnet_input != "global"

    @property
    def uses_global(self) -> bool:
        """Whether LNet receives the global feature broadcast over the grid."""
        return self.lnet_input != "local"

    @property
    def transferred_channels(self) -> int:
        """Channels of the transferred map: source channels + (x, y) + occupancy."""
        if not self.uses_transfer:
            return 0
        source = 3 if self.lnet_input == "pixels+global" else self.local_channels
        return source + 3

    @property
    def lnet_in_channels(self) -> int:
        """LNet input channels: transferred + global + reference map (518 for the paper)."""
        return self.transferred_channels + (self.global_channels if self.uses_global else 0) + 3

    # ------------------------------------------------------------------ copies
    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with some fields changed (validated like the constructor)."""
        return dataclasses.replace(self, **changes)


__all__ = ["ModelConfig", "BACKBONES", "ATLASES", "LNET_INPUTS", "NORMS", "BACKBONE_CHANNELS", "READS", "read_name",
           "read_flag"]
