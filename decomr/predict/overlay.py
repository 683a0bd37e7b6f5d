"""Predictions drawn in the original image: the mesh (shaded or coloured by part) and the IUV image.

The mesh is rasterised with :func:`decomr.render.rasterize` directly in the original image: its
vertices' image pixels (:attr:`Prediction.vertices_2d`) become normalised image coordinates and
their camera-frame depth the z-buffer value (the crop-to-image map is a similarity, so the weak
perspective projection stays exact). The IUV image of the crop (h x w) is pasted back with
:func:`decomr.data.crop.uncrop_image` (nearest neighbour).

>>> import torch
>>> compose(torch.zeros(2, 2, 3), torch.ones(2, 2, 3), torch.ones(2, 2), blend=0.25)[0, 0].tolist()
[0.25, 0.25, 0.25]
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from decomr.data.crop import PIXELS_PER_SCALE, pixels_to_normalized, uncrop_image
from decomr.render import rasterize, render_shaded
from decomr.render.images import iuv_colors  # noqa: F401 (re-exported: the one IUV colouring)

__all__ = ["MeshLayer", "mesh_layer", "iuv_layer", "iuv_colors", "compose", "overlay_image"]


@dataclass(frozen=True)
class MeshLayer:
    """A mesh rendered over an image.

    Attributes:
        rgb: (H, W, 3) float in [0, 1] (0 off the mesh).
        alpha: (H, W) float in {0, 1}: 1 where the mesh covers the pixel.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor


