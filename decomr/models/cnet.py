"""CNet, the dense correspondence network (Sec. 3.2).

A torchvision ResNet encodes the crop; a light decoder with skip connections goes back to 1/4
resolution and predicts the IUV image (foreground mask logits and per-pixel UV coordinates) and
a local feature map. The pooled code gives a global feature (2048 -> 512 -> 256 MLP) and the
weak-perspective camera [s, tx, ty].

ImageNet weights are used when a torchvision weights file is already on disk; nothing is ever
downloaded (see :func:`find_pretrained_weights`).
"""
from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from decomr import paths
from decomr.models.config import ModelConfig
from decomr.models.layers import Bottleneck

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_WARNED: set[str] = set()


@dataclass(frozen=True)
class CNetOutput:
    """What CNet predicts for a batch of B crops (h = w = img_size / 4).

    Attributes:
        mask_logits: (B, 1, h, w) foreground logits (sigmoid -> probability), Eq. 4's L_c.
        uv: (B, 2, h, w) UV coordinates in [0, 1] (sigmoid), Eq. 4's L_r.
        local_features: (B, C_L, h, w) the local feature map F_im of Eq. 5.
        global_features: (B, C_G) the global feature vector.
        camera: (B, 3) weak-perspective camera [s, tx, ty], s > 0.
        code: (B, C_code) the pooled encoder code (2048 for ResNet-50).
    """

    mask_logits: torch.Tensor
    uv: torch.Tensor
    local_features: torch.Tensor
    global_features: torch.Tensor
    camera: torch.Tensor
    code: torch.Tensor


def find_pretrained_weights(backbone: str) -> Path | None:
    """A local torchvision ImageNet weights file for ``backbone``, or None.

    Looks for ``<backbone>-*.pth`` in ``torch.hub.get_dir()/checkpoints`` (where torchvision
    caches downloads) and in ``data/pretrained/``. Never downloads.
    """
    folders = [Path(torch.hub.get_dir()) / "checkpoints", paths.data_dir() / "pretrained"]
    for folder in folders:
        if folder.is_dir():
            found = sorted(folder.glob(f"{backbone}-*.pth"))
            if found:
                return found[-1]
    return None


