"""Matplotlib figures of body models: shaded meshes, joints, part labels, mirror map, samples.

Everything here runs headless (Agg) and draws meshes without a 3D axes: triangles are rotated
into a view, projected orthographically, back faces culled, sorted by depth (painter's
algorithm) and drawn as one ``PolyCollection`` with Lambert shading, so a 26k-face Anny mesh
draws in well under a second.

Views (``view=``): ``"front"`` (the body faces the viewer), ``"back"``, ``"left"`` (seen from
the body's left side), ``"right"``, ``"top"``, or ``(azimuth_deg, elevation_deg)``.
Frames (``frame=``): ``"canonical"`` (SMPL's: y up, body faces +z, x to the body's left) or
``"camera"`` (OpenCV: x right, y down, z away from the camera; ``"front"`` is then what the
camera sees).

Glossary: V vertices, F faces, J joints. Inputs may be NumPy arrays or torch tensors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from decomr import paths
from decomr.body.joints import (  # noqa: F401 - LSP_BONES, SMPL_BONES, SMPL_PARENTS are re-exported
    LSP_BONES,
    LSP_JOINT_NAMES,
    SMPL_BONES,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
)
from decomr.body.parts import LSP_PART_NAMES, WEIGHT_GROUP_NAMES, WEIGHT_GROUP_VALUES
from decomr.body.pose import POSE_NAMES
from decomr.viz.colors import (
    CENTRE_COLOR,
    LEFT_COLOR,
    LSP_PART_COLORS,
    MESH_COLOR,
    RIGHT_COLOR,
    WEIGHT_GROUP_COLORS,
    palette_rgb,
)

VIEWS: dict[str, tuple[float, float]] = {
    "front": (0.0, 0.0), "back": (180.0, 0.0), "left": (-90.0, 0.0), "right": (90.0, 0.0), "top": (0.0, 90.0),
}

# ---------------------------------------------------------------------------------- helpers
def as_numpy(x, dtype=np.float64, name: str = "array") -> np.ndarray:
    """A tensor (any device; half precision widened) or array-like as a numpy array of ``dtype``.

    Raises:
        ValueError: ``x`` is not numbers (the message names the argument).
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        x = (x.float() if x.dtype in (torch.float16, torch.bfloat16) else x).numpy()
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected an array-like of numbers, got {type(x).__name__}") from exc


