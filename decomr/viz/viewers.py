"""Interactive viewers of predictions for notebooks (ipywidgets + plotly), one call each.

* :func:`prediction_mesh_viewer` — the predicted 3D mesh (plotly: drag to rotate, scroll to
  zoom), coloured by LSP part (Table 4), by Eq. 6's weight groups, by depth, or by a per-vertex
  error (e.g. mm against a ground truth); view buttons (front / side / back / top) and an image
  selector when the prediction holds several images.
* :func:`iuv_overlay_viewer` — the input (crop or original image) with a layer on top: the
  predicted IUV image, the shaded mesh, the mesh coloured by part, or the foreground mask, with a
  slider for the blend.
* :func:`show_prediction` — both, side by side.

The meshes are shown in OpenGL's frame (y up, the viewer at +z): the camera frame rotated by 180
degrees about x, so "front" is what the camera saw. The mesh figure is a plotly ``FigureWidget``
(needs ``anywidget`` with plotly >= 6); without it the viewer redraws a static figure in an
``ipywidgets.Output``.

Example (in a notebook)::

    pred = predictor.predict(["a.jpg", "b.jpg"])
    show_prediction(pred, images=["a.jpg", "b.jpg"], body=predictor.body)
"""
from __future__ import annotations

import dataclasses
import io
from typing import Any

import numpy as np
import torch

from decomr.predict.images import as_image_list
from decomr.predict.overlay import compose, iuv_colors, iuv_layer, mesh_layer
from decomr.predict.predictor import crop_to_image, whole_image_center_scale
from decomr.viz.body_viewer import PlotlyMeshViewer, mesh_figure, part_colors, scalar_colors
from decomr.viz.colors import MESH_COLOR, lsp_part_rgb, weight_group_rgb
from decomr.viz.static import StaticFallback

__all__ = [
    "VIEW_EYES", "MESH_COLORINGS", "OVERLAY_LAYERS",
    "PredictionMeshViewer", "prediction_mesh_viewer",
    "IUVOverlayViewer", "iuv_overlay_viewer",
    "show_prediction", "crop_frame", "part_vertex_colors",
]

#: plotly camera eyes of the view buttons (OpenGL frame: y up, the body faces +z).
VIEW_EYES: dict[str, dict[str, float]] = {
    "front": dict(x=0.0, y=0.1, z=1.7), "side": dict(x=1.7, y=0.1, z=0.0),
    "back": dict(x=0.0, y=0.1, z=-1.7), "top": dict(x=0.0, y=1.8, z=0.25),
}
#: Colourings of the mesh viewer ("error" only when per-vertex errors are given).
MESH_COLORINGS = ("parts", "weight groups", "depth", "error", "plain")
#: Layers of the overlay viewer ("parts" only when a body with part labels is given).
OVERLAY_LAYERS = ("IUV", "mesh", "parts", "mask")


# ---------------------------------------------------------------------------------- helpers
def _check_prediction(prediction: Any) -> None:
    for name in ("vertices", "faces", "iuv", "crops", "vertices_2d", "image_size", "center", "scale"):
        if not hasattr(prediction, name):
            raise ValueError(f"prediction: expected a decomr.predict.Prediction, got {type(prediction).__name__} "
                             f"(no {name!r})")


def _png(rgb: np.ndarray | torch.Tensor) -> bytes:
    from PIL import Image

    arr = rgb.detach().cpu().numpy() if torch.is_tensor(rgb) else np.asarray(rgb)
    if arr.dtype != np.uint8:
        arr = np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def part_vertex_colors(body: Any, kind: str = "parts") -> torch.Tensor:
    """(V, 3) float RGB of each vertex's LSP part (``"parts"``) or Eq. 6 weight group (``"weight groups"``)."""
    if kind not in ("parts", "weight groups"):
        raise ValueError(f"kind: expected 'parts' or 'weight groups', got {kind!r}")
    rgb = lsp_part_rgb(body.lsp_parts) if kind == "parts" else weight_group_rgb(body.weight_parts)
    return torch.from_numpy(rgb).float()