def _window(x0: float, y0: float, x1: float, y1: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer pixel window (top, left, bottom, right) holding [x0, x1] x [y0, y1], 1 px margin,
    clipped to an image of ``size`` = (h, w); empty (top == bottom) when it misses the image."""
    h, w = size
    left, top = max(0, int(x0) - 2), max(0, int(y0) - 2)
    right, bottom = min(w, int(x1) + 3), min(h, int(y1) + 3)
    return (top, left, max(top, bottom), max(left, right))


def _mesh_window(prediction, i: int, vertex_colors, size: tuple[int, int]) -> tuple[MeshLayer, tuple[int, int]]:
    """The mesh rendered only in the window its projection covers: (layer of the window, (top, left)).

    Rasterising the window instead of the whole output keeps time and memory bound by the
    person's size in pixels; the pixels are the same (the window is an integer shift).
    """
    h0, w0 = (int(v) for v in prediction.image_size[i])
    h, w = size
    pix = prediction.vertices_2d[i:i + 1].double()  # (1, V, 2) original pixels
    if (h, w) != (h0, w0):
        pix = (pix + 0.5) * torch.tensor([w / w0, h / h0], dtype=pix.dtype) - 0.5
    finite = torch.isfinite(pix).all(-1)
    if not bool(finite.any()):
        top = left = bottom = right = 0
    else:
        lo, hi = pix[finite].min(0).values, pix[finite].max(0).values
        top, left, bottom, right = _window(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]), size)
    wh, ww = bottom - top, right - left
    if wh == 0 or ww == 0:  # the mesh lies outside the image
        return MeshLayer(rgb=torch.zeros(0, 0, 3), alpha=torch.zeros(0, 0)), (0, 0)
    pix = pix - torch.tensor([left, top], dtype=pix.dtype)
    xy = pixels_to_normalized(pix, (wh, ww)).float()  # (1, V, 2)
    verts = prediction.vertices[i:i + 1].float()  # (1, V, 3) camera frame, for depth and normals
    frags = rasterize(torch.cat([xy, verts[..., 2:]], dim=-1), prediction.faces, (wh, ww))
    rgb = render_shaded(frags, verts, prediction.faces, vertex_colors=vertex_colors)  # (1, 3, wh, ww)
    return MeshLayer(rgb=rgb[0].permute(1, 2, 0).contiguous(), alpha=frags.mask[0].float()), (top, left)


def mesh_layer(prediction, index: int = 0, vertex_colors: torch.Tensor | None = None,
               image_size: tuple[int, int] | None = None) -> MeshLayer:
    """Render one predicted mesh, shaded, in its original image.

    Args:
        prediction: a :class:`~decomr.predict.Prediction`.
        index: which image.
        vertex_colors: (V, 3) float RGB in [0, 1] (e.g. part colours); None: a neutral skin tone.
        image_size: (H, W) to render at (the 2D points are rescaled); default the original size.

    Returns:
        :class:`MeshLayer` at ``image_size``.
    """
    i = prediction.check_index(index)
    size = tuple(image_size) if image_size is not None else tuple(int(v) for v in prediction.image_size[i])
    part, (top, left) = _mesh_window(prediction, i, vertex_colors, size)
    rgb, alpha = torch.zeros(*size, 3), torch.zeros(*size)
    rgb[top:top + part.rgb.shape[0], left:left + part.rgb.shape[1]] = part.rgb
    alpha[top:top + part.alpha.shape[0], left:left + part.alpha.shape[1]] = part.alpha
    return MeshLayer(rgb=rgb, alpha=alpha)


#: Default cap on the long side of overlays and pasted-back IUV images (pixels): a 24-megapixel
#: photo is drawn at 2048 x 1365 instead of 6000 x 4000 (about 9x less time, memory and file size).
MAX_OUTPUT_SIDE = 2048


def output_size(image_size: tuple[int, int], max_side: int | None = MAX_OUTPUT_SIDE) -> tuple[int, int]:
    """(h, w) of an output drawn for an image of ``image_size`` = (H, W), long side at most ``max_side``.

    >>> output_size((4000, 6000)), output_size((480, 640)), output_size((4000, 6000), None)
    ((1365, 2048), (480, 640), (4000, 6000))
    """
    h, w = (int(v) for v in image_size)
    if max_side is None or max(h, w) <= max_side:
        return h, w
    if max_side < 1:
        raise ValueError(f"max_side: expected a positive number of pixels or None, got {max_side}")
    f = max_side / max(h, w)
    return max(1, round(h * f)), max(1, round(w * f))


def _scaled_crop(prediction, i: int, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The crop's centre and scale in an output of ``size`` = (h, w) instead of the original image."""
    h0, w0 = (int(v) for v in prediction.image_size[i])
    f = torch.tensor([size[1] / w0, size[0] / h0], dtype=torch.float64)
    center = (prediction.center[i].double() + 0.5) * f - 0.5  # pixel centres at integers
    return center, prediction.scale[i].double() * f.mean()


def iuv_layer(prediction, index: int = 0, max_side: int | None = None) -> torch.Tensor:
    """The predicted IUV image pasted back into the original image.

    Args:
        prediction, index: the prediction and which image.
        max_side: draw at most this many pixels along the long side (None: the original size).

    Returns:
        (3, h, w) float: foreground {0, 1}, u, v (0 off the body and outside the crop).
    """
    i = prediction.check_index(index)
    size = output_size(tuple(int(v) for v in prediction.image_size[i]), max_side)
    center, scale = _scaled_crop(prediction, i, size)
    out = torch.zeros(prediction.iuv.shape[1], *size, dtype=prediction.iuv.dtype)
    half = 0.5 * PIXELS_PER_SCALE * float(scale)  # only the crop's window is pasted into (same pixels)
    top, left, bottom, right = _window(float(center[0]) - half, float(center[1]) - half,
                                       float(center[0]) + half, float(center[1]) + half, size)
    if bottom > top and right > left:
        shift = torch.tensor([left, top], dtype=torch.float64)
        out[:, top:bottom, left:right] = uncrop_image(prediction.iuv[i], center - shift, scale,
                                                      (bottom - top, right - left), mode="nearest")
    return out


def compose(image: torch.Tensor, layer: torch.Tensor, alpha: torch.Tensor, blend: float = 0.7) -> torch.Tensor:
    """``image * (1 - blend * alpha) + layer * blend * alpha``.

    Args:
        image: (H, W, 3) float in [0, 1].
        layer: (H, W, 3) float in [0, 1].
        alpha: (H, W) float coverage of the layer.
        blend: opacity in [0, 1].

    Returns:
        (H, W, 3) float in [0, 1].
    """
    if not 0.0 <= blend <= 1.0:
        raise ValueError(f"blend: expected a value in [0, 1], got {blend}")
    if image.shape != layer.shape or image.shape[:2] != alpha.shape:
        raise ValueError(f"image/layer/alpha: expected (H, W, 3), (H, W, 3), (H, W), got {tuple(image.shape)}, "
                         f"{tuple(layer.shape)}, {tuple(alpha.shape)}")
    a = (blend * alpha.float())[..., None]
    return (image.float() * (1 - a) + layer.float() * a).clamp(0, 1)


def overlay_image(image: torch.Tensor, prediction, index: int = 0, blend: float = 0.7,
                  vertex_colors: torch.Tensor | None = None, max_side: int | None = None) -> torch.Tensor:
    """The predicted mesh drawn over its original image.

    Args:
        image: (3, H, W) float in [0, 1] or uint8 in 0..255, the original image (uint8 is
            resized before it becomes float: a big photo is never held as floats at full size).
        prediction, index: the prediction and which image.
        blend: mesh opacity.
        vertex_colors: see :func:`mesh_layer`.
        max_side: draw at most this many pixels along the long side (the image is downscaled
            with antialiasing first); None: the original size.

    Returns:
        (h, w, 3) float in [0, 1] (``h, w = output_size((H, W), max_side)``).
    """
    i = prediction.check_index(index)
    size = tuple(int(v) for v in prediction.image_size[i])
    if image.dim() != 3 or image.shape[0] != 3 or tuple(image.shape[1:]) != size:
        raise ValueError(f"image: expected the original image (3, {size[0]}, {size[1]}), got {tuple(image.shape)}")
    out = output_size(size, max_side)
    picture = image.detach().cpu()
    if out != size:
        picture = torch.nn.functional.interpolate(picture[None], size=out, mode="bilinear", antialias=True,
                                                  align_corners=False)[0]
    picture = picture.float().div_(255.0) if picture.dtype == torch.uint8 else picture.float().clamp(0, 1)
    picture = picture.permute(1, 2, 0).contiguous()  # (h, w, 3)
    layer, (top, left) = _mesh_window(prediction, i, vertex_colors, out)
    region = picture[top:top + layer.rgb.shape[0], left:left + layer.rgb.shape[1]]
    region.copy_(compose(region, layer.rgb, layer.alpha, blend))  # only the mesh's window changes
    return picture