def _check_mesh(vertices, faces, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    v = as_numpy(vertices, dtype, "vertices")
    f = as_numpy(faces, np.int64, "faces")
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices: expected (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces: expected (F, 3), got {f.shape}")
    if f.size and (f.min() < 0 or f.max() >= v.shape[0]):
        raise ValueError(f"faces: expected indices in [0, {v.shape[0] - 1}], got [{f.min()}, {f.max()}]")
    return v, f


def view_rotation(view: str | tuple[float, float] = "front", frame: str = "canonical") -> np.ndarray:
    """The rotation taking points of ``frame`` into view space.

    View space: x to the right of the image, y up, z towards the viewer (orthographic).

    Args:
        view: a name of :data:`VIEWS` or ``(azimuth_deg, elevation_deg)``: the body is turned by
            the azimuth about the vertical axis, then the view is tilted by the elevation (positive
            = seen from above).
        frame: ``"canonical"`` or ``"camera"`` (see the module docstring).

    Returns:
        (3, 3) matrix ``R``; view coordinates are ``points @ R.T``.
    """
    if isinstance(view, str):
        if view not in VIEWS:
            raise ValueError(f"view: expected one of {tuple(VIEWS)} or (azimuth, elevation), got {view!r}")
        azim, elev = VIEWS[view]
    else:
        if len(view) != 2:
            raise ValueError(f"view: expected (azimuth_deg, elevation_deg), got {view!r}")
        azim, elev = float(view[0]), float(view[1])
    if frame not in ("canonical", "camera"):
        raise ValueError(f"frame: expected 'canonical' or 'camera', got {frame!r}")
    a, e = np.deg2rad(azim), np.deg2rad(elev)
    Ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    R = Rx @ Ry
    if frame == "camera":  # OpenCV -> canonical-like: a 180 deg turn about x
        R = R @ np.diag([1.0, -1.0, -1.0])
    return R


def project(points, view: str | tuple[float, float] = "front", frame: str = "canonical") -> np.ndarray:
    """(N, 3) points -> (N, 3) view coordinates (x right, y up, z towards the viewer)."""
    p = as_numpy(points, name="points")
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points: expected (N, 3), got {p.shape}")
    return p @ view_rotation(view, frame).T


def _face_rgba(colors, n_verts: int, faces: np.ndarray, cmap, vmin, vmax):
    """Resolve ``colors`` into per-face RGBA (F, 4) and an optional ScalarMappable."""
    F = faces.shape[0]
    if colors is None:
        colors = MESH_COLOR
    if isinstance(colors, str) or (isinstance(colors, tuple) and len(colors) in (3, 4) and np.isscalar(colors[0])):
        return np.tile(np.array(to_rgba(colors)), (F, 1)), None
    c = as_numpy(colors, name="colors")
    if c.ndim == 1 and c.shape[0] in (n_verts, F):
        scalar = c[faces].mean(1) if c.shape[0] == n_verts else c  # vertex values win when V == F
        norm = Normalize(vmin=np.nanmin(scalar) if vmin is None else vmin,
                         vmax=np.nanmax(scalar) if vmax is None else vmax)
        cm = colormaps[cmap] if isinstance(cmap, str) else cmap
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cm)
        return cm(norm(scalar)), sm
    if c.ndim == 2 and c.shape[1] in (3, 4) and c.shape[0] in (n_verts, F):
        if c.shape[1] == 3:
            c = np.concatenate([c, np.ones((c.shape[0], 1))], 1)
        rgba = c[faces].mean(1) if c.shape[0] == n_verts else c
        return np.clip(rgba, 0.0, 1.0), None
    raise ValueError(
        f"colors: expected a colour, (V,) or (F,) scalars, or (V, 3|4) / (F, 3|4) RGB(A) with "
        f"V={n_verts}, F={F}; got shape {c.shape}"
    )


# ---------------------------------------------------------------------------------- meshes
def plot_mesh(
    ax: Axes,
    vertices,
    faces,
    colors=None,
    view: str | tuple[float, float] = "front",
    frame: str = "canonical",
    *,
    shading: bool = True,
    cull: bool = True,
    alpha: float = 1.0,
    cmap="viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool | str = False,
    light: Sequence[float] = (-0.4, 0.6, 1.0),
    ambient: float = 0.35,
    autoscale: bool = True,
) -> PolyCollection:
    """Draw a shaded triangle mesh on a 2D axes (orthographic, depth-sorted).

    Args:
        ax: matplotlib axes (2D).
        vertices: (V, 3) positions, metres.
        faces: (F, 3) vertex indices.
        colors: None (neutral skin), one matplotlib colour, (V,) or (F,) scalars mapped through
            ``cmap`` (e.g. a per-vertex error), or (V, 3|4) / (F, 3|4) RGB(A) in [0, 1].
            Per-vertex values are averaged per face.
        view, frame: see the module docstring.
        shading: Lambert shading with a light at ``light`` (view space, from the viewer's side).
        cull: drop faces turned away from the viewer (right for closed meshes, twice as fast).
        alpha: opacity of the faces.
        cmap, vmin, vmax: colour mapping of scalar ``colors``.
        colorbar: add a colour bar for scalar ``colors``; a string is used as its label.
        light, ambient: light direction and ambient term of the shading.
        autoscale: set equal aspect, tight limits and hide the axis frame.

    Returns:
        The ``PolyCollection`` added to ``ax``.
    """
    v, f = _check_mesh(vertices, faces)
    p = project(v, view, frame)  # (V, 3)
    tri = p[f]  # (F, 3, 3)
    rgba, sm = _face_rgba(colors, v.shape[0], f, cmap, vmin, vmax)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # (F, 3)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    keep = normal[:, 2] > 0 if cull else np.ones(len(f), bool)
    rgba = rgba.copy()
    if shading:
        L = np.asarray(light, np.float64)
        L = L / np.linalg.norm(L)
        lambert = normal @ L
        lambert = lambert if cull else np.abs(lambert)
        shade = ambient + (1.0 - ambient) * np.clip(lambert, 0.0, 1.0)
        rgba[:, :3] *= shade[:, None]
    rgba[:, 3] *= alpha
    order = np.argsort(tri[:, :, 2].mean(1)[keep], kind="stable")  # far (small z) first
    idx = np.nonzero(keep)[0][order]
    poly = PolyCollection(
        tri[idx, :, :2], facecolors=rgba[idx], edgecolors=rgba[idx] if alpha >= 1.0 else "none",
        linewidths=0.15 if alpha >= 1.0 else 0.0, antialiaseds=alpha >= 1.0, zorder=1,
    )
    ax.add_collection(poly, autolim=False)
    if autoscale:
        lo, hi = p[:, :2].min(0), p[:, :2].max(0)
        pad = 0.03 * (hi - lo).max()
        ax.update_datalim(np.stack([lo - pad, hi + pad]))
        ax.autoscale_view()
        ax.set_aspect("equal")
        ax.set_axis_off()
    if colorbar and sm is not None:
        label = colorbar if isinstance(colorbar, str) else ""
        ax.figure.colorbar(sm, ax=ax, fraction=0.05, pad=0.02, shrink=0.8, label=label)
    return poly


def plot_frame_axes(
    ax: Axes,
    origin=(0.0, 0.0, 0.0),
    length: float = 0.25,
    view: str | tuple[float, float] = "front",
    frame: str = "canonical",
) -> None:
    """Draw the x (red), y (green), z (blue) axes of ``frame`` as arrows seen from ``view``.

    Axes pointing at the viewer (no visible length) are drawn as a dot (towards) or a cross (away).
    """
    o = project(np.asarray(origin, np.float64)[None], view, frame)[0]
    R = view_rotation(view, frame)
    for k, (name, color) in enumerate((("x", "#D62728"), ("y", "#2CA02C"), ("z", "#1F77B4"))):
        d = R[:, k] * length  # the axis direction in view space
        if np.hypot(d[0], d[1]) < 0.15 * length:
            ax.plot(o[0], o[1], marker="o" if d[2] > 0 else "x", color=color, ms=9, mew=2, zorder=6)
            ax.annotate(name, (o[0], o[1]), xytext=(6, -12), textcoords="offset points", color=color,
                        fontsize=11, fontweight="bold", zorder=6)
            continue
        ax.annotate("", xy=(o[0] + d[0], o[1] + d[1]), xytext=(o[0], o[1]), zorder=6,
                    arrowprops=dict(arrowstyle="-|>", color=color, lw=2.0, mutation_scale=14))
        ax.text(o[0] + 1.15 * d[0], o[1] + 1.15 * d[1], name, color=color, fontsize=11,
                fontweight="bold", ha="center", va="center", zorder=6)


# ---------------------------------------------------------------------------------- joints
# Label offsets (points) that keep the front-view labels of neighbouring joints apart.
_LABEL_OFFSETS: dict[str, tuple[float, float]] = {
    "left_collar": (3.0, 10.0), "right_collar": (-3.0, 10.0),
    "left_hand": (7.0, -7.0), "right_hand": (-7.0, -7.0),
    "left_foot": (7.0, -6.0), "right_foot": (-7.0, -6.0),
    "left_wrist": (7.0, 4.0), "right_wrist": (-7.0, 4.0),
    "pelvis": (0.0, -11.0),
}
def _side_color(name: str | None) -> str:
    if name is None:
        return CENTRE_COLOR
    if name.startswith("left"):
        return LEFT_COLOR
    if name.startswith("right"):
        return RIGHT_COLOR
    return CENTRE_COLOR


def plot_joints(
    ax: Axes,
    joints,
    names: Sequence[str] | None = None,
    skeleton: str | Sequence[tuple[int, int]] | None = "auto",
    view: str | tuple[float, float] = "front",
    frame: str = "canonical",
    *,
    size: float = 28.0,
    fontsize: float = 7.0,
    linewidth: float = 2.0,
) -> None:
    """Draw joints and their skeleton, left side warm, right side cool.

    Args:
        ax: matplotlib axes.
        joints: (J, 3) positions (projected with ``view``/``frame``) or (J, 2) points already in
            view coordinates (x right, y up).
        names: J joint names; given -> each joint is labelled. Sides are read from the names
            (``left_*`` / ``right_*``); when None, the SMPL (J = 24) or LSP (J = 14) names are used
            for the colours only.
        skeleton: ``"auto"`` (SMPL bones for 24 joints, LSP limbs for 14, none otherwise),
            ``"smpl"``, ``"lsp"``, None, or a list of (parent, child) index pairs.
        view, frame: see the module docstring.
        size, fontsize, linewidth: marker area, label size, bone width.
    """
    j = as_numpy(joints, name="joints")
    if j.ndim != 2 or j.shape[1] not in (2, 3):
        raise ValueError(f"joints: expected (J, 3) or (J, 2), got {j.shape}")
    J = j.shape[0]
    if names is not None and len(names) != J:
        raise ValueError(f"names: expected {J} names, got {len(names)}")
    p = project(j, view, frame)[:, :2] if j.shape[1] == 3 else j
    side_names = list(names) if names is not None else {24: SMPL_JOINT_NAMES, 14: LSP_JOINT_NAMES}.get(J)
    bones = {"smpl": SMPL_BONES, "lsp": LSP_BONES}.get(skeleton, skeleton) if isinstance(skeleton, str) else skeleton
    if skeleton == "auto":
        bones = {24: SMPL_BONES, 14: LSP_BONES}.get(J, ())
    elif isinstance(skeleton, str) and skeleton not in ("smpl", "lsp"):
        raise ValueError(f"skeleton: expected 'auto', 'smpl', 'lsp', None or index pairs, got {skeleton!r}")
    for a, b in bones or ():
        if not (0 <= a < J and 0 <= b < J):
            raise ValueError(f"skeleton: bone ({a}, {b}) out of range for {J} joints")
        name = side_names[b] if side_names else None
        ax.plot(p[[a, b], 0], p[[a, b], 1], color=_side_color(name), lw=linewidth, alpha=0.85,
                solid_capstyle="round", zorder=4)
    colors = [_side_color(side_names[i] if side_names else None) for i in range(J)]
    ax.scatter(p[:, 0], p[:, 1], s=size, c=colors, edgecolors="white", linewidths=0.8, zorder=5)
    if names is not None:
        mirror_x = isinstance(view, str) and view == "back"
        for i, name in enumerate(names):
            dx, dy = _LABEL_OFFSETS.get(name, (0.0, 0.0))
            if (dx, dy) == (0.0, 0.0):
                side = -1 if name.startswith("right") else 1
                dx = 7.0 * side
            if mirror_x:
                dx = -dx
            ha = "center" if dx == 0 else ("left" if dx > 0 else "right")
            ax.annotate(name, p[i], xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                        ha=ha, va="center", color=colors[i], zorder=6,
                        bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7))