def build_encoder(backbone: str, pretrained: str | None) -> nn.Module:
    """A torchvision ResNet without its classifier (``fc`` = Identity), optionally with ImageNet weights.

    Args:
        backbone: ``"resnet50"`` or ``"resnet18"``.
        pretrained: ``"imagenet"`` (use a local torchvision weights file if one exists, else warn
            once and start from scratch), a path to a state dict, or None (from scratch).
    """
    constructors = {"resnet50": torchvision.models.resnet50, "resnet18": torchvision.models.resnet18}
    encoder = constructors[backbone](weights=None)
    encoder.fc = nn.Identity()
    if pretrained is None:
        return encoder
    if pretrained == "imagenet":
        path = find_pretrained_weights(backbone)
        if path is None:
            if backbone not in _WARNED:  # once per backbone
                _WARNED.add(backbone)
                warnings.warn(
                    f"No ImageNet weights for {backbone} found in {torch.hub.get_dir()}/checkpoints or "
                    f"data/pretrained/ ({backbone}-*.pth); CNet's encoder starts from scratch. Place the "
                    "torchvision weights file there to use them (nothing is downloaded).",
                    stacklevel=2,
                )
            return encoder
    else:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise ValueError(f"pretrained: expected 'imagenet', None or an existing file, got {pretrained!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    encoder.load_state_dict(state, strict=True)
    logger.info("Loaded %s ImageNet weights from %s", backbone, path)
    return encoder


class CNet(nn.Module):
    """Dense correspondence network (Sec. 3.2).

    Args:
        config: the model configuration (backbone, widths, camera initialisation).

    Example:
        >>> net = CNet(ModelConfig.quick(pretrained=None)).eval()
        >>> out = net(torch.rand(1, 3, 224, 224))
        >>> out.mask_logits.shape, out.uv.shape, out.local_features.shape, out.camera.shape
        (torch.Size([1, 1, 56, 56]), torch.Size([1, 2, 56, 56]), torch.Size([1, 64, 56, 56]), torch.Size([1, 3]))
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config.backbone, config.pretrained)
        c4, c8, c16, c32 = config.backbone_channels
        d16, d8 = config.decoder_channels
        d4 = config.local_channels
        # Decoder: nearest x2 upsampling + bottleneck, then add the encoder stage of that stride
        # (projected by a 1x1 conv when the widths differ; identity for the paper's widths).
        self.up = nn.ModuleList([
            Bottleneck(c32, d16, config.norm),
            Bottleneck(d16, d8, config.norm),
            Bottleneck(d8, d4, config.norm),
        ])
        self.lateral = nn.ModuleList([
            nn.Identity() if c == d else nn.Conv2d(c, d, kernel_size=1)
            for c, d in ((c16, d16), (c8, d8), (c4, d4))
        ])
        self.mask_head = nn.Sequential(Bottleneck(d4, config.head_channels, config.norm),
                                       nn.Conv2d(config.head_channels, 1, kernel_size=1))
        self.uv_head = nn.Sequential(Bottleneck(d4, config.head_channels, config.norm),
                                     nn.Conv2d(config.head_channels, 2, kernel_size=1))
        self.global_head = nn.Sequential(  # on the pooled code, c32 channels
            nn.Linear(c32, config.global_hidden), nn.ReLU(inplace=True),
            nn.Linear(config.global_hidden, config.global_channels),
        )
        camera_layers: list[nn.Module] = []
        width = c32
        for hidden in config.camera_hidden:
            camera_layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            width = hidden
        last = nn.Linear(width, 3)
        # Zero init: a fresh model predicts s = camera_scale_init, t = (0, 0) (see ModelConfig).
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.camera_head = nn.Sequential(*camera_layers, last)
        # softplus^-1(s0) = log(exp(s0) - 1)
        self.register_buffer(
            "camera_scale_offset",
            torch.tensor(math.log(math.expm1(config.camera_scale_init))),
            persistent=False,
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def check_images(self, images: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``images`` is a (B, 3, img_size, img_size) floating tensor."""
        size = self.config.img_size
        if not torch.is_tensor(images) or images.dim() != 4 or images.shape[1] != 3 \
                or tuple(images.shape[2:]) != (size, size):
            shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise ValueError(f"images: expected (B, 3, {size}, {size}) RGB in [0, 1], got {shape}")
        if not images.is_floating_point():
            raise ValueError(f"images: expected a floating-point tensor in [0, 1], got dtype {images.dtype}")

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """ImageNet normalisation of (B, 3, H, W) images in [0, 1]."""
        return (images - self.mean) / self.std

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder stages at strides 4, 8, 16, 32 of a normalised (B, 3, H, W) batch."""
        e = self.encoder
        x = e.maxpool(e.relu(e.bn1(e.conv1(x))))
        f4 = e.layer1(x)  # (B, c4, H/4, W/4)
        f8 = e.layer2(f4)  # (B, c8, H/8, W/8)
        f16 = e.layer3(f8)  # (B, c16, H/16, W/16)
        f32 = e.layer4(f16)  # (B, c32, H/32, W/32)
        return [f4, f8, f16, f32]

    def forward(self, images: torch.Tensor) -> CNetOutput:
        """Predict the IUV image, local/global features and camera.

        Args:
            images: (B, 3, img_size, img_size) RGB in [0, 1] (not normalised).

        Returns:
            :class:`CNetOutput`.
        """
        self.check_images(images)
        f4, f8, f16, f32 = self.encode(self.normalize(images))
        y = f32
        for block, lateral, skip in zip(self.up, self.lateral, (f16, f8, f4)):
            y = block(F.interpolate(y, scale_factor=2.0, mode="nearest")) + lateral(skip)
        local = y  # (B, C_L, H/4, W/4)
        code = torch.flatten(self.encoder.avgpool(f32), 1)  # (B, C_code)
        raw_cam = self.camera_head(code)  # (B, 3)
        scale = F.softplus(raw_cam[:, :1] + self.camera_scale_offset)
        camera = torch.cat([scale, raw_cam[:, 1:]], dim=1)  # (B, 3) [s, tx, ty]
        return CNetOutput(
            mask_logits=self.mask_head(local),
            uv=torch.sigmoid(self.uv_head(local)),
            local_features=local,
            global_features=self.global_head(code),
            camera=camera,
            code=code,
        )
