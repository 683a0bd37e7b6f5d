"""What TensorBoard shows during training: one sample as a row of images.

input | GT IUV | predicted IUV | predicted mesh, as an (S, k S, 3) array in [0, 1]
(:func:`prediction_panel`); :mod:`decomr.viz.train_plots` draws grids of such rows for notebooks.

>>> iuv_rgb(torch.zeros(3, 4, 4)).shape
(4, 4, 3)
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from decomr.data.batch import Batch, as_batch
from decomr.render import render_body
from decomr.render.images import iuv_colors

__all__ = ["iuv_rgb", "mesh_overlay", "prediction_panel"]


def _np_image(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) float."""
    return image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()


def iuv_rgb(iuv: torch.Tensor) -> np.ndarray:
    """(3, H, W) IUV image (mask, u, v; tensor or array) -> (H, W, 3) numpy colours: u red, v green,
    0.4 blue on the body (:func:`decomr.render.images.iuv_colors`, the one colouring)."""
    return iuv_colors(torch.as_tensor(iuv)).cpu().numpy()


def mesh_overlay(image: torch.Tensor, vertices: torch.Tensor, camera: torch.Tensor, faces: torch.Tensor,
                 alpha: float = 0.7) -> np.ndarray:
    """A mesh rendered (shaded) with its weak-perspective camera over the crop.

    Args:
        image: (3, H, W) crop in [0, 1].
        vertices: (V, 3) pelvis-centred camera-frame vertices, metres.
        camera: (3,) [s, tx, ty].
        faces: (F, 3).
        alpha: opacity of the mesh.

    Returns:
        (H, W, 3) float in [0, 1].
    """
    h, w = image.shape[-2:]
    verts = vertices.detach().float().cpu()[None] + torch.tensor([0.0, 0.0, 10.0])
    out = render_body(verts, faces.cpu(), camera.detach().float().cpu()[None], (h, w), shade=True)
    base = _np_image(image)
    rgb = out.rgb[0].permute(1, 2, 0).numpy()
    m = out.mask[0, 0].numpy()[..., None] * alpha
    return base * (1 - m) + rgb * m


def _resize(rgb: np.ndarray, size: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()
    t = torch.nn.functional.interpolate(t, size=(size, size), mode="nearest")
    return t[0].permute(1, 2, 0).numpy()


def prediction_panel(batch: Batch | dict[str, Any], out: Any, index: int = 0, faces: torch.Tensor | None = None,
                     size: int | None = None) -> np.ndarray:
    """One sample as a row: input | GT IUV | predicted IUV | predicted mesh (if any).

    Args:
        batch: a :class:`~decomr.data.batch.Batch` (``image``, optional ``iuv``), or a dict of its fields.
        out: the model's ``DecoMROutput`` for (at least) that sample.
        index: the sample (row of ``batch``; ``out`` may hold only that sample at row 0).
        faces: (F, 3) mesh faces for the mesh overlay (skipped if None or no mesh predicted).
        size: tile size in pixels (default: the image size).

    Returns:
        (size, k * size, 3) float array in [0, 1].
    """
    batch = as_batch(batch)
    image = batch.image[index]
    size = size or int(image.shape[-1])
    j = index if out.mask_logits.shape[0] > index else 0
    tiles = [_np_image(image)]
    if batch.iuv is not None:
        tiles.append(iuv_rgb(batch.iuv[index]))
    tiles.append(iuv_rgb(torch.cat([(out.mask_logits[j] > 0).float(), out.uv[j]], dim=0)))
    if faces is not None and out.vertices is not None:
        tiles.append(mesh_overlay(image, out.vertices[j], out.camera[j], faces))
    return np.concatenate([_resize(t, size) for t in tiles], axis=1)