def crop_frame(prediction: Any, index: int = 0) -> Any:
    """One prediction re-expressed in its crop: the crop becomes "the image" (S x S pixels).

    Returns:
        a Prediction of batch 1 whose ``center``/``scale``/``image_size`` describe the crop itself
        and whose 2D points are crop pixels, so that :mod:`decomr.predict.overlay` draws in the crop.
    """
    p = prediction.item(prediction.check_index(index))
    s = int(p.crops.shape[-1])
    c, sc = whole_image_center_scale(s, s)
    center, scale = c[None], sc[None]

    def remap(points_2d: torch.Tensor) -> torch.Tensor:  # original pixels -> crop pixels
        n = (points_2d.double() - p.center[:, None, :]) / (100.0 * p.scale[:, None, None])  # normalised crop
        return crop_to_image(n, center, scale).to(points_2d.dtype)

    return dataclasses.replace(
        p, center=center, scale=scale, image_size=torch.tensor([[s, s]], dtype=torch.int64),
        vertices_2d=remap(p.vertices_2d), joints_2d=remap(p.joints_2d), lsp_joints_2d=remap(p.lsp_joints_2d),
    )


def original_images(prediction: Any, images: Any) -> list[torch.Tensor] | None:
    """The original images of a prediction (anything ``Predictor.predict`` accepts) as (3, H, W)
    tensors, checked against ``prediction.image_size``; None for None."""
    if images is None:
        return None
    out = as_image_list(images)
    if len(out) != len(prediction):
        raise ValueError(f"images: expected the {len(prediction)} original images of the prediction, got {len(out)}")
    for k, img in enumerate(out):
        size = tuple(int(v) for v in prediction.image_size[k])
        if tuple(img.shape[-2:]) != size:
            raise ValueError(f"images[{k}]: expected the original size {size}, got {tuple(img.shape[-2:])}")
    return out


def image_frame(prediction: Any, images: list[torch.Tensor] | None, index: int) -> tuple[Any, torch.Tensor]:
    """(image ``index`` of the prediction in the frame drawn in, its background (H, W, 3) float).

    The frame is the original image (``images`` from :func:`original_images`) or, when ``images``
    is None, the network's crop (:func:`crop_frame`).
    """
    if images is None:
        p = crop_frame(prediction, index)
        return p, p.crops[0].permute(1, 2, 0).float()
    return prediction.item(index), images[index].detach().cpu().permute(1, 2, 0).float()


