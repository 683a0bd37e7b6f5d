"""Images made from fragments: IUV, masks, part labels, depth and simply shaded RGB.

These are the supervision signals of CNet (Sec. 3.2): the foreground mask (Eq. 1) and the
(u, v) coordinates of the visible surface point (Sec. 3.1; the target of Eq. 4), rendered for any UV atlas from its
per-corner UVs (``atlas.corner_uv()``, (F, 3, 2)). Per-corner UVs keep faces on the atlas'
seams right: each face interpolates its own corners, never a neighbour's.

``render_body`` chains a camera (:mod:`decomr.render.cameras`), :func:`rasterize` and the
functions below and returns a :class:`RenderOutput`.

Example:
    >>> import torch
    >>> verts = torch.tensor([[[-0.9, -0.9, 2.0], [0.9, -0.9, 2.0], [0.0, 0.9, 2.0]]])
    >>> faces = torch.tensor([[0, 1, 2]])
    >>> out = render_body(verts, faces, torch.tensor([[1.0, 0.0, 0.0]]), image_size=(16, 16),
    ...                   corner_uv=torch.rand(1, 3, 2))
    >>> out.iuv.shape, out.mask.shape, out.rgb.shape
    (torch.Size([1, 3, 16, 16]), torch.Size([1, 1, 16, 16]), torch.Size([1, 3, 16, 16]))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from decomr.render.cameras import PerspectiveCamera, weak_perspective_vertices
from decomr.render.rasterizer import (
    Fragments,
    _check_fragments,
    _gather_visible,
    _scatter_image,
    interpolate_face_attrs,
    rasterize,
)

__all__ = [
    "RenderOutput",
    "render_body",
    "render_iuv",
    "render_mask",
    "render_parts",
    "render_depth",
    "render_shaded",
    "vertex_normals",
    "DEFAULT_LIGHT_DIR",
    "DEFAULT_BODY_COLOR",
]

DEFAULT_LIGHT_DIR = (0.3, -0.5, -1.0)  # towards the light, camera frame: upper right, in front
DEFAULT_BODY_COLOR = (0.75, 0.62, 0.53)  # a neutral skin tone


def render_mask(frags: Fragments) -> Tensor:
    """(B, 1, H, W) float foreground mask in {0, 1} (Eq. 1's target)."""
    _check_fragments(frags)
    return frags.mask.unsqueeze(1).to(frags.bary.dtype)


def render_depth(frags: Fragments) -> Tensor:
    """(B, 1, H, W) float depth of the visible surface, 0 on the background."""
    _check_fragments(frags)
    return frags.depth.unsqueeze(1)


def render_iuv(frags: Fragments, corner_uv: Tensor) -> Tensor:
    """IUV image (:mod:`decomr.conventions`): channel 0 the mask, channels 1-2 the (u, v) of the surface.

    Args:
        frags: output of :func:`rasterize`.
        corner_uv: (F, 3, 2) or (B, F, 3, 2) float in [0, 1], UV of each face corner
            (``atlas.corner_uv()``).

    Returns:
        (B, 3, H, W) float; (u, v) = 0 on the background (Eq. 4's target).
    """
    _check_fragments(frags)
    if not torch.is_tensor(corner_uv) or corner_uv.dim() not in (3, 4) or tuple(corner_uv.shape[-2:]) != (3, 2):
        raise ValueError(
            f"corner_uv: expected (F, 3, 2) or (B, F, 3, 2), received {tuple(getattr(corner_uv, 'shape', ()))}"
        )
    uv = interpolate_face_attrs(frags, corner_uv)  # (B, 2, H, W)
    return torch.cat([render_mask(frags).to(uv.dtype), uv], dim=1)  # (B, 3, H, W)


def render_parts(frags: Fragments, faces: Tensor, vertex_labels: Tensor, background: int = 0) -> Tensor:
    """Part-label image: the label of the visible face's corner with the largest barycentric.

    Args:
        frags: output of :func:`rasterize`.
        faces: (F, 3) long, the faces that were rasterised.
        vertex_labels: (V,) or (B, V) long, e.g. ``body.lsp_parts`` (1..6).
        background: label of background pixels.

    Returns:
        (B, H, W) long.
    """
    _check_fragments(frags)
    if not torch.is_tensor(faces) or faces.dim() != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces: expected (F, 3), received {tuple(getattr(faces, 'shape', ()))}")
    if not torch.is_tensor(vertex_labels) or vertex_labels.dim() not in (1, 2) or vertex_labels.is_floating_point():
        raise ValueError(
            f"vertex_labels: expected an integer (V,) or (B, V) tensor, received "
            f"{tuple(vertex_labels.shape) if torch.is_tensor(vertex_labels) else type(vertex_labels).__name__}"
        )
    if vertex_labels.dim() == 2 and vertex_labels.shape[0] != frags.batch_size:
        raise ValueError(
            f"vertex_labels: expected batch size {frags.batch_size}, received {tuple(vertex_labels.shape)}"
        )
    pix, item, face, bary = _gather_visible(frags)
    corner = bary.argmax(dim=1, keepdim=True)  # (M, 1)
    vert = faces.to(pix.device).long()[face].gather(1, corner).squeeze(1)  # (M,)
    labels = vertex_labels.to(pix.device).long()
    lab = labels[vert] if labels.dim() == 1 else labels[item, vert]  # (M,)
    out = torch.full((frags.face_idx.numel(),), int(background), dtype=torch.long, device=pix.device)
    out[pix] = lab
    return out.view_as(frags.face_idx)


def vertex_normals(verts: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted unit vertex normals (right-hand rule on the face winding).

    Args:
        verts: (B, V, 3) float.
        faces: (F, 3) long.

    Returns:
        (B, V, 3) unit normals (0 for isolated vertices).
    """
    if not torch.is_tensor(verts) or verts.dim() != 3 or verts.shape[-1] != 3:
        raise ValueError(f"verts: expected (B, V, 3), received {tuple(getattr(verts, 'shape', ()))}")
    faces = faces.to(verts.device).long()
    tri = verts[:, faces]  # (B, F, 3, 3)
    face_n = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)  # (B, F, 3)
    normals = torch.zeros_like(verts)
    for k in range(3):
        normals = normals.index_add(1, faces[:, k], face_n)
    return torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)


def render_shaded(
    frags: Fragments,
    verts: Tensor,
    faces: Tensor,
    vertex_colors: Tensor | Sequence[float] | None = None,
    light_dir: Tensor | Sequence[float] = DEFAULT_LIGHT_DIR,
    ambient: float = 0.45,
    diffuse: float = 0.65,
    background: Tensor | Sequence[float] | float = 0.0,
    two_sided: bool = True,
) -> Tensor:
    """Lambertian shading with one directional light plus ambient light, smooth normals.

    ``rgb = color * (ambient + diffuse * max(0, n . l))`` with ``n`` the interpolated vertex
    normal, flipped towards the camera (looking along +z) when ``two_sided``.

    Args:
        frags: output of :func:`rasterize` of these vertices.
        verts: (B, V, 3) float, camera-frame positions (for the normals).
        faces: (F, 3) long.
        vertex_colors: (B, V, 3) or (V, 3) float in [0, 1], or one RGB triple for all vertices;
            None: :data:`DEFAULT_BODY_COLOR`.
        light_dir: (3,) direction towards the light in the camera frame (or (B, 3)).
        ambient: ambient intensity.
        diffuse: diffuse intensity.
        background: background colour, a float or an RGB triple.
        two_sided: light back faces as if they faced the camera.

    Returns:
        (B, 3, H, W) float in [0, 1].
    """
    _check_fragments(frags)
    if not torch.is_tensor(verts) or verts.dim() != 3 or verts.shape[-1] != 3 or verts.shape[0] != frags.batch_size:
        raise ValueError(
            f"verts: expected (B, V, 3) with B = {frags.batch_size}, received {tuple(getattr(verts, 'shape', ()))}"
        )
    batch, num_verts = verts.shape[:2]
    dtype, device = verts.dtype, verts.device
    if vertex_colors is None:
        vertex_colors = DEFAULT_BODY_COLOR
    colors = torch.as_tensor(vertex_colors, dtype=dtype, device=device)
    if colors.dim() == 1:
        colors = colors.expand(num_verts, 3)
    if colors.dim() not in (2, 3) or colors.shape[-1] != 3 or colors.shape[-2] != num_verts or (
        colors.dim() == 3 and colors.shape[0] != batch
    ):
        raise ValueError(f"vertex_colors: expected (B, V, 3), (V, 3) or (3,), received {tuple(colors.shape)}")
    if colors.dim() == 2:
        colors = colors.expand(batch, -1, -1)
    light = torch.as_tensor(light_dir, dtype=dtype, device=device)
    if light.shape not in ((3,), (batch, 3)):
        raise ValueError(f"light_dir: expected (3,) or (B, 3), received {tuple(light.shape)}")
    light = torch.nn.functional.normalize(light.expand(batch, 3), dim=-1)  # (B, 3)

    normals = vertex_normals(verts, faces)  # (B, V, 3)
    attrs = torch.cat([normals, colors], dim=-1)  # (B, V, 6)
    pix, item, face, bary = _gather_visible(frags)
    vidx = faces.to(device).long()[face] + (item * num_verts)[:, None]  # (M, 3)
    corner = attrs.reshape(-1, 6)[vidx]  # (M, 3, 6)
    values = (bary.to(dtype).unsqueeze(-1) * corner).sum(dim=1)  # (M, 6)
    n = torch.nn.functional.normalize(values[:, :3], dim=-1, eps=1e-12)  # (M, 3)
    if two_sided:
        n = torch.where(n[:, 2:3] > 0, -n, n)  # face the camera (which looks along +z)
    lambert = (n * light[item]).sum(dim=-1).clamp_min(0.0)  # (M,)
    rgb = (values[:, 3:] * (ambient + diffuse * lambert)[:, None]).clamp(0.0, 1.0)  # (M, 3)
    image = _scatter_image(frags, pix, rgb)  # (B, 3, H, W)
    bg = torch.as_tensor(background, dtype=dtype, device=device).reshape(-1)
    if bg.numel() not in (1, 3):
        raise ValueError(f"background: expected a float or an RGB triple, received {tuple(bg.shape)}")
    if bool((bg != 0).any()):
        fg = frags.mask.unsqueeze(1)
        image = torch.where(fg, image, bg.view(1, -1, 1, 1).expand_as(image))
    return image


@dataclass(frozen=True)
class RenderOutput:
    """Everything :func:`render_body` draws (fields not asked for are None).

    Attributes:
        fragments: the :class:`Fragments` (face index, barycentrics, depth per pixel).
        vertices: (B, V, 3) rasteriser-ready vertices (normalised x, y; depth z).
        mask: (B, 1, H, W) float in {0, 1}.
        depth: (B, 1, H, W) float, 0 on the background.
        iuv: (B, 3, H, W) float (mask, u, v) when ``corner_uv`` was given.
        parts: (B, H, W) long when ``vertex_labels`` was given (0 = background).
        rgb: (B, 3, H, W) float in [0, 1] when ``shade`` is True.
    """

    fragments: Fragments
    vertices: Tensor
    mask: Tensor
    depth: Tensor
    iuv: Tensor | None = None
    parts: Tensor | None = None
    rgb: Tensor | None = None


def render_body(
    verts_cam: Tensor,
    faces: Tensor,
    camera: Tensor | PerspectiveCamera,
    image_size: tuple[int, int] | int,
    corner_uv: Tensor | None = None,
    vertex_labels: Tensor | None = None,
    vertex_colors: Tensor | Sequence[float] | None = None,
    shade: bool = True,
    background: Tensor | Sequence[float] | float = 0.0,
    light_dir: Tensor | Sequence[float] = DEFAULT_LIGHT_DIR,
    cull_backfaces: bool = False,
    chunk: int | None = None,
) -> RenderOutput:
    """Render meshes given in the camera frame: mask, depth and optionally IUV, parts, RGB.

    Args:
        verts_cam: (B, V, 3) float, camera frame (OpenCV: x right, y down, z forward), metres.
        faces: (F, 3) long.
        camera: (B, 3) weak-perspective ``[s, tx, ty]`` (the paper's camera), or a
            :class:`PerspectiveCamera` (then rasterised perspective-correctly).
        image_size: (H, W) or one int.
        corner_uv: (F, 3, 2) per-corner UVs (``atlas.corner_uv()``) for the IUV image, or None.
        vertex_labels: (V,) or (B, V) long per-vertex labels for the part image, or None.
        vertex_colors: colours for the shaded image (see :func:`render_shaded`).
        shade: whether to compute the shaded RGB image.
        background: background colour of the RGB image.
        light_dir: (3,) direction towards the light, camera frame.
        cull_backfaces: see :func:`rasterize`.
        chunk: see :func:`rasterize`.

    Returns:
        :class:`RenderOutput`.
    """
    perspective = isinstance(camera, PerspectiveCamera)
    raster_verts = camera.vertices(verts_cam) if perspective else weak_perspective_vertices(verts_cam, camera)
    frags = rasterize(raster_verts, faces, image_size, perspective_correct=perspective,
                      cull_backfaces=cull_backfaces, chunk=chunk)
    return RenderOutput(
        fragments=frags,
        vertices=raster_verts,
        mask=render_mask(frags),
        depth=render_depth(frags),
        iuv=render_iuv(frags, corner_uv) if corner_uv is not None else None,
        parts=render_parts(frags, faces, vertex_labels) if vertex_labels is not None else None,
        rgb=render_shaded(frags, verts_cam, faces, vertex_colors, light_dir=light_dir, background=background)
        if shade
        else None,
    )


def iuv_colors(iuv: torch.Tensor) -> torch.Tensor:
    """The one colouring of an IUV image used everywhere (figures, overlays, the predictor):
    u red, v green, 0.4 blue on the body, black on the background.

    Args:
        iuv: (3, H, W) IUV image (mask, u, v; :mod:`decomr.conventions`).

    Returns:
        (H, W, 3) float in [0, 1], on ``iuv``'s device.
    """
    iuv = torch.as_tensor(iuv)
    if iuv.dim() != 3 or iuv.shape[0] != 3:
        raise ValueError(f"iuv: expected (3, H, W), got {tuple(iuv.shape)}")
    x = iuv.detach().float()
    fg = (x[0] > 0.5).float()
    return torch.stack([x[1] * fg, x[2] * fg, 0.4 * fg], dim=-1).clamp(0, 1)