# ---------------------------------------------------------------------------------- parts
def _pretty(name: str) -> str:
    return name.replace("_", " ").replace("neck head", "neck & head").replace("hands feet", "hands & feet").replace(
        "arms legs", "arms & legs")


def face_labels(labels, faces) -> np.ndarray:
    """(F,) label of each face: the label shared by at least two of its corners, else corner 0's."""
    lab = as_numpy(labels, np.int64, "labels")
    f = as_numpy(faces, np.int64, "faces")
    l0, l1, l2 = lab[f[:, 0]], lab[f[:, 1]], lab[f[:, 2]]
    return np.where(l1 == l2, l1, l0)


def plot_part_labels(
    ax: Axes,
    vertices,
    faces,
    labels,
    kind: str = "lsp",
    view: str | tuple[float, float] = "front",
    frame: str = "canonical",
    *,
    legend: bool = True,
    names: Sequence[str] | None = None,
    palette: Sequence[str] | None = None,
    legend_kwargs: dict | None = None,
) -> PolyCollection:
    """Draw a mesh coloured by per-vertex part labels, with a legend.

    Args:
        ax: matplotlib axes.
        vertices: (V, 3); faces: (F, 3).
        labels: (V,) integer part labels.
        kind: ``"lsp"`` (Table 4 parts: ``body.lsp_parts``, 1..6) or ``"weight"`` (Eq. 6 groups:
            ``body.weight_parts``, 0..3, legend with the loss weights).
        view, frame: see the module docstring.
        legend: add a legend of the parts present.
        names, palette: override the part names / colours of ``kind``.
        legend_kwargs: extra arguments of ``ax.legend``.

    Returns:
        The ``PolyCollection`` added to ``ax``.
    """
    if kind == "lsp":
        names = names or LSP_PART_NAMES
        palette = palette or LSP_PART_COLORS
        pretty = [_pretty(n) for n in names]
    elif kind == "weight":
        names = names or WEIGHT_GROUP_NAMES
        palette = palette or WEIGHT_GROUP_COLORS
        pretty = [f"{_pretty(n)} ($\\lambda$={w:g})" for n, w in zip(names, WEIGHT_GROUP_VALUES)]
    else:
        raise ValueError(f"kind: expected 'lsp' or 'weight', got {kind!r}")
    v, f = _check_mesh(vertices, faces)
    lab = as_numpy(labels, np.int64, "labels")
    if lab.shape != (v.shape[0],):
        raise ValueError(f"labels: expected ({v.shape[0]},), got {lab.shape}")
    if lab.min() < 0 or lab.max() >= len(palette):
        raise ValueError(f"labels: expected values in [0, {len(palette) - 1}] for kind={kind!r}, got [{lab.min()}, {lab.max()}]")
    rgb = palette_rgb(palette)[face_labels(lab, f)]  # (F, 3)
    poly = plot_mesh(ax, v, f, rgb, view, frame)
    if legend:
        present = sorted(set(lab.tolist()))
        handles = [Patch(facecolor=palette[k], edgecolor="none", label=pretty[k]) for k in present]
        kw = dict(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        kw.update(legend_kwargs or {})
        ax.legend(handles=handles, **kw)
    return poly


# ---------------------------------------------------------------------------------- mirror map
def plot_mirror_map(
    vertices,
    faces,
    mirror_map,
    view: str | tuple[float, float] = "front",
    *,
    axes: Sequence[Axes] | None = None,
    stripe: float = 0.12,
) -> Figure:
    """Show a left/right vertex mirror map in three panels.

    1. the body's left half (x > 0) coloured by diagonal stripes of x and y, the right half grey;
    2. every right-half vertex takes the colour of its mirror vertex ``mirror_map[i]``: a correct
       map gives a symmetric chevron pattern;
    3. the pairing error ``|v[mirror] * (-1, 1, 1) - v|`` in millimetres (0 for an exactly
       symmetric mesh).

    Args:
        vertices: (V, 3) in the canonical frame (x -> -x is the mirror).
        faces: (F, 3).
        mirror_map: (V,) index of each vertex's mirror twin.
        view: see the module docstring.
        axes: three axes to draw into; None -> a new figure.
        stripe: stripe period in metres.

    Returns:
        The figure.
    """
    v, f = _check_mesh(vertices, faces)
    m = as_numpy(mirror_map, np.int64, "mirror_map")
    if m.shape != (v.shape[0],) or m.min() < 0 or m.max() >= v.shape[0]:
        raise ValueError(f"mirror_map: expected ({v.shape[0]},) indices in [0, {v.shape[0] - 1}], got shape {m.shape}")
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(11, 4.6))
    else:
        if len(axes) != 3:
            raise ValueError(f"axes: expected 3 axes, got {len(axes)}")
        fig = axes[0].figure
    x, y = v[:, 0], v[:, 1]
    phase = np.mod((np.abs(x) + 0.6 * y) / stripe, 1.0)
    pattern = colormaps["twilight_shifted"](phase)[:, :3]  # (V, 3)
    left = x > 1e-6
    grey = np.array([0.78, 0.78, 0.8])
    source = np.where(left[:, None], pattern, grey)
    copied = np.where(left[:, None], pattern, pattern[m])  # right half: its twin's colour
    err_mm = 1000.0 * np.linalg.norm(v[m] * np.array([-1.0, 1.0, 1.0]) - v, axis=1)
    plot_mesh(axes[0], v, f, source, view)
    axes[0].set_title("left half coloured", fontsize=10)
    plot_mesh(axes[1], v, f, copied, view)
    axes[1].set_title("right half = colour of its mirror", fontsize=10)
    plot_mesh(axes[2], v, f, err_mm, view, cmap="magma", vmin=0.0, vmax=max(float(err_mm.max()), 1e-3),
              colorbar="pairing error (mm)")
    axes[2].set_title(f"|mirror(v) - v|: max {err_mm.max():.2f} mm", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------- samples
def sample_grid(
    body,
    n: int = 8,
    generator=None,
    kind: str = "random",
    *,
    cols: int | None = None,
    color_by: str | None = "lsp",
    view: str | tuple[float, float] = "front",
    panel_size: tuple[float, float] = (1.8, 3.4),
) -> Figure:
    """A grid of sampled bodies seen from the front, all at the same scale.

    Args:
        body: a :class:`decomr.body.BodyModel`.
        n: number of bodies (ignored for ``kind="named"``).
        generator: ``torch.Generator`` for reproducible samples.
        kind: ``"shape"`` (random shapes, rest pose), ``"pose"`` (mean shape, random poses),
            ``"random"`` (random shapes and poses), ``"named"`` (mean shape in each named pose of
            the body's pose prior), or one pose name (random shapes in that pose).
        cols: grid columns (default: all in one row up to 8).
        color_by: ``"lsp"`` parts, ``"weight"`` groups, or None (plain shading).
        view: see the module docstring.
        panel_size: (width, height) of one panel in inches.

    Returns:
        The figure; each panel is titled with the body's height (m) and its pose.
    """
    named = tuple(POSE_NAMES) if hasattr(body, "prior") else ("rest",)
    if kind not in ("shape", "pose", "random", "named") + named:
        raise ValueError(f"kind: expected 'shape', 'pose', 'random', 'named' or one of {named}, got {kind!r}")
    if kind == "named":
        n = len(named)
    if n < 1:
        raise ValueError(f"n: expected a positive count, got {n}")
    with torch.no_grad():
        mean = body.mean_shape().expand(n, -1)
        shape = mean if kind in ("pose", "named") else body.sample_shape(n, generator)
        if kind == "shape":
            pose = torch.zeros(n, body.pose_dim, 3)
        elif kind in ("pose", "random"):
            pose = body.sample_pose(n, generator)
        elif kind == "named":
            pose = torch.cat([body.sample_pose(1, kind=k) for k in named])
        else:
            pose = body.sample_pose(n, kind=kind)
        rest = body(shape=shape).vertices if kind != "shape" else None
        verts = body(shape=shape, pose=pose).vertices
    rest = verts if rest is None else rest
    heights = (rest[..., 1].amax(1) - rest[..., 1].amin(1)).tolist()
    labels = {"lsp": body.lsp_parts, "weight": body.weight_parts}.get(color_by) if color_by else None
    if color_by not in (None, "lsp", "weight"):
        raise ValueError(f"color_by: expected 'lsp', 'weight' or None, got {color_by!r}")
    palette = LSP_PART_COLORS if color_by == "lsp" else WEIGHT_GROUP_COLORS
    faces = body.faces.cpu().numpy()
    face_rgb = palette_rgb(palette)[face_labels(labels, faces)] if labels is not None else None

    cols = cols or min(n, 8)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size[0] * cols, panel_size[1] * rows), squeeze=False)
    proj = [project(verts[i].cpu().numpy(), view) for i in range(n)]
    y_lo = min(p[:, 1].min() for p in proj)
    y_hi = max(p[:, 1].max() for p in proj)
    half_w = max((p[:, 0].max() - p[:, 0].min()) / 2 for p in proj)
    half_w = max(half_w, 0.5 * (y_hi - y_lo) * panel_size[0] / panel_size[1] * 0.9)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        plot_mesh(ax, verts[i], faces, face_rgb, view, autoscale=False)
        cx = 0.5 * (proj[i][:, 0].max() + proj[i][:, 0].min())
        ax.set_xlim(cx - 1.05 * half_w, cx + 1.05 * half_w)
        ax.set_ylim(y_lo - 0.03, y_hi + 0.03)
        ax.set_aspect("equal")
        title = f"{heights[i]:.2f} m"
        if kind == "named":
            title = f"{named[i]}\n{title}"
        elif kind in named:
            title = f"{kind}\n{title}"
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------- figure helpers
def image_rgb(image) -> np.ndarray:
    """(3, H, W) image in [0, 1] (tensor or array) -> (H, W, 3) float32 numpy, clipped to [0, 1]."""
    return as_numpy(image, np.float32).transpose(1, 2, 0).clip(0, 1)


def clean_axes(ax: Axes, title: str | None = None, fontsize: float = 9) -> None:
    """Hide the ticks of an image panel; title it unless ``title`` is empty."""
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def finish_figure(fig: Figure, title: str | None = None, fontsize: float = 10) -> Figure:
    """Add the figure title (unless empty) and tighten the layout; returns ``fig``."""
    if title:
        fig.suptitle(title, fontsize=fontsize)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------- saving
def save_figure(fig: Figure, name: str, dpi: int = 150, folder: str | Path | None = None) -> Path:
    """Save ``fig`` as ``<folder>/<name>.png`` (default folder: :func:`decomr.paths.figures_dir`).

    Returns:
        The path written.
    """
    folder = Path(folder) if folder is not None else paths.figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
    return path
