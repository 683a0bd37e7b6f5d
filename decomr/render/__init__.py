"""A pure-PyTorch rasteriser for IUV images, masks, part maps and shaded images (Sec. 3.2).

No OpenDR / neural_renderer / pytorch3d: :func:`rasterize` is a z-buffered triangle rasteriser
made of vectorised tensor ops (CPU and CUDA, batched, bounded memory); :mod:`.cameras` holds the
paper's weak-perspective camera and a pinhole camera; :mod:`.images` turns fragments into the
images CNet is trained on.

Typical use::

    from decomr.render import render_body
    out = render_body(verts_cam, body.faces, camera, image_size=(56, 56),
                      corner_uv=atlas.corner_uv(), vertex_labels=body.lsp_parts)
    out.iuv   # (B, 3, 56, 56): mask, u, v
"""
from decomr.render.cameras import (
    PerspectiveCamera,
    focal_pixels_to_normalized,
    intrinsics_to_normalized,
    normalized_to_pixel,
    perspective_project,
    perspective_vertices,
    pixel_to_normalized,
    uv_to_normalized,
    weak_perspective_project,
    weak_perspective_to_translation,
    weak_perspective_vertices,
)
from decomr.render.images import (
    RenderOutput,
    render_body,
    render_depth,
    render_iuv,
    render_mask,
    render_parts,
    render_shaded,
    vertex_normals,
)
from decomr.render.rasterizer import Fragments, default_chunk, interpolate_face_attrs, interpolate_vertex_attrs, rasterize

__all__ = [
    "Fragments",
    "rasterize",
    "default_chunk",
    "interpolate_vertex_attrs",
    "interpolate_face_attrs",
    "PerspectiveCamera",
    "weak_perspective_project",
    "weak_perspective_vertices",
    "perspective_project",
    "perspective_vertices",
    "pixel_to_normalized",
    "normalized_to_pixel",
    "uv_to_normalized",
    "focal_pixels_to_normalized",
    "intrinsics_to_normalized",
    "weak_perspective_to_translation",
    "RenderOutput",
    "render_body",
    "render_iuv",
    "render_mask",
    "render_parts",
    "render_depth",
    "render_shaded",
    "vertex_normals",
]
