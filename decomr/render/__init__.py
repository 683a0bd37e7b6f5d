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
from decomr.render import cameras, images, rasterizer
from decomr.render.cameras import *  # noqa: F401,F403
from decomr.render.images import *  # noqa: F401,F403
from decomr.render.rasterizer import *  # noqa: F401,F403

__all__ = [*rasterizer.__all__, *cameras.__all__, *images.__all__]
