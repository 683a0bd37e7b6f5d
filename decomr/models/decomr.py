"""DecoMR: CNet -> UV transfer -> LNet -> mesh (Fig. 2, Sec. 3).

:class:`DecoMR` wires the pieces together and turns LNet's location map into a mesh with a
:class:`decomr.uv.UVSampler` (Eq. 3) and the body's joint regressors.

Stage 1 of training (Sec. 3.4: CNet alone for 5 epochs) calls ``model(images, stage="cnet")``,
which skips the transfer and LNet; stage 2 (end to end) uses the default ``stage="full"``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from decomr.models.cnet import CNet, CNetOutput
from decomr.models.config import ModelConfig
from decomr.models.lnet import LNet
from decomr.models.transfer import transfer_for_config
from decomr.uv import UVSampler, load_atlas, reference_location_map

STAGES = ("cnet", "full")
#: The links of the chain that :class:`Oracle` can replace by their ground truth.
ORACLE_LINKS = ("iuv", "camera", "location_map")


@dataclass(frozen=True)
class Oracle:
    """Ground truth that replaces a link of DecoMR's chain (where does the error come from?).

    DecoMR is a chain: CNet's IUV image -> transferred features -> LNet's location map -> mesh
    (Eq. 3). Giving a link its ground truth shows what the rest of the chain costs. Any field
    left None is predicted as usual.

    Attributes:
        iuv: (B, 3, h, w) GT IUV image (mask, u, v) fed to the UV transfer (Eq. 5) instead of
            CNet's; resized (nearest) to CNet's output size if needed. Local features stay CNet's.
        camera: (B, 3) GT weak-perspective camera [s, tx, ty] instead of CNet's (2D alignment only:
            the 3D mesh does not depend on it).
        location_map: (B, 3, R, R) GT location map instead of LNet's; the mesh is then read with
            Eq. 3, so its error is the resolution floor of the UV map at R.
    """

    iuv: torch.Tensor | None = None
    camera: torch.Tensor | None = None
    location_map: torch.Tensor | None = None

    def apply_to_cnet(self, c: CNetOutput) -> CNetOutput:
        """CNet's output with the GT IUV image and/or camera put in."""
        if self.iuv is not None:
            iuv = self.iuv.to(c.uv.dtype)
            if iuv.dim() != 4 or iuv.shape[1] != 3 or iuv.shape[0] != c.uv.shape[0]:
                raise ValueError(f"Oracle.iuv: expected (B, 3, h, w) with B = {c.uv.shape[0]}, got {tuple(iuv.shape)}")
            if tuple(iuv.shape[-2:]) != tuple(c.uv.shape[-2:]):
                iuv = F.interpolate(iuv, size=tuple(c.uv.shape[-2:]), mode="nearest")
            fg = iuv[:, :1] > 0.5
            c = replace(c, uv=iuv[:, 1:3], mask_logits=torch.where(fg, 20.0, -20.0).to(c.mask_logits.dtype))
        if self.camera is not None:
            if tuple(self.camera.shape) != tuple(c.camera.shape):
                raise ValueError(f"Oracle.camera: expected {tuple(c.camera.shape)}, got {tuple(self.camera.shape)}")
            c = replace(c, camera=self.camera.to(c.camera.dtype))
        return c


@runtime_checkable
class MapToMesh(Protocol):
    """What DecoMR needs from a UV sampler (``decomr.uv.UVSampler`` is one)."""

    def map_to_mesh(self, maps: torch.Tensor) -> torch.Tensor:  # (B, C, R, R) -> (B, V, C)
        ...


@dataclass(frozen=True)
class DecoMROutput:
    """Everything DecoMR predicts for B crops (h = img_size / 4, G = uv_grid, R = map_size).

    The LNet fields (``transferred`` .. ``lsp_joints``) are None when the model ran with
    ``stage="cnet"``; ``transferred`` is also None for the "global" LNet variant (Table 5).

    Attributes:
        mask_logits: (B, 1, h, w) foreground logits.
        uv: (B, 2, h, w) UV coordinates in [0, 1].
        local_features: (B, C_L, h, w) local feature map.
        global_features: (B, C_G) global feature.
        camera: (B, 3) weak-perspective camera [s, tx, ty].
        transferred: (B, C_T, G, G) features transferred to UV space (Eq. 5).
        location_map: (B, 3, R, R) location map, metres, pelvis-centred camera frame.
        vertices: (B, V, 3) mesh read from the location map (Eq. 3), same frame.
        joints: (B, 24, 3) joints regressed from ``vertices``.
        lsp_joints: (B, 14, 3) LSP joints regressed from ``vertices``.
    """

    mask_logits: torch.Tensor
    uv: torch.Tensor
    local_features: torch.Tensor
    global_features: torch.Tensor
    camera: torch.Tensor
    transferred: torch.Tensor | None = None
    location_map: torch.Tensor | None = None
    vertices: torch.Tensor | None = None
    joints: torch.Tensor | None = None
    lsp_joints: torch.Tensor | None = None

    @property
    def mask(self) -> torch.Tensor:
        """(B, 1, h, w) foreground probability."""
        return torch.sigmoid(self.mask_logits)

    @property
    def iuv(self) -> torch.Tensor:
        """(B, 3, h, w) predicted IUV image (:mod:`decomr.conventions`): binary mask, then u, v (0 on background)."""
        fg = (self.mask_logits > 0).to(self.uv.dtype)
        return torch.cat([fg, self.uv * fg], dim=1)


