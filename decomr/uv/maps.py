"""UV maps derived from the body model: location maps, the template's reference location map
(an LNet input, Sec. 3.3) and the location-map loss weights (supplementary Sec. 3, Eq. 6).

Location maps hold vertex positions in the camera frame minus the pelvis joint (``joints[:, 0]``),
0 outside the UV mask (:mod:`decomr.conventions`). Glossary: B batch, V vertices, R resolution.
"""
from __future__ import annotations

import math

import torch

from decomr.body.parts import WEIGHT_GROUP_VALUES
from decomr.uv.atlas import UVAtlas
from decomr.uv.sampler import UVSampler

__all__ = ["CAMERA_FACING_ORIENT", "camera_frame_vertices", "location_maps", "reference_location_map", "weight_map"]

#: Axis-angle of an upright person facing an OpenCV camera: (x, y, z) -> (x, -y, -z).
CAMERA_FACING_ORIENT = (math.pi, 0.0, 0.0)


def camera_frame_vertices(body, shape: torch.Tensor | None = None, pose: torch.Tensor | None = None) -> torch.Tensor:
    """Posed bodies facing the camera, pelvis-centred: what a location map stores.

    Args:
        body: a :class:`decomr.body.BodyModel`.
        shape: (B, shape_dim) or None (mean shape). pose: (B, pose_dim, 3) or None (rest pose).

    Returns:
        (B, V, 3) float32, metres, OpenCV camera axes (x right, y down, z away), pelvis at 0.
    """
    b = next((x.shape[0] for x in (shape, pose) if x is not None), 1)
    orient = torch.tensor(CAMERA_FACING_ORIENT, dtype=torch.float32, device=body.template.device).expand(b, 3).contiguous()
    out = body(shape=shape, pose=pose, global_orient=orient)
    return out.vertices - out.joints[:, :1]  # (B, V, 3)


def location_maps(sampler: UVSampler, vertices: torch.Tensor, pelvis: torch.Tensor | None = None) -> torch.Tensor:
    """Location maps of camera-frame meshes.

    Args:
        sampler: a :class:`UVSampler` (its resolution is R).
        vertices: (B, V, 3) camera-frame vertices, metres.
        pelvis: optional (B, 3) pelvis joints subtracted first (``joints[:, 0]``).

    Returns:
        (B, 3, R, R).
    """
    if not torch.is_tensor(vertices) or vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices: expected shape (B, V, 3), received {tuple(getattr(vertices, 'shape', ()))}")
    if pelvis is not None:
        if pelvis.shape != (vertices.shape[0], 3):
            raise ValueError(f"pelvis: expected shape ({vertices.shape[0]}, 3), received {tuple(pelvis.shape)}")
        vertices = vertices - pelvis[:, None]
    return sampler.mesh_to_map(vertices)


def reference_location_map(body, atlas: UVAtlas, resolution: int = 128) -> torch.Tensor:
    """The location map of the template (mean shape, rest pose) facing the camera (LNet input).

    Args:
        body: a :class:`decomr.body.BodyModel`. atlas: its :class:`UVAtlas`. resolution: R.

    Returns:
        (3, R, R) float32, metres, pelvis-centred camera frame; 0 outside the mask.
    """
    sampler = UVSampler(atlas, resolution).to(body.template.device)
    with torch.no_grad():
        return sampler.mesh_to_map(camera_frame_vertices(body))[0]


def weight_map(body, atlas: UVAtlas, resolution: int = 128) -> torch.Tensor:
    """Per-pixel weights of the location-map loss (supplementary Sec. 3, Eq. 6).

    A pixel blends up to three vertices; it takes the largest weight of their groups (torso 1,
    neck/head 2, arms/legs 5, hands/feet 25; ``decomr.body.parts.WEIGHT_GROUP_VALUES``), as the
    official code does. The map is 0 outside the UV mask and normalised to mean 1 over the whole
    R x R square, as the official code does: the loss (:func:`decomr.losses.location_map_loss`)
    averages over all R² pixels, so a uniform error of e costs e·λ_map on every atlas, whatever
    share of the square the atlas covers. (Normalising over the mask instead would scale λ_map
    by the atlas's coverage: 0.43 for the continuous map, 0.76 for Anny's default UV at R=64.)

    Args:
        body: needs ``weight_parts`` (V,) in 0..3. atlas: the :class:`UVAtlas`. resolution: R.

    Returns:
        (R, R) float32.
    """
    sampler = UVSampler(atlas, resolution)
    parts = body.weight_parts.detach().cpu()
    if parts.shape != (atlas.num_vertices,):
        raise ValueError(f"body.weight_parts: expected shape ({atlas.num_vertices},), received {tuple(parts.shape)}")
    values = torch.tensor(WEIGHT_GROUP_VALUES, dtype=torch.float32)[parts]  # (V,)
    used = sampler.pixel_weight != 0  # (R*R, 3)
    w = torch.where(used, values[sampler.pixel_vertex], torch.zeros(())).amax(dim=1)  # (R*R,)
    w = w.reshape(resolution, resolution) * sampler.mask
    return w / w.mean()