# ---------------------------------------------------------------------------------- mesh viewer
class PredictionMeshViewer(PlotlyMeshViewer):
    """3D viewer of predicted meshes; built by :func:`prediction_mesh_viewer`, displays itself.

    Attributes:
        figure: the plotly figure (``FigureWidget`` when available).
        color_menu, view_buttons, index_menu: the controls (``index_menu`` is None for one image).
        widget: the whole ipywidgets layout.
    """

    def __init__(self, prediction: Any, body: Any = None, index: int = 0, color_by: str = "parts",
                 errors: Any = None, error_label: str = "error (mm)", colorscale: str = "Viridis",
                 height: int = 520) -> None:
        import ipywidgets as W

        _check_prediction(prediction)
        self.prediction = prediction
        self.body = body
        self.index = prediction.check_index(index)
        self.faces = prediction.faces.detach().cpu().numpy()
        n, v = len(prediction), int(prediction.vertices.shape[1])
        self.errors = None
        if errors is not None:
            e = torch.as_tensor(errors).detach().float().cpu()
            if e.dim() == 1:
                e = e[None].expand(n, -1)
            if tuple(e.shape) != (n, v):
                raise ValueError(f"errors: expected ({v},) or ({n}, {v}) per-vertex values, got {tuple(e.shape)}")
            self.errors = e.numpy()
        self.error_label = error_label
        self.colorscale = colorscale
        has_parts = body is not None and hasattr(body, "lsp_parts") and hasattr(body, "weight_parts")
        options = [c for c in MESH_COLORINGS
                   if (c not in ("parts", "weight groups") or has_parts) and (c != "error" or self.errors is not None)]
        if color_by not in options:
            raise ValueError(f"color_by: expected one of {options} (parts need `body`, error needs `errors`), got {color_by!r}")

        static = mesh_figure(self._vertices(), self.faces, **self._color_kwargs(color_by))
        static.update_layout(height=height, scene_camera=dict(eye=VIEW_EYES["front"], up=dict(x=0, y=1, z=0)))
        view = self._init_figure(static)

        style = {"description_width": "60px"}
        self.color_menu = W.Dropdown(options=options, value=color_by, description="colour", style=style,
                                     layout=W.Layout(width="220px"))
        self.view_buttons = W.ToggleButtons(options=list(VIEW_EYES), value="front", description="view",
                                            style={**style, "button_width": "58px"})
        self.index_menu = (W.Dropdown(options=list(range(n)), value=self.index, description="image", style=style,
                                      layout=W.Layout(width="160px")) if n > 1 else None)
        self.color_menu.observe(lambda ch: self.set_color(ch["new"]), names="value")
        self.view_buttons.observe(lambda ch: self.set_view(ch["new"]), names="value")
        if self.index_menu is not None:
            self.index_menu.observe(lambda ch: self.set_index(ch["new"]), names="value")
        controls = [self.color_menu, self.view_buttons] + ([self.index_menu] if self.index_menu is not None else [])
        self.widget = W.VBox([W.HBox(controls[:1] + controls[2:]), self.view_buttons, view])
        self._redraw()

    # ---------------------------------------------------------------- data
    def _vertices(self) -> np.ndarray:
        v = self.prediction.vertices[self.index].detach().float().cpu().numpy()
        return v * np.array([1.0, -1.0, -1.0])  # camera frame -> OpenGL (y up, towards the viewer)

    def _color_kwargs(self, mode: str) -> dict[str, Any]:
        """Mesh3d colour properties for a colouring (all keys set, so switching modes resets the others)."""
        kw: dict[str, Any] = dict(color=None, facecolor=None, intensity=None, showscale=False)
        if mode in ("parts", "weight groups"):
            kw.update(part_colors(self.body, "parts" if mode == "parts" else "weight", self.faces))
        elif mode == "depth":
            depth = self.prediction.vertices[self.index, :, 2].detach().cpu().numpy()
            kw.update(scalar_colors(depth, self.colorscale, "depth (m)"))
        elif mode == "error":
            kw.update(scalar_colors(self.errors[self.index], self.colorscale, self.error_label))
        else:
            kw["color"] = MESH_COLOR
        return kw

    # ---------------------------------------------------------------- actions
    def set_color(self, mode: str) -> None:
        """Switch the colouring (one of :attr:`color_menu`'s options)."""
        if mode not in self.color_menu.options:
            raise ValueError(f"mode: expected one of {list(self.color_menu.options)}, got {mode!r}")
        self.color_menu.value = mode
        self.figure.data[0].update(**self._color_kwargs(mode))
        self._redraw()

    def set_view(self, view: str) -> None:
        """Look from ``"front"``, ``"side"``, ``"back"`` or ``"top"``."""
        if view not in VIEW_EYES:
            raise ValueError(f"view: expected one of {list(VIEW_EYES)}, got {view!r}")
        self.view_buttons.value = view
        self.figure.layout.scene.camera.eye = VIEW_EYES[view]
        self._redraw()

    def set_index(self, index: int) -> None:
        """Show the mesh of another image of the prediction."""
        self.index = self.prediction.check_index(index)
        self._set_vertices(self._vertices())
        if self.color_menu.value in ("depth", "error"):
            self.figure.data[0].update(**self._color_kwargs(self.color_menu.value))
        if self.index_menu is not None and self.index_menu.value != self.index:
            self.index_menu.value = self.index
        self._redraw()


