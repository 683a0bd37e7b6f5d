"""Figures of the UV maps (Sec. 3.1): the atlases (Figure 3), distance matrices (Figure 4),
build stages, distortion, location and weight maps, and an interactive UV explorer.

UV plots follow the image convention of UV maps: u to the right, v downwards (v = 0 at the top),
so they look like the UV maps the network sees. Saved figures go to
:func:`decomr.paths.figures_dir` under stable names.

Glossary: V vertices, F faces, T UV vertices, R resolution.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from decomr.uv.atlas import UVAtlas
from decomr.uv.checks import area_log_ratio, seam_edges
from decomr.uv.maps import weight_map
from decomr.uv.metrics import mesh_distances, scores_from_matrices, uv_distances
from decomr.uv.raster import barycentric
from decomr.uv.roundtrip import posed_bodies
from decomr.uv.sampler import UVSampler
from decomr.viz.body_plots import _face_rgba, as_numpy, clean_axes, finish_figure, plot_mesh, project
from decomr.viz.colors import LSP_PART_COLORS, palette_rgb
from decomr.viz.static import StaticFallback, figure_png

__all__ = [
    "SEAM_COLOR",
    "part_face_colors",
    "plot_atlas",
    "plot_seam",
    "plot_disk",
    "plot_slim_snapshots",
    "plot_distortion",
    "fig3_uv_atlases",
    "fig4_distance_matrices",
    "plot_location_map",
    "plot_weight_map",
    "location_map_rgb",
    "uv_explorer",
    "UVExplorer",
]

SEAM_COLOR = "#D00000"



def part_face_colors(body, faces=None) -> np.ndarray:
    """(F, 3) RGB per face from the body's LSP parts; hands and feet drawn lighter.

    Args:
        body: a :class:`decomr.body.BodyModel` (``lsp_parts``, ``weight_parts``, ``faces``).
        faces: optional (F, 3) faces (default ``body.faces``).
    """
    f = as_numpy(body.faces if faces is None else faces, np.int64)
    parts = as_numpy(body.lsp_parts, np.int64)
    rgb = palette_rgb(LSP_PART_COLORS)[parts[f[:, 0]]]  # (F, 3)
    extremity = as_numpy(body.weight_parts, np.int64)[f[:, 0]] == 3
    rgb[extremity] = 0.45 * rgb[extremity] + 0.55  # lighter: hands & feet
    return rgb


def plot_atlas(
    ax: Axes,
    atlas: UVAtlas,
    colors=None,
    *,
    uv=None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    boundary: bool = True,
    edges: bool = False,
    title: str | None = None,
    colorbar: bool | str = False,
):
    """Draw the UV triangles of an atlas.

    Args:
        ax: matplotlib axes.
        atlas: the atlas.
        colors: None (grey), (F, 3) RGB, or (F,) scalars mapped through ``cmap``.
        uv: optional (T, 2) coordinates to draw instead of ``atlas.uv`` (e.g. a build stage);
            the axes then fit the data instead of [0, 1]^2.
        boundary: draw the UV boundary (seams / chart borders) in :data:`SEAM_COLOR`.
        edges: draw the triangle edges.
        title, colorbar: axes title; colour bar (a string labels it) for scalar colours.

    Returns:
        The ``PolyCollection``.
    """
    xy = as_numpy(atlas.uv if uv is None else uv)
    fuv = as_numpy(atlas.faces_uv, np.int64)
    tri = xy[fuv]  # (F, 3, 2)
    grey = (0.78, 0.78, 0.82)
    fc, sm = _face_rgba(grey if colors is None else colors, -1, fuv, cmap, vmin, vmax)  # (F, 4); per face only
    poly = PolyCollection(tri, facecolors=fc, edgecolors="k" if edges else fc, linewidths=0.1 if edges else 0.05)
    ax.add_collection(poly)
    if boundary:
        he = np.concatenate([fuv[:, [0, 1]], fuv[:, [1, 2]], fuv[:, [2, 0]]])
        n = int(fuv.max()) + 1
        bnd = he[~np.isin(he[:, 1] * n + he[:, 0], he[:, 0] * n + he[:, 1])]
        ax.add_collection(LineCollection(xy[bnd], colors=SEAM_COLOR, linewidths=0.6))
    if uv is None:  # the unit square
        ax.set_xlim(0, 1)
        ax.set_ylim(1, 0)  # v downwards, like the UV map image
        ax.set_xticks([0, 0.5, 1])
        ax.set_yticks([0, 0.5, 1])
        ax.set_xlabel("u")
        ax.set_ylabel("v")
    else:
        lo, hi = xy.min(0), xy.max(0)
        pad = 0.03 * (hi - lo).max()
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(hi[1] + pad, lo[1] - pad)
        ax.set_axis_off()
    ax.set_aspect("equal")
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar and sm is not None:
        ax.figure.colorbar(sm, ax=ax, fraction=0.046, pad=0.02, label=colorbar if isinstance(colorbar, str) else "")
    return poly


def plot_seam(ax: Axes, vertices, faces, edges, view="back", colors=None, linewidth: float = 1.5, title: str | None = None) -> None:
    """A shaded mesh with its seam edges drawn on top (edges next to a visible face only).

    Args:
        ax: matplotlib axes. vertices: (V, 3) canonical frame. faces: (F, 3).
        edges: (S, 2) seam vertex pairs (e.g. ``SeamTree.edges`` or :func:`decomr.uv.checks.seam_edges`).
        view: ``"front"``, ``"back"``, ... (see :mod:`decomr.viz.body_plots`).
        colors: mesh colours (see :func:`decomr.viz.body_plots.plot_mesh`).
    """
    v = as_numpy(vertices)
    f = as_numpy(faces, np.int64)
    e = as_numpy(edges, np.int64)
    plot_mesh(ax, v, f, colors, view=view)
    p = project(v, view)
    tri = p[f]
    facing = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2] > 0  # (F,)
    n = len(v)
    fe = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)  # (3F, 2)
    visible_keys = np.unique((fe[:, 0] * n + fe[:, 1])[np.tile(facing, 3)])
    vis = np.isin(e[:, 0] * n + e[:, 1], visible_keys)
    ax.add_collection(LineCollection(p[e[vis]][:, :, :2], colors=SEAM_COLOR, linewidths=linewidth, zorder=3))
    if title:
        ax.set_title(title, fontsize=10)


def plot_disk(ax: Axes, build, colors=None, title: str = "Tutte embedding (boundary on the circle)") -> None:
    """The Tutte disk of a :class:`decomr.uv.build.AtlasBuild` (step 3)."""
    plot_atlas(ax, build.atlas, colors, uv=build.disk_uv * np.array([1.0, -1.0]), title=title)


def plot_slim_snapshots(build, colors=None, max_panels: int = 6) -> Figure:
    """SLIM iterations of a build made with ``BuildConfig(snapshot_every=k)``, one panel each.

    Returns:
        the figure.
    """
    snaps = list(build.snapshots)
    if not snaps:
        raise ValueError("build: has no snapshots; build with BuildConfig(snapshot_every=k)")
    if len(snaps) > max_panels:
        pick = np.unique(np.round(np.linspace(0, len(snaps) - 1, max_panels)).astype(int))
        snaps = [snaps[i] for i in pick]
    fig, axes = plt.subplots(1, len(snaps), figsize=(2.6 * len(snaps), 3.0))
    for ax, s in zip(np.atleast_1d(axes), snaps):
        plot_atlas(ax, build.atlas, colors, uv=s.uv * np.array([1.0, -1.0]), title=f"SLIM iteration {s.iteration}", boundary=False)
    return finish_figure(fig)


def plot_distortion(ax: Axes, atlas: UVAtlas, vertices, faces=None, limit: float = 3.0, title: str | None = None):
    """Per-face area distortion ``log2(UV area share / surface area share)`` (0 = preserved).

    Args:
        ax: axes. atlas: the atlas. vertices: (V, 3) rest mesh. faces: (F, 3) (default the atlas's).
        limit: colour range +-limit (in log2 units).
    """
    f = atlas.mesh_faces().numpy() if faces is None else as_numpy(faces, np.int64)
    lr = area_log_ratio(atlas.uv.numpy(), atlas.faces_uv.numpy(), as_numpy(vertices), f)
    return plot_atlas(
        ax, atlas, lr, cmap="RdBu_r", vmin=-limit, vmax=limit, boundary=False,
        title=title or f"{atlas.name}: area distortion", colorbar="log2 area ratio",
    )


def _parts_legend(fig: Figure) -> None:
    names = ("head", "torso", "left arm", "right arm", "left leg", "right leg")
    handles = [Patch(color=LSP_PART_COLORS[i + 1], label=n) for i, n in enumerate(names)]
    handles.append(Patch(color=(0.85, 0.85, 0.85), label="hands & feet: lighter"))
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize=8, frameon=False)


def fig3_uv_atlases(body, continuous: UVAtlas, default: UVAtlas) -> Figure:
    """Figure 3 counterpart: the default and continuous atlases coloured by body part, and the
    continuous map's seam on the 3D mesh (back and front views).

    Returns:
        the figure (save it with ``save_figure(fig, "fig3_uv_atlases")``).
    """
    rgb = part_face_colors(body)
    seam = seam_edges(continuous.faces_uv.numpy(), continuous.vt_to_v.numpy())
    fig = plt.figure(figsize=(15, 4.6))
    gs = fig.add_gridspec(1, 4, width_ratios=(1, 1, 0.55, 0.55))
    plot_atlas(fig.add_subplot(gs[0]), default, rgb, title=f"(a) default UV ({default.stats.num_charts} charts)")
    plot_atlas(fig.add_subplot(gs[1]), continuous, rgb, title="(b) continuous UV (1 chart)")
    verts = as_numpy(body.template)
    for k, view in enumerate(("back", "front")):
        plot_seam(fig.add_subplot(gs[2 + k]), verts, as_numpy(body.faces, np.int64), seam, view=view, colors=rgb,
                  title=f"seam, {view}")
    _parts_legend(fig)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def fig4_distance_matrices(body, continuous: UVAtlas, default: UVAtlas, n: int = 600, seed: int = 0) -> Figure:
    """Figure 4 counterpart: distance matrices of the mesh surface, the default UV and the
    continuous UV on the same ``n`` vertices in the same (vertex-index) order, each scaled to [0, 1].

    Returns:
        the figure (save it with ``save_figure(fig, "fig4_distance_matrices")``).
    """
    idx = np.sort(np.random.default_rng(seed).choice(body.num_vertices, size=min(n, body.num_vertices), replace=False))
    mesh = mesh_distances(as_numpy(body.template), as_numpy(body.faces, np.int64), idx, idx)  # (N, N) metres
    panels = [("default UV", uv_distances(default, idx, idx, "last")), ("mesh surface", mesh),
              ("continuous UV", uv_distances(continuous, idx, idx, "last"))]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.3))
    for ax, (title, m) in zip(axes, panels):
        im = ax.imshow(m / m.max(), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        if title != "mesh surface":
            s1, s2 = scores_from_matrices(mesh, m)
            title += f"\nS1 = {s1:.3f}, S2 = {s2:.3f} (on these {len(idx)} vertices)"
        else:
            title += "\ngraph shortest paths"
        clean_axes(ax, title, fontsize=10)
    fig.colorbar(im, ax=axes, fraction=0.02, pad=0.01, label="distance / max")
    return fig


def location_map_rgb(loc: torch.Tensor, mask: torch.Tensor | None = None) -> np.ndarray:
    """(3, R, R) location map -> (R, R, 3) RGB image: each axis scaled to [0, 1] over the mask, white outside."""
    x = as_numpy(loc).transpose(1, 2, 0)  # (R, R, 3)
    m = np.abs(x).sum(-1) > 0 if mask is None else as_numpy(mask, bool)
    lo, hi = x[m].min(0), x[m].max(0)
    img = (x - lo) / np.maximum(hi - lo, 1e-9)
    img[~m] = 1.0
    return np.clip(img, 0, 1)


def plot_location_map(body, atlas: UVAtlas, vertices: torch.Tensor | None = None, resolution: int = 128) -> Figure:
    """A body's location map as an RGB image, the mesh rebuilt from it (Eq. 3) coloured by the
    round-trip error, and the error per vertex.

    Args:
        body: the body model. atlas: the atlas.
        vertices: optional (V, 3) camera-frame pelvis-centred vertices (default: a random posed body).
        resolution: R.

    Returns:
        the figure.
    """
    v = posed_bodies(body, 1, seed=3)[0] if vertices is None else vertices.detach().float().cpu()
    s = UVSampler(atlas, resolution)
    with torch.no_grad():
        loc = s.mesh_to_map(v[None])[0]  # (3, R, R)
        rec = s.map_to_mesh(loc[None])[0]  # (V, 3)
    err = (rec - v).norm(dim=-1).numpy() * 1000.0
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    axes[0].imshow(location_map_rgb(loc, s.mask), interpolation="nearest", extent=(0, 1, 1, 0))
    axes[0].set_title(f"location map {resolution}x{resolution} (x, y, z -> R, G, B)", fontsize=10)
    axes[0].set_xlabel("u")
    axes[0].set_ylabel("v")
    f = as_numpy(body.faces, np.int64)
    plot_mesh(axes[1], v.numpy(), f, view="front", frame="camera")
    axes[1].set_title("input mesh (camera view)", fontsize=10)
    plot_mesh(axes[2], rec.numpy(), f, err, view="front", frame="camera", cmap="magma", vmin=0, vmax=np.percentile(err, 99), colorbar="error, mm")
    axes[2].set_title(f"rebuilt from the map (Eq. 3): mean {err.mean():.1f} mm", fontsize=10)
    return fig


def plot_weight_map(body, atlas: UVAtlas, resolution: int = 128) -> Figure:
    """The location-map loss weights (supplementary Sec. 3, Eq. 6) as an image.

    Returns:
        the figure.
    """
    w = weight_map(body, atlas, resolution).numpy()
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    img = np.ma.masked_equal(w, 0)
    im = ax.imshow(img, cmap="viridis", interpolation="nearest", extent=(0, 1, 1, 0), norm=plt.matplotlib.colors.LogNorm())
    ax.set_title(f"Eq. 6 weight map ({atlas.name} UV, {resolution}x{resolution})", fontsize=10)
    ax.set_xlabel("u")
    ax.set_ylabel("v")
    fig.colorbar(im, ax=ax, label="weight, mean 1 over the square (1 : 2 : 5 : 25)")
    return fig


def uv_explorer(body, atlas: UVAtlas, max_points: int = 20000):
    """Interactive explorer (ipywidgets + plotly): pick a mesh vertex or a UV point and see where
    it lands on the other side.

    Click a point of the 3D mesh or of the UV chart, or type a vertex index / move the (u, v)
    sliders. A vertex on a seam lights up all its UV copies; a UV point inside a triangle maps to
    the barycentric point of the 3D triangle.

    Returns:
        :class:`UVExplorer` (``.widget`` is the ``ipywidgets.VBox``; it displays itself).
    """
    import ipywidgets as widgets
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    v = as_numpy(body.template)
    f = as_numpy(body.faces, np.int64)
    uv = atlas.uv.numpy().astype(np.float64)
    fuv = atlas.faces_uv.numpy()
    vt_to_v = atlas.vt_to_v.numpy()
    rgb = part_face_colors(body, f)
    face_hex = ["#%02x%02x%02x" % tuple(int(255 * c) for c in row) for row in rgb]
    parts = as_numpy(body.lsp_parts, np.int64)
    vert_hex = np.array([LSP_PART_COLORS[p] for p in parts])

    fig = go.FigureWidget(make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}, {"type": "xy"}]], column_widths=[0.45, 0.55],
                                        subplot_titles=("mesh (click a vertex)", f"{atlas.name} UV (click a point)")))
    fig.add_trace(go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2], facecolor=face_hex,
                            flatshading=True, hoverinfo="skip", opacity=1.0), row=1, col=1)
    step = max(1, len(v) // max_points)
    fig.add_trace(go.Scatter3d(x=v[::step, 0], y=v[::step, 1], z=v[::step, 2], mode="markers", marker=dict(size=1.5, color=vert_hex[::step]),
                               customdata=np.arange(len(v))[::step], hovertemplate="vertex %{customdata}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter3d(x=[], y=[], z=[], mode="markers", marker=dict(size=7, color="black", symbol="diamond"), hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scattergl(x=uv[:, 0], y=uv[:, 1], mode="markers", marker=dict(size=2, color=vert_hex[vt_to_v]),
                               customdata=vt_to_v, hovertemplate="u %{x:.3f} v %{y:.3f}<br>vertex %{customdata}<extra></extra>"), row=1, col=2)
    fig.add_trace(go.Scatter(x=[], y=[], mode="markers", marker=dict(size=12, color="black", symbol="x")), row=1, col=2)
    fig.update_yaxes(autorange="reversed", scaleanchor="x2", row=1, col=2)
    fig.update_layout(height=520, showlegend=False, margin=dict(l=10, r=10, t=40, b=10),
                      scene=dict(aspectmode="data", camera=dict(eye=dict(x=0, y=0.3, z=2.2), up=dict(x=0, y=1, z=0))))
    info = widgets.HTML()
    vertex_box = widgets.BoundedIntText(value=0, min=0, max=len(v) - 1, description="vertex")
    u_slider = widgets.FloatSlider(value=0.5, min=0, max=1, step=0.001, description="u", readout_format=".3f")
    v_slider = widgets.FloatSlider(value=0.3, min=0, max=1, step=0.001, description="v", readout_format=".3f")

    def show_vertex(i: int) -> None:
        copies = np.flatnonzero(vt_to_v == i)
        with fig.batch_update():
            fig.data[2].x, fig.data[2].y, fig.data[2].z = [v[i, 0]], [v[i, 1]], [v[i, 2]]
            fig.data[4].x, fig.data[4].y = uv[copies, 0], uv[copies, 1]
        info.value = f"vertex <b>{i}</b> at {np.round(v[i], 3).tolist()} m has {len(copies)} UV cop{'y' if len(copies) == 1 else 'ies'}: " + ", ".join(
            f"({uv[c, 0]:.3f}, {uv[c, 1]:.3f})" for c in copies)

    def show_uv(u: float, w: float) -> None:
        tri = uv[fuv]  # (F, 3, 2)
        b = barycentric(np.array([u, w])[None], tri[:, 0], tri[:, 1], tri[:, 2])  # (F, 3)
        inside = np.flatnonzero(np.nan_to_num(b, nan=-1).min(1) >= -1e-9)
        with fig.batch_update():
            fig.data[4].x, fig.data[4].y = [u], [w]
            if len(inside):
                k = inside[0]
                p = (b[k, :, None] * v[f[k]]).sum(0)
                fig.data[2].x, fig.data[2].y, fig.data[2].z = [p[0]], [p[1]], [p[2]]
            else:
                fig.data[2].x, fig.data[2].y, fig.data[2].z = [], [], []
        info.value = (f"UV ({u:.3f}, {w:.3f}) lies in face <b>{inside[0]}</b>, 3D point {np.round(p, 3).tolist()} m" if len(inside)
                      else f"UV ({u:.3f}, {w:.3f}) is outside the chart (background of the UV map)")

    def on_click_3d(trace, points, state):
        if points.point_inds:
            i = int(trace.customdata[points.point_inds[0]])
            vertex_box.value = i

    def on_click_uv(trace, points, state):
        if points.point_inds:
            show_vertex(int(vt_to_v[points.point_inds[0]]))

    fig.data[1].on_click(on_click_3d)
    fig.data[3].on_click(on_click_uv)
    vertex_box.observe(lambda ch: show_vertex(int(ch["new"])), names="value")
    u_slider.observe(lambda ch: show_uv(ch["new"], v_slider.value), names="value")
    v_slider.observe(lambda ch: show_uv(u_slider.value, ch["new"]), names="value")
    show_vertex(0)
    return UVExplorer(widgets.VBox([widgets.HBox([vertex_box, u_slider, v_slider]), info, fig]), body, atlas)


class UVExplorer(StaticFallback):
    """The widget of :func:`uv_explorer`, with a static picture (mesh and chart coloured by part)
    for pages that cannot run it (:mod:`decomr.viz.static`)."""

    def __init__(self, widget, body, atlas: UVAtlas) -> None:
        self.widget, self.body, self.atlas = widget, body, atlas

    def snapshot(self) -> bytes:
        fig, axes = plt.subplots(1, 2, figsize=(7.5, 4.0))
        faces = as_numpy(self.body.faces, np.int64)
        plot_mesh(axes[0], self.body.template, faces, part_face_colors(self.body, faces), view="front")
        plot_atlas(axes[1], self.atlas, title=f"{self.atlas.name} UV")
        fig.suptitle("static picture (run the notebook to explore the correspondence)", fontsize=8)
        return figure_png(fig)
