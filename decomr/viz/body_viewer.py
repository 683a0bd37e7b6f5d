"""An interactive body-model viewer for notebooks: a plotly ``Mesh3d`` driven by ipywidgets.

One call in a notebook::

    from decomr.body import load
    from decomr.viz.body_viewer import mesh_viewer
    mesh_viewer(load("anny"))                       # coloured by LSP part
    mesh_viewer(load("anny"), color_by=err_mm)      # coloured by a per-vertex scalar

Sliders: the shape parameters (Anny's 6 phenotypes in [0, 1], or SMPL's betas), a named-pose
menu (Anny's pose prior) and a few pose components (shoulders, elbows, hips, knees, spine,
head), within the prior's joint limits. The figure is a plotly ``FigureWidget`` (needs the
``anywidget`` package with plotly >= 6); without it the viewer redraws a static figure in an
``ipywidgets.Output`` instead.

The viewer shows the canonical frame (y up, body facing +z, towards the initial camera).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from decomr.body.pose import POSE_NAMES
from decomr.viz.body_plots import _check_mesh, face_labels
from decomr.viz.colors import MESH_COLOR, lsp_part_rgb, weight_group_rgb
from decomr.viz.static import StaticFallback, plotly_mesh_png

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoseControl:
    """One slider acting on one rotation component of one pose entry.

    The pose entry ``pose[:, index]`` gets ``sign * value`` along the unit ``axis`` (its other
    components are kept), so that a positive slider value means the same motion on both sides.

    Attributes:
        label: slider description.
        index: index into the (P, 3) pose.
        axis: (3,) unit rotation axis in the canonical frame.
        lo, hi: slider range (after the sign).
        sign: +1 or -1.
    """

    label: str
    index: int
    axis: tuple[float, float, float]
    lo: float
    hi: float
    sign: float = 1.0


# (label, Anny bone, component, sign): component 0 = x / hinge, 1 = y, 2 = z (see decomr.body.pose).
_ANNY_CONTROLS: tuple[tuple[str, str, int, float], ...] = (
    ("L arm raise", "upperarm01.L", 2, 1.0), ("R arm raise", "upperarm01.R", 2, -1.0),
    ("L arm forward", "upperarm01.L", 0, -1.0), ("R arm forward", "upperarm01.R", 0, -1.0),
    ("L elbow", "lowerarm01.L", 0, 1.0), ("R elbow", "lowerarm01.R", 0, 1.0),
    ("L hip flex", "upperleg01.L", 0, -1.0), ("R hip flex", "upperleg01.R", 0, -1.0),
    ("L knee", "lowerleg01.L", 0, 1.0), ("R knee", "lowerleg01.R", 0, 1.0),
    ("spine bend", "spine03", 0, 1.0), ("head turn", "head", 1, 1.0),
)
# (label, SMPL joint index, axis, sign, limit): pose index = joint index - 1.
_SMPL_CONTROLS: tuple[tuple[str, int, int, float, float], ...] = (
    ("L arm raise", 16, 2, 1.0, 1.5), ("R arm raise", 17, 2, -1.0, 1.5),
    ("L elbow", 18, 1, -1.0, 2.3), ("R elbow", 19, 1, 1.0, 2.3),
    ("L hip flex", 1, 0, -1.0, 1.8), ("R hip flex", 2, 0, -1.0, 1.8),
    ("L knee", 4, 0, 1.0, 2.2), ("R knee", 5, 0, 1.0, 2.2),
    ("spine bend", 3, 0, 1.0, 0.6), ("head turn", 15, 1, 1.0, 1.0),
)


def default_pose_controls(body) -> list[PoseControl]:
    """Pose sliders for Anny (from its pose prior's limits) or SMPL (fixed ranges); [] otherwise."""
    controls: list[PoseControl] = []
    prior = getattr(body, "prior", None)
    if prior is not None:
        for label, bone, c, sign in _ANNY_CONTROLS:
            if bone not in prior.names:
                continue
            k = prior.names.index(bone)
            lo, hi = sorted((sign * float(prior.lo[k, c]), sign * float(prior.hi[k, c])))
            if hi - lo < 1e-6:
                continue
            axis = tuple(float(a) for a in prior.axes[k, c])
            controls.append(PoseControl(label, int(prior.bone_index[k]), axis, lo, hi, sign))
    elif getattr(body, "name", "") == "smpl":
        for label, joint, c, sign, lim in _SMPL_CONTROLS:
            axis = tuple(float(i == c) for i in range(3))
            controls.append(PoseControl(label, joint - 1, axis, -lim, lim, sign))
    return controls


def part_colors(body, kind: str, faces) -> dict:
    """Mesh3d ``facecolor`` of each face's LSP part (``"parts"``) or Eq. 6 weight group (``"weight"``)."""
    labels = face_labels(body.weight_parts if kind == "weight" else body.lsp_parts, faces)  # (F,)
    rgb = weight_group_rgb(labels) if kind == "weight" else lsp_part_rgb(labels)  # (F, 3)
    q = np.clip(np.round(255 * rgb), 0, 255).astype(int)
    return {"facecolor": [f"rgb({r},{g},{b})" for r, g, b in q]}


def scalar_colors(values, colorscale: str, label: str) -> dict:
    """Mesh3d colour arguments of (V,) per-vertex values, with a colour bar titled ``label``."""
    return {"intensity": np.asarray(values, dtype=np.float64), "colorscale": colorscale, "showscale": True,
            "colorbar": {"title": {"text": label}, "len": 0.6}}


def _color_kwargs(body, color_by, colorscale: str, color_label: str) -> dict:
    """Mesh3d colour arguments for ``color_by`` (see :func:`mesh_viewer`)."""
    if color_by is None:
        return {"color": MESH_COLOR}
    if isinstance(color_by, str):
        if color_by not in ("parts", "lsp", "weight"):
            raise ValueError(f"color_by: expected 'parts', 'weight', None or (V,) values, got {color_by!r}")
        return part_colors(body, color_by, body.faces.cpu().numpy())
    values = color_by.detach().cpu().numpy() if torch.is_tensor(color_by) else np.asarray(color_by)
    if values.shape != (body.num_vertices,):
        raise ValueError(f"color_by: expected ({body.num_vertices},) per-vertex values, got {values.shape}")
    return scalar_colors(values, colorscale, color_label)


def mesh_figure(vertices, faces, **mesh_kwargs):
    """A static plotly figure of one mesh in the canonical frame (y up, seen from the front).

    Args:
        vertices: (V, 3); faces: (F, 3).
        **mesh_kwargs: extra ``go.Mesh3d`` arguments (``facecolor``, ``intensity``, ...).

    Returns:
        ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    v, f = _check_mesh(vertices, faces, np.float32)
    kw = dict(flatshading=False, lighting=dict(ambient=0.45, diffuse=0.7, specular=0.1, roughness=0.8, fresnel=0.1),
              lightposition=dict(x=-100, y=200, z=300), hoverinfo="skip")
    kw.update(mesh_kwargs)
    mesh = go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], **kw)
    fig = go.Figure(mesh)
    hidden = dict(visible=False, showbackground=False)
    fig.update_layout(
        scene=dict(xaxis=hidden, yaxis=hidden, zaxis=hidden, aspectmode="data",
                   camera=dict(up=dict(x=0, y=1, z=0), eye=dict(x=0.0, y=0.1, z=1.6),
                               center=dict(x=0, y=0, z=0))),
        margin=dict(l=0, r=0, t=0, b=0), uirevision="keep-camera",
    )
    return fig


class PlotlyMeshViewer(StaticFallback):
    """Base of the plotly mesh viewers: a ``FigureWidget`` (needs ``anywidget`` with plotly >= 6),
    else the static figure redrawn in an ``ipywidgets.Output`` after each change."""

    figure: Any
    _output: Any

    def _init_figure(self, static: Any) -> Any:
        """Set :attr:`figure` from a static plotly figure; returns the ipywidget that shows it."""
        import ipywidgets as W
        import plotly.graph_objects as go

        try:
            self.figure, self._output = go.FigureWidget(static), None
        except ImportError:  # plotly >= 6 without anywidget
            log.info("anywidget is not installed: the viewer redraws a static plotly figure")
            self.figure, self._output = static, W.Output()
        return self.figure if self._output is None else self._output

    def _set_vertices(self, v: np.ndarray) -> None:
        """Move the mesh to (V, 3) vertices (the figure is redrawn by :meth:`_redraw`)."""
        with self.figure.batch_update():
            mesh = self.figure.data[0]
            mesh.x, mesh.y, mesh.z = v[:, 0], v[:, 1], v[:, 2]

    def _redraw(self) -> None:
        if self._output is None:
            return
        from IPython.display import display

        self._output.clear_output(wait=True)
        with self._output:
            display(self.figure)

    def snapshot(self) -> bytes:
        """PNG picture of the current mesh (the static fallback of :mod:`decomr.viz.static`)."""
        return plotly_mesh_png(self.figure)


class MeshViewer(PlotlyMeshViewer):
    """Interactive viewer built by :func:`mesh_viewer`; displays itself in a notebook.

    Attributes:
        body: the body model.
        figure: the plotly figure (a ``FigureWidget`` when ``anywidget`` is installed).
        shape_sliders, pose_sliders: the ipywidgets sliders; ``pose_menu``: the named-pose menu.
        widget: the whole ipywidgets layout.
    """

    def __init__(
        self,
        body,
        shape: torch.Tensor | None = None,
        pose: torch.Tensor | None = None,
        color_by="parts",
        pose_controls: Sequence[PoseControl] | None = None,
        colorscale: str = "Viridis",
        color_label: str = "",
        height: int = 560,
    ) -> None:
        import ipywidgets as W

        self.body = body
        self._busy = False
        self.controls = list(default_pose_controls(body) if pose_controls is None else pose_controls)
        self._shape = (body.mean_shape() if shape is None else torch.as_tensor(shape).reshape(1, -1)).float().cpu()
        if self._shape.shape != (1, body.shape_dim):
            raise ValueError(f"shape: expected ({body.shape_dim},) or (1, {body.shape_dim}), got {tuple(self._shape.shape)}")
        self._base_pose = (torch.zeros(1, body.pose_dim, 3) if pose is None else torch.as_tensor(pose).reshape(1, body.pose_dim, 3)).float().cpu()

        static = mesh_figure(self._vertices(self._base_pose), body.faces, **_color_kwargs(body, color_by, colorscale, color_label))
        static.update_layout(height=height)
        view = self._init_figure(static)

        labels = getattr(body, "phenotype_labels", None) or [f"beta {i}" for i in range(body.shape_dim)]
        lo, hi = (0.0, 1.0) if body.name == "anny" else (-3.0, 3.0)
        slider = dict(continuous_update=False, readout_format=".2f", style={"description_width": "90px"},
                      layout=W.Layout(width="330px"))
        self.shape_sliders = [
            W.FloatSlider(value=float(self._shape[0, i]), min=lo, max=hi, step=0.01, description=str(name), **slider)
            for i, name in enumerate(labels)
        ]
        names = ["rest"] + (list(POSE_NAMES) if getattr(body, "prior", None) is not None else [])
        self.pose_menu = W.Dropdown(options=names, value="rest", description="pose", style=slider["style"],
                                    layout=slider["layout"])
        self.pose_sliders = [
            W.FloatSlider(value=self._control_value(c, self._base_pose), min=c.lo, max=c.hi, step=0.01,
                          description=c.label, **slider)
            for c in self.controls
        ]
        for s in self.shape_sliders + self.pose_sliders:
            s.observe(self._on_change, names="value")
        self.pose_menu.observe(self._on_pose_menu, names="value")
        self.reset_button = W.Button(description="reset", layout=W.Layout(width="120px"))
        self.reset_button.on_click(lambda _: self.reset())
        panel = W.VBox(
            [W.HTML("<b>shape</b>"), *self.shape_sliders, W.HTML("<b>pose</b>"), self.pose_menu,
             *self.pose_sliders, self.reset_button],
            layout=W.Layout(min_width="350px"),
        )
        self.widget = W.HBox([view, panel])
        self._redraw()

    # -------------------------------------------------------------------- state
    @staticmethod
    def _control_value(c: PoseControl, pose: torch.Tensor) -> float:
        value = c.sign * float(pose[0, c.index] @ torch.tensor(c.axis))
        return float(np.clip(value, c.lo, c.hi))

    def current_shape(self) -> torch.Tensor:
        """(1, shape_dim) shape parameters read from the sliders."""
        return torch.tensor([[s.value for s in self.shape_sliders]], dtype=torch.float32)

    def current_pose(self) -> torch.Tensor:
        """(1, P, 3): the named pose with the slider components written over it."""
        pose = self._base_pose.clone()
        for c, s in zip(self.controls, self.pose_sliders):
            axis = torch.tensor(c.axis)
            r = pose[0, c.index]
            pose[0, c.index] = r - (r @ axis) * axis + c.sign * s.value * axis
        return pose

    def _vertices(self, pose: torch.Tensor, shape: torch.Tensor | None = None) -> np.ndarray:
        dev = self.body.template.device
        with torch.no_grad():
            out = self.body(shape=(self._shape if shape is None else shape).to(dev), pose=pose.to(dev))
        return out.vertices[0].cpu().numpy()

    # -------------------------------------------------------------------- callbacks
    def update(self) -> np.ndarray:
        """Recompute the mesh from the widgets and refresh the figure. Returns (V, 3) vertices."""
        v = self._vertices(self.current_pose(), self.current_shape())
        self._set_vertices(v)
        self._redraw()
        return v

    def _on_change(self, _change=None) -> None:
        if not self._busy:
            self.update()

    def _on_pose_menu(self, change) -> None:
        name = change["new"]
        with torch.no_grad():
            pose = torch.zeros(1, self.body.pose_dim, 3) if name == "rest" else self.body.sample_pose(1, kind=name)
        self._base_pose = pose.float().cpu()
        self._set_sliders(self.pose_sliders, [self._control_value(c, self._base_pose) for c in self.controls])

    def _set_sliders(self, sliders, values) -> None:
        self._busy = True
        try:
            for s, val in zip(sliders, values):
                s.value = val
        finally:
            self._busy = False
        self.update()

    def reset(self) -> None:
        """Mean shape, rest pose."""
        self.pose_menu.value = "rest"
        self._base_pose = torch.zeros(1, self.body.pose_dim, 3)
        mean = self.body.mean_shape()[0].tolist()
        self._set_sliders(self.shape_sliders + self.pose_sliders, mean + [0.0 * c.sign for c in self.controls])


def mesh_viewer(
    body,
    shape: torch.Tensor | None = None,
    pose: torch.Tensor | None = None,
    color_by="parts",
    *,
    pose_controls: Sequence[PoseControl] | None = None,
    colorscale: str = "Viridis",
    color_label: str = "",
    height: int = 560,
) -> MeshViewer:
    """Interactive plotly mesh of a body model with shape and pose sliders (for notebooks).

    Args:
        body: a :class:`decomr.body.BodyModel` (Anny: 6 phenotype sliders in [0, 1] + named poses
            + 12 pose sliders; SMPL: 10 betas in [-3, 3] + 10 pose sliders).
        shape: (shape_dim,) initial shape; None = the mean shape.
        pose: (P, 3) initial base pose; None = the rest pose.
        color_by: ``"parts"`` (Table 4 LSP parts), ``"weight"`` (Eq. 6 groups), None (plain), or
            (V,) per-vertex values (e.g. a per-vertex error in mm) shown with ``colorscale``.
        pose_controls: override the pose sliders (see :class:`PoseControl`).
        colorscale, color_label: colour scale and colour-bar title of scalar ``color_by``.
        height: figure height in pixels.

    Returns:
        A :class:`MeshViewer`; as the last expression of a cell it displays itself.
    """
    return MeshViewer(body, shape, pose, color_by, pose_controls, colorscale, color_label, height)