def prediction_mesh_viewer(prediction: Any, body: Any = None, index: int = 0, color_by: str | None = None,
                           errors: Any = None, error_label: str = "error (mm)", colorscale: str = "Viridis",
                           height: int = 520) -> PredictionMeshViewer:
    """An interactive 3D view of predicted meshes (drag to rotate).

    Args:
        prediction: a :class:`~decomr.predict.Prediction`.
        body: its body model (``predictor.body``) for the part colourings; optional.
        index: which image to show first.
        color_by: ``"parts"`` (Table 4's LSP parts), ``"weight groups"`` (Eq. 6), ``"depth"``,
            ``"error"`` (needs ``errors``) or ``"plain"``; default: error if given, else parts if
            ``body`` is given, else depth.
        errors: (V,) or (B, V) per-vertex values (e.g. the per-vertex error in mm).
        error_label: colour-bar title of ``errors``.
        colorscale: plotly colour scale of scalar colourings.
        height: figure height in pixels.

    Returns:
        :class:`PredictionMeshViewer` (the last expression of a cell displays it).
    """
    if color_by is None:
        color_by = "error" if errors is not None else "parts" if body is not None else "depth"
    return PredictionMeshViewer(prediction, body, index, color_by, errors, error_label, colorscale, height)


# ---------------------------------------------------------------------------------- overlay viewer
class IUVOverlayViewer(StaticFallback):
    """Image + IUV / mesh / part / mask layer with a blend slider; built by :func:`iuv_overlay_viewer`.

    Attributes:
        layer_buttons, blend_slider, index_menu: the controls (``index_menu`` None for one image).
        image: the ``ipywidgets.Image`` showing the composite.
        widget: the whole layout.
    """

    def __init__(self, prediction: Any, images: Any = None, index: int = 0, body: Any = None, layer: str = "IUV",
                 blend: float = 0.6, width: int = 384) -> None:
        import ipywidgets as W

        _check_prediction(prediction)
        self.prediction = prediction
        self.body = body
        self.index = prediction.check_index(index)
        n = len(prediction)
        self.images = original_images(prediction, images)
        options = [o for o in OVERLAY_LAYERS if o != "parts" or (body is not None and hasattr(body, "lsp_parts"))]
        if layer not in options:
            raise ValueError(f"layer: expected one of {options} ('parts' needs `body`), got {layer!r}")
        if not 0.0 <= blend <= 1.0:
            raise ValueError(f"blend: expected a value in [0, 1], got {blend}")
        self._cache: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}
        style = {"description_width": "60px"}
        self.layer_buttons = W.ToggleButtons(options=options, value=layer, description="layer",
                                             style={**style, "button_width": "58px"})
        self.blend_slider = W.FloatSlider(value=blend, min=0.0, max=1.0, step=0.05, description="blend",
                                          continuous_update=True, style=style, layout=W.Layout(width="320px"))
        self.index_menu = (W.Dropdown(options=list(range(n)), value=self.index, description="image", style=style,
                                      layout=W.Layout(width="160px")) if n > 1 else None)
        self.image = W.Image(format="png", layout=W.Layout(width=f"{width}px"))
        for control in (self.layer_buttons, self.blend_slider, self.index_menu):
            if control is not None:
                control.observe(self._on_change, names="value")
        top = [self.layer_buttons] + ([self.index_menu] if self.index_menu is not None else [])
        self.widget = W.VBox([W.HBox(top), self.blend_slider, self.image])
        self.update()

    # ---------------------------------------------------------------- layers
    def _frame(self) -> tuple[Any, torch.Tensor]:
        """(prediction of this image in the shown frame, background (H, W, 3))."""
        return image_frame(self.prediction, self.images, self.index)

    def layer(self, name: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(rgb (H, W, 3), alpha (H, W)) of a layer for the current image (cached)."""
        name = name or self.layer_buttons.value
        key = (self.index, name)
        if key not in self._cache:
            p, _ = self._frame()
            if name in ("IUV", "mask"):
                iuv = iuv_layer(p, 0)  # (3, H, W)
                alpha = (iuv[0] > 0.5).float()
                rgb = iuv_colors(iuv) if name == "IUV" else torch.tensor([1.0, 0.85, 0.1]).expand(*alpha.shape, 3)
            else:
                colors = part_vertex_colors(self.body, "parts") if name == "parts" else None
                out = mesh_layer(p, 0, vertex_colors=colors)
                rgb, alpha = out.rgb, out.alpha
            self._cache[key] = (rgb.float(), alpha.float())
        return self._cache[key]

    def composite(self) -> torch.Tensor:
        """(H, W, 3) float: the background with the current layer blended in."""
        _, background = self._frame()
        rgb, alpha = self.layer()
        return compose(background, rgb, alpha, float(self.blend_slider.value))

    def update(self) -> None:
        """Recompute the shown image from the controls."""
        self.image.value = _png(self.composite())

    def _on_change(self, change=None) -> None:
        if self.index_menu is not None:
            self.index = int(self.index_menu.value)
        self.update()

    def snapshot(self) -> bytes:
        """PNG of the current composite (the static fallback of :mod:`decomr.viz.static`)."""
        return bytes(self.image.value)


def iuv_overlay_viewer(prediction: Any, images: Any = None, index: int = 0, body: Any = None, layer: str = "IUV",
                       blend: float = 0.6, width: int = 384) -> IUVOverlayViewer:
    """The input with the predicted IUV image, mesh, parts or mask on top, and a blend slider.

    Args:
        prediction: a :class:`~decomr.predict.Prediction`.
        images: the original images (paths, arrays or tensors as for ``Predictor.predict``) to
            draw in; None: draw in the network's crops (``prediction.crops``).
        index: which image to show first.
        body: the body model, for the ``"parts"`` layer.
        layer: first layer: ``"IUV"``, ``"mesh"``, ``"parts"`` or ``"mask"``.
        blend: initial opacity of the layer in [0, 1].
        width: displayed width in pixels.

    Returns:
        :class:`IUVOverlayViewer`.
    """
    return IUVOverlayViewer(prediction, images, index, body, layer, blend, width)


def show_prediction(prediction: Any, images: Any = None, body: Any = None, index: int = 0,
                    errors: Any = None, height: int = 460) -> Any:
    """Both viewers side by side: the overlay (left) and the 3D mesh (right).

    Args:
        prediction, images, body, index: see :func:`iuv_overlay_viewer`.
        errors: per-vertex errors for the mesh viewer (see :func:`prediction_mesh_viewer`).
        height: height of the 3D view.

    Returns:
        :class:`PredictionViewers` (``.widget``, ``.overlay``, ``.mesh``).
    """
    import ipywidgets as W

    overlay = iuv_overlay_viewer(prediction, images, index, body, width=height - 60)
    mesh = prediction_mesh_viewer(prediction, body, index, errors=errors, height=height)
    if overlay.index_menu is not None:  # one image menu drives both viewers
        mesh.index_menu.layout.display = "none"
        overlay.index_menu.observe(lambda change: mesh.set_index(change["new"]), names="value")
    return PredictionViewers(W.HBox([overlay.widget, mesh.widget]), overlay, mesh)


class PredictionViewers(StaticFallback):
    """The two viewers of :func:`show_prediction` side by side; displays itself.

    Attributes:
        widget: the ``ipywidgets.HBox``; overlay, mesh: the two viewers.
    """

    def __init__(self, widget: Any, overlay: "IUVOverlayViewer", mesh: "PredictionMeshViewer") -> None:
        self.widget, self.overlay, self.mesh = widget, overlay, mesh

    def snapshot(self) -> bytes:
        """Both viewers' pictures side by side (the static fallback of :mod:`decomr.viz.static`)."""
        from PIL import Image

        a, b = (Image.open(io.BytesIO(v.snapshot())).convert("RGB") for v in (self.overlay, self.mesh))
        h = max(a.height, b.height)
        out = Image.new("RGB", (a.width + b.width, h), "white")
        out.paste(a, (0, (h - a.height) // 2))
        out.paste(b, (a.width, (h - b.height) // 2))
        return _png(np.asarray(out))