def _atlas_sampler(atlas: Any, map_size: int, seam_aware: bool, body: Any = None) -> UVSampler:
    """Eq. 3's sampler for an atlas at ``map_size``: seam-aware (no reads across chart slits) with
    the template stored in the atlas (the same table on every machine), else the body's own; or
    the paper's plain bilinear read (also when neither holds a template: ``sampler.seam_aware`` says
    which read it got).
    """
    reference = None
    if seam_aware:
        reference = getattr(atlas, "template", None)
        reference = reference if reference is not None else getattr(body, "template", None)
        reference = None if reference is None else torch.as_tensor(reference).detach().cpu()
    return UVSampler(atlas, resolution=map_size, reference=reference)


class DecoMR(nn.Module):
    """The full model (Fig. 2).

    Args:
        config: architecture (:class:`ModelConfig`).
        body: a ``decomr.body.BodyModel`` (only its joint regressors and, to build the reference
            map, the body itself are used; it is not stored as a submodule).
        atlas_or_sampler: a ``decomr.uv.UVAtlas`` (a ``UVSampler`` at ``config.map_size`` is
            built from it) or a ready sampler with ``map_to_mesh`` at that resolution.
        reference_map: optional (3, G, G) reference location map; by default
            ``decomr.uv.reference_location_map(body, atlas, config.uv_grid)``. Required when a
            sampler without an ``atlas`` attribute is passed.

    Example (see ``tests/test_models_decomr.py``)::

        body = decomr.body.load("anny")
        model = DecoMR(ModelConfig(), body, decomr.uv.load_atlas(body, "continuous"))
        out = model(images)            # images: (B, 3, 224, 224) in [0, 1]
        out.vertices                   # (B, V, 3)
    """

    def __init__(self, config: ModelConfig, body: Any, atlas_or_sampler: Any,
                 reference_map: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        sampler, atlas = self._resolve_sampler(config, atlas_or_sampler, body)
        if reference_map is None:
            if atlas is None:
                raise ValueError(
                    "reference_map: required when atlas_or_sampler is a sampler without an `atlas` attribute"
                )

            reference_map = reference_location_map(body, atlas, config.uv_grid)
        self.cnet = CNet(config)
        self.lnet = LNet(config, torch.as_tensor(reference_map))
        if config.lnet_residual:  # the template's location map at R, which LNet's output is added to
            if atlas is not None:
                base = reference_location_map(body, atlas, config.map_size)
            else:
                base = F.interpolate(torch.as_tensor(reference_map, dtype=torch.float32)[None], size=config.map_size,
                                     mode="bilinear", align_corners=True)[0]
            self.register_buffer("residual_base", base.detach().float().clone(), persistent=False)  # (3, R, R)
        self.sampler = sampler
        joint_regressor = torch.as_tensor(body.joint_regressor, dtype=torch.float32)
        lsp_regressor = torch.as_tensor(body.lsp_regressor, dtype=torch.float32)
        if joint_regressor.dim() != 2 or lsp_regressor.dim() != 2 or joint_regressor.shape[1] != lsp_regressor.shape[1]:
            raise ValueError(
                f"body: expected joint_regressor (J, V) and lsp_regressor (14, V), got "
                f"{tuple(joint_regressor.shape)} and {tuple(lsp_regressor.shape)}"
            )
        self.register_buffer("joint_regressor", joint_regressor.clone(), persistent=False)  # (24, V)
        self.register_buffer("lsp_regressor", lsp_regressor.clone(), persistent=False)  # (14, V)
        self.body_name = getattr(body, "name", None)
        self.atlas_name = getattr(atlas, "name", None) if atlas is not None else None

    @staticmethod
    def _resolve_sampler(config: ModelConfig, atlas_or_sampler: Any, body: Any = None) -> tuple[nn.Module, Any]:
        if isinstance(atlas_or_sampler, MapToMesh):
            sampler = atlas_or_sampler
            atlas = getattr(sampler, "atlas", None)
            resolution = getattr(sampler, "resolution", config.map_size)
            if resolution != config.map_size:
                raise ValueError(
                    f"atlas_or_sampler: sampler resolution {resolution} != config.map_size {config.map_size}"
                )
        else:
            atlas = atlas_or_sampler
            sampler = _atlas_sampler(atlas, config.map_size, config.seam_aware_read, body)
        name = getattr(atlas, "name", None)
        if isinstance(name, str) and name != config.atlas:
            raise ValueError(f"atlas_or_sampler: atlas {name!r} does not match config.atlas {config.atlas!r}")
        return sampler, atlas

    def set_seam_aware_read(self, enabled: bool, body: Any = None) -> None:
        """Switch Eq. 3 between decomr's seam-aware read and the paper's plain bilinear one.

        The weights stay as they are: only how the location map is read into vertices changes, so
        one trained model can be evaluated both ways (Table 5 reports its atlas comparison with
        both reads). ``config.seam_aware_read`` follows the switch.

        Args:
            enabled: True for the seam-aware read (no reads across chart slits), False for the
                paper's plain bilinear Eq. 3.
            body: where the template comes from when the atlas stores none (seam-aware only).

        Raises:
            ValueError: the model was built from a ready sampler without an atlas to rebuild it
                from, or the seam-aware read was asked for without a template.
        """
        enabled = bool(enabled)
        if enabled != bool(getattr(self.sampler, "seam_aware", self.config.seam_aware_read)):
            atlas = getattr(self.sampler, "atlas", None)
            if atlas is None:
                raise ValueError("set_seam_aware_read: the model's sampler has no atlas to rebuild Eq. 3 from; "
                                 "build the model from a UVAtlas (DecoMR.from_config)")
            sampler = _atlas_sampler(atlas, self.config.map_size, enabled, body)
            if enabled and not sampler.seam_aware:
                raise ValueError("set_seam_aware_read: the seam-aware read needs the template mesh, stored in "
                                 "neither the atlas nor the body; pass body=")
            sampler.use_sparse = getattr(self.sampler, "use_sparse", True)
            self.sampler = sampler.to(self.joint_regressor.device)
        self.config = self.config.replace(seam_aware_read=enabled)

    @classmethod
    def from_config(cls, config: ModelConfig, body: Any) -> "DecoMR":
        """Build the model with the atlas named by ``config.atlas`` (``decomr.uv.load_atlas``)."""
        return cls(config, body, load_atlas(body, config.atlas))

    # ------------------------------------------------------------------ pieces
    def location_map_to_mesh(self, location_map: torch.Tensor) -> torch.Tensor:
        """Eq. 3: (B, 3, R, R) location map -> (B, V, 3) vertices (seam copies averaged by the sampler)."""
        return self.sampler.map_to_mesh(location_map)

    def regress_joints(self, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, V, 3) vertices -> joints (B, 24, 3) and LSP joints (B, 14, 3) with the body's regressors."""
        joints = torch.einsum("jv,bvc->bjc", self.joint_regressor.to(vertices.dtype), vertices)  # (B, 24, 3)
        lsp = torch.einsum("jv,bvc->bjc", self.lsp_regressor.to(vertices.dtype), vertices)  # (B, 14, 3)
        return joints, lsp

    def transfer(self, images: torch.Tensor, cnet_out: CNetOutput) -> torch.Tensor | None:
        """UV transfer (Eq. 5) of CNet's features (or raw pixels) for the configured LNet variant."""
        pixels = self.cnet.normalize(images) if self.config.lnet_input == "pixels+global" else images
        return transfer_for_config(self.config, cnet_out.local_features, pixels, cnet_out.uv,
                                   torch.sigmoid(cnet_out.mask_logits))

    # ------------------------------------------------------------------ forward
    def forward(self, images: torch.Tensor, stage: str = "full", oracle: Oracle | None = None) -> DecoMROutput:
        """Run the model.

        Args:
            images: (B, 3, img_size, img_size) RGB in [0, 1] (ImageNet normalisation is internal).
            stage: ``"full"`` (default) or ``"cnet"`` (stage 1 of training: CNet only).
            oracle: ground truth replacing links of the chain (:class:`Oracle`; evaluation only).

        Returns:
            :class:`DecoMROutput`.
        """
        if stage not in STAGES:
            raise ValueError(f"stage: expected one of {STAGES}, got {stage!r}")
        c = self.cnet(images)
        if oracle is not None:
            c = oracle.apply_to_cnet(c)
        if stage == "cnet":
            return DecoMROutput(c.mask_logits, c.uv, c.local_features, c.global_features, c.camera)
        transferred = self.transfer(images, c)  # (B, C_T, G, G) or None
        if oracle is not None and oracle.location_map is not None:
            r = self.config.map_size
            if tuple(oracle.location_map.shape[1:]) != (3, r, r):
                raise ValueError(f"Oracle.location_map: expected (B, 3, {r}, {r}), got {tuple(oracle.location_map.shape)}")
            location_map = oracle.location_map
        else:
            location_map = self.lnet(transferred, c.global_features if self.config.uses_global else None)
            if self.config.lnet_residual:
                location_map = location_map + self.residual_base.to(location_map.dtype)  # (B, 3, R, R)
        # Eq. 3 and the joint regressors in float32 even under autocast (millimetre precision).
        with torch.autocast(device_type=location_map.device.type, enabled=False):
            location_map = location_map.float()
            vertices = self.location_map_to_mesh(location_map)  # (B, V, 3)
            joints, lsp_joints = self.regress_joints(vertices)
        return DecoMROutput(
            mask_logits=c.mask_logits, uv=c.uv, local_features=c.local_features,
            global_features=c.global_features, camera=c.camera, transferred=transferred,
            location_map=location_map, vertices=vertices, joints=joints, lsp_joints=lsp_joints,
        )
